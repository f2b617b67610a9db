"""The Kubernetes manifests of deploy/kubernetes, rendered with `kubectl kustomize` and read back.

Every overlay under deploy/kubernetes/overlays is rendered as a site would render it; the tests
look at the objects that come out, never at the files that go in, so a patch that does not apply or
a generator that renames a Secret shows.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.support.missing import missing

__all__ = [
    "DEPLOY_DIR",
    "OVERLAYS",
    "Rendered",
    "crd_validator",
    "render",
    "require_kubectl",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kubernetes"
SCHEMA_DIR = Path(__file__).with_name("schemas")
#: Every overlay a site may start from, found on disk: a new one is rendered and checked too.
OVERLAYS = tuple(sorted(path.parent.name for path in (DEPLOY_DIR / "overlays").glob("*/kustomization.yaml")))


def require_kubectl() -> str:
    """The path of kubectl (which carries kustomize), or skip (fail under CI=true)."""
    path = shutil.which("kubectl")
    if path is None:
        missing("kubectl (with kustomize) is not installed")
    return path


@cache
def _render_text(directory: Path) -> str:
    result = subprocess.run(
        [require_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return result.stdout


@dataclass(frozen=True)
class Rendered:
    """The objects one kustomization renders to."""

    name: str
    objects: tuple[dict[str, Any], ...]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: {len(found)} {kind} named {name}"
        return found[0]

    def named_like(self, kind: str, base_name: str) -> dict[str, Any]:
        """The one object of `kind` a generator made from `base_name` (its name has a hash suffix)."""
        found = [
            obj
            for obj in self.of_kind(kind)
            if obj["metadata"]["name"] == base_name or obj["metadata"]["name"].startswith(f"{base_name}-")
        ]
        assert len(found) == 1, f"{self.name}: {[o['metadata']['name'] for o in found]} for {kind} {base_name}"
        return found[0]

    def pod_templates(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(workload, its pod spec) for every Deployment and Job."""
        for obj in self.objects:
            if obj["kind"] in ("Deployment", "Job"):
                yield obj, obj["spec"]["template"]["spec"]


def render(directory: Path) -> Rendered:
    """`kubectl kustomize directory`, parsed (cached per directory; callers get their own copy)."""
    text = _render_text(directory.resolve())
    objects = tuple(obj for obj in yaml.safe_load_all(text) if obj)
    return Rendered(directory.name, copy.deepcopy(objects))


def _closed(schema: Any) -> Any:
    """`schema` with every object that lists its properties closed to others, as the API server's
    strict field validation (kubectl's default) refuses a field the CRD does not know."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if (
        "properties" in closed
        and "additionalProperties" not in closed
        and not closed.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


@cache
def _crd_schemas() -> Mapping[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the vendored openAPIV3Schema (tests/deploy/schemas/README.md)."""
    schemas = {}
    for path in sorted(SCHEMA_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        schemas[(document["apiVersion"], document["kind"])] = document["openAPIV3Schema"]
    return schemas


def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    """A validator of the custom resource's vendored schema, strict about unknown fields; None for
    a kind no schema here describes."""
    schema = _crd_schemas().get((api_version, kind))
    if schema is None:
        return None
    return jsonschema.Draft7Validator(_closed(schema))
