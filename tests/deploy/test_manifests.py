"""deploy/kubernetes rendered with `kubectl kustomize`, every overlay: each object valid against the
Kubernetes schemas (kubernetes-validate, offline) or its CRD's (KEDA, CloudNativePG, vendored in
tests/deploy/schemas), and what the objects say checked against the appliance itself: its health
routes, its queues and the Redis keys Huey keeps them in, its settings, its image's user.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import redis

from appliance.api.app import create_app
from appliance.core.queues import QUEUE_NAMES, Queues
from appliance.ops.settings import Settings, load_settings
from tests.deploy.manifests import DEPLOY_DIR, OVERLAYS, Rendered, crd_validator, render
from tests.support.redis_server import require_redis

#: The oldest and the newest Kubernetes the manifests are checked against (docs/kubernetes.md).
KUBERNETES_VERSIONS = ("1.29", "1.37")
REPO_ROOT = DEPLOY_DIR.parents[1]
SHARED_MOUNT = "/var/lib/appliance/shared"
#: Names the base gives the image; every overlay must replace it with a registry's.
BASE_IMAGE_NAME = "liveness-appliance"
#: Kinds the Kubernetes schemas do not describe, and where their schema is.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("postgresql.cnpg.io/v1", "Cluster")}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> Rendered:
    return render(DEPLOY_DIR / "overlays" / request.param)


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def _appliance_container(spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in spec["containers"] if c["name"] == "appliance"]
    return container


def _secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return {**data, **secret.get("stringData", {})}


def _environment(rendered: Rendered, spec: dict[str, Any]) -> dict[str, str]:
    """The appliance container's environment as the kubelet would build it, from the rendered
    ConfigMaps and Secrets (fieldRefs get a stand-in pod name; a Secret an operator makes is absent)."""
    container = _appliance_container(spec)
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment.update(rendered.one("ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            environment.update(_secret_data(rendered.one("Secret", source["secretRef"]["name"])))
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]
        if "fieldRef" in reference:
            environment[variable["name"]] = "pod-name"
        elif "secretKeyRef" in reference:
            names = {s["metadata"]["name"] for s in rendered.of_kind("Secret")}
            ref = reference["secretKeyRef"]
            if ref["name"] in names:
                environment[variable["name"]] = _secret_data(rendered.one("Secret", ref["name"]))[ref["key"]]
    return environment


def _settings(rendered: Rendered, spec: dict[str, Any]) -> Settings:
    environment = {k: v for k, v in _environment(rendered, spec).items() if k.startswith("APPLIANCE_")}
    # the CloudNativePG operator makes the database URL's Secret: a stand-in of its form
    environment.setdefault("APPLIANCE_DATABASE_URL", "postgresql://app:password@appliance-db-rw:5432/appliance")
    return load_settings(environment)


# Rendering and schemas ----------------------------------------------------------------------------


def test_every_overlay_is_found_and_renders() -> None:
    assert {"small", "high-load"} <= set(OVERLAYS)
    for name in OVERLAYS:
        rendered = render(DEPLOY_DIR / "overlays" / name)
        assert rendered.objects, name


def test_every_object_is_valid_against_the_kubernetes_or_its_crd_schema(overlay: Rendered) -> None:
    checked = set()
    for obj in overlay.objects:
        key = (obj["apiVersion"], obj["kind"])
        if key in CUSTOM_KINDS:
            validator = crd_validator(*key)
            assert validator is not None, f"no vendored schema for {key}"
            errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
            assert not errors, f"{overlay.name}: {obj['kind']} {obj['metadata']['name']}: {errors}"
        else:
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    path = ".".join(map(str, exc.path))
                    where = f"{overlay.name}: {obj['kind']} {obj['metadata']['name']} (Kubernetes {version})"
                    pytest.fail(f"{where}: {path}: {exc.message}")
        checked.add(obj["kind"])
    assert {"Deployment", "ScaledObject", "HorizontalPodAutoscaler", "NetworkPolicy"} <= checked


def test_the_schema_checks_refuse_what_the_api_server_would() -> None:
    """The validators are not blind: a misspelt field and a wrong type fail both kinds of check."""
    rendered = render(DEPLOY_DIR / "overlays" / "small")
    deployment = rendered.one("Deployment", "appliance-api")
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)
    scaled = rendered.one("ScaledObject", "appliance-worker-analysis")
    validator = crd_validator("keda.sh/v1alpha1", "ScaledObject")
    assert validator is not None and validator.is_valid(scaled)
    scaled["spec"]["maxReplicas"] = 3
    assert not validator.is_valid(scaled)
    scaled = rendered.one("ScaledObject", "appliance-worker-analysis")
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 4
    assert not validator.is_valid(scaled)


# Every workload ------------------------------------------------------------------------------------


def test_every_container_has_requests_and_limits(overlay: Rendered) -> None:
    for workload, spec in overlay.pod_templates():
        for container in _containers(spec):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), (
                    f"{overlay.name}: {workload['metadata']['name']}/{container['name']} has no {bound}"
                )


def test_every_pod_runs_as_the_image_user_and_never_as_root(overlay: Rendered) -> None:
    containerfile = (REPO_ROOT / "podman" / "Containerfile").read_text()
    image_uid = int(re.search(r"useradd --uid (\d+)", containerfile).group(1))
    for workload, spec in overlay.pod_templates():
        name = workload["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == image_uid != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["enableServiceLinks"] is False, name
        for container in _containers(spec):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name


def test_every_pod_has_the_overlays_image_and_the_shared_volume(overlay: Rendered) -> None:
    images = set()
    for workload, spec in overlay.pod_templates():
        images.add(_appliance_container(spec)["image"])
        claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        mounts = {m["mountPath"]: m["name"] for m in _appliance_container(spec)["volumeMounts"]}
        shared = overlay.one("PersistentVolumeClaim", "appliance-shared")
        assert claims == {"appliance-shared"}, workload["metadata"]["name"]
        assert mounts[SHARED_MOUNT] == "shared"
    (image,) = images
    assert image.split(":")[0] != BASE_IMAGE_NAME, f"{overlay.name} keeps the base's image name {image}"
    assert shared["spec"]["accessModes"] == ["ReadWriteMany"]


def test_every_reference_names_a_rendered_object(overlay: Rendered) -> None:
    clusters = [c["metadata"]["name"] for c in overlay.of_kind("Cluster")]
    made_by_operator = {f"{name}-app" for name in clusters}  # CloudNativePG's application Secret
    secrets = {s["metadata"]["name"] for s in overlay.of_kind("Secret")} | made_by_operator
    config_maps = {c["metadata"]["name"] for c in overlay.of_kind("ConfigMap")}
    for workload, spec in overlay.pod_templates():
        container = _appliance_container(spec)
        for source in container["envFrom"]:
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in config_maps
            else:
                assert source["secretRef"]["name"] in secrets
        for variable in container["env"]:
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] in secrets, f"{workload['metadata']['name']}: {ref}"
                if ref["name"] not in made_by_operator:
                    assert ref["key"] in overlay.one("Secret", ref["name"])["data"]
        assert spec["serviceAccountName"] in {a["metadata"]["name"] for a in overlay.of_kind("ServiceAccount")}


def test_the_database_is_the_external_secrets_or_the_clusters(overlay: Rendered) -> None:
    clusters = overlay.of_kind("Cluster")
    for workload, spec in overlay.pod_templates():
        (variable,) = [v for v in _appliance_container(spec)["env"] if v["name"] == "APPLIANCE_DATABASE_URL"]
        ref = variable["valueFrom"]["secretKeyRef"]
        if clusters:
            (cluster,) = clusters
            assert (ref["name"], ref["key"]) == (f"{cluster['metadata']['name']}-app", "uri")
            initdb = cluster["spec"]["bootstrap"]["initdb"]
            assert initdb["database"] and initdb["owner"]
            assert not [s for s in overlay.of_kind("Secret") if s["metadata"]["name"].startswith("appliance-database")]
        else:
            url = _secret_data(overlay.one("Secret", ref["name"]))[ref["key"]]
            assert urlsplit(url).scheme == "postgresql", url


def test_the_settings_are_real_settings_of_a_multi_host_appliance(overlay: Rendered) -> None:
    for workload, spec in overlay.pod_templates():
        environment = _environment(overlay, spec)
        for key in environment:
            if key.startswith("APPLIANCE_") and key != "APPLIANCE_ADMIN_PASSWORD":
                top = key.removeprefix("APPLIANCE_").lower().split("__")[0]
                assert top in Settings.__struct_fields__, f"{key} names no setting (docs/configuration.md)"
        settings = _settings(overlay, spec)
        assert settings.queue.backend == "redis"
        assert settings.resolved_database_url.startswith("postgresql://")
        for path in (settings.storage_path, settings.models_path, settings.updater_state_path):
            assert path.is_relative_to(SHARED_MOUNT), path
        mounts = {m["mountPath"]: m["name"] for m in _appliance_container(spec)["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        # each pod's own data directory (its metric files), never shared between pods
        assert "emptyDir" in volumes[mounts[str(settings.data_path)]]
        assert settings.hostname == "pod-name"  # every pod reports as a host of its own


def test_the_secrets_shipped_are_placeholders() -> None:
    """No real secret is committed: every value an operator must replace says so."""
    shipped = []
    for path in DEPLOY_DIR.rglob("*"):
        if path.suffix == ".env" and "secret" in path.name:
            shipped += [
                line.split("=", 1)[1]
                for line in path.read_text().splitlines()
                if "=" in line and not line.startswith("#")
            ]
    for rendered_name in OVERLAYS:
        rendered = render(DEPLOY_DIR / "overlays" / rendered_name)
        for secret in rendered.of_kind("Secret"):
            shipped += list(_secret_data(secret).values())
    assert shipped
    for value in shipped:
        if value.startswith("redis.example.invalid"):
            continue  # an address, not a secret
        assert "CHANGE-ME" in value, value


# The API ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_routes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Handler name -> path of every route of the appliance's Litestar app."""
    data = tmp_path_factory.mktemp("app")
    app = create_app(load_settings({"APPLIANCE_DATA_DIR": str(data)}))
    routes = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            routes[handler.handler_name] = route.path
    return routes


def test_the_api_probes_ask_the_apps_health_routes(overlay: Rendered, app_routes: dict[str, str]) -> None:
    spec = overlay.one("Deployment", "appliance-api")["spec"]["template"]["spec"]
    container = _appliance_container(spec)
    port = int(_settings(overlay, spec).api.port)
    (declared,) = container["ports"]
    assert declared["containerPort"] == port
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] in (declared["name"], port), probe
        assert get["path"] in app_routes.values(), f"{probe} asks {get['path']}, which the app does not serve"
    # liveness: the process answers (a database outage must not restart it); readiness: its dependencies
    assert container["livenessProbe"]["httpGet"]["path"] == app_routes["live"]
    assert container["startupProbe"]["httpGet"]["path"] == app_routes["live"]
    assert container["readinessProbe"]["httpGet"]["path"] == app_routes["ready"]
    assert container["args"] == ["serve"]


def test_the_api_is_served_scaled_and_kept_available(overlay: Rendered) -> None:
    deployment = overlay.one("Deployment", "appliance-api")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = overlay.one("Service", "appliance-api")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    hpa = overlay.one("HorizontalPodAutoscaler", "appliance-api")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "appliance-api"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    pdb = overlay.one("PodDisruptionBudget", "appliance-api")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


# Workers, their scaling and the scheduler -----------------------------------------------------------


def test_one_worker_deployment_per_queue_of_the_appliance(overlay: Rendered) -> None:
    workers = {}
    for deployment in overlay.of_kind("Deployment"):
        args = _appliance_container(deployment["spec"]["template"]["spec"])["args"]
        if args[0] == "worker":
            queue = args[args.index("--queue") + 1]
            assert queue not in workers, f"two Deployments consume {queue}"
            workers[queue] = deployment
            assert deployment["spec"]["template"]["metadata"]["labels"]["appliance.queue"] == queue
            assert int(args[args.index("--workers") + 1]) >= 1
            # a graceful stop: SIGINT to the appliance before the kubelet's SIGTERM
            pre_stop = _appliance_container(deployment["spec"]["template"]["spec"])["lifecycle"]["preStop"]
            assert "signal.SIGINT" in " ".join(pre_stop["exec"]["command"])
    assert set(workers) == set(QUEUE_NAMES)


def test_every_worker_is_scaled_by_keda_on_its_queues_redis_key(overlay: Rendered) -> None:
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in overlay.of_kind("ScaledObject")}
    for deployment in overlay.of_kind("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        args = _appliance_container(spec)["args"]
        if args[0] != "worker":
            assert deployment["metadata"]["name"] not in scaled
            continue
        queue = args[args.index("--queue") + 1]
        scaled_object = scaled.pop(deployment["metadata"]["name"])
        assert scaled_object["spec"].get("scaleTargetRef", {}).get("kind", "Deployment") == "Deployment"
        assert 1 <= scaled_object["spec"]["minReplicaCount"] <= scaled_object["spec"]["maxReplicaCount"]
        (trigger,) = scaled_object["spec"]["triggers"]
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        settings = _settings(overlay, spec)
        # the key the appliance's Huey storage keeps this queue in, for these very settings
        queue_key = Queues(settings).huey(queue).storage.queue_key
        assert metadata["listName"] == queue_key
        assert int(metadata["listLength"]) >= 1
        # KEDA reads the address and password from the scaled container's environment; they must
        # be the server and password of the appliance's own Redis URL
        environment = _environment(overlay, spec)
        url = urlsplit(settings.queue.redis_url)
        assert environment[metadata["addressFromEnv"]] == f"{url.hostname}:{url.port}"
        assert environment[metadata["passwordFromEnv"]] == url.password
        assert int(metadata["databaseIndex"]) == int(url.path.lstrip("/") or 0)
    assert not scaled, f"ScaledObjects without a worker Deployment: {sorted(scaled)}"


def test_the_scheduler_is_one_pod_recreated(overlay: Rendered) -> None:
    (scheduler,) = [
        d
        for d in overlay.of_kind("Deployment")
        if _appliance_container(d["spec"]["template"]["spec"])["args"] == ["scheduler"]
    ]
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"] == {"type": "Recreate"}
    name = scheduler["metadata"]["name"]
    targets = [h["spec"]["scaleTargetRef"]["name"] for h in overlay.of_kind("HorizontalPodAutoscaler")]
    targets += [s["spec"]["scaleTargetRef"]["name"] for s in overlay.of_kind("ScaledObject")]
    assert name not in targets


def test_keda_counts_the_appliances_queue_as_the_appliance_does() -> None:
    """On a real Redis: tasks enqueued through the appliance's Queues, counted the way KEDA's redis
    scaler counts the key its ScaledObject names (TYPE, then LLEN for a list, ZCARD for a sorted
    set: pkg/scalers/redis_scaler.go), give the appliance's own queue depths."""
    url = require_redis()
    rendered = render(DEPLOY_DIR / "overlays" / "small")
    spec = rendered.one("Deployment", "appliance-worker-analysis")["spec"]["template"]["spec"]
    prefix = f"k8stest{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        {
            "APPLIANCE_QUEUE__BACKEND": "redis",
            "APPLIANCE_QUEUE__REDIS_URL": url,
            "APPLIANCE_QUEUE__NAME_PREFIX": prefix,
            "APPLIANCE_DATA_DIR": "/nonexistent",
        }
    )
    shipped_prefix = _settings(rendered, spec).queue.name_prefix
    client = redis.Redis.from_url(url)
    keda_count = {
        "list": client.llen,
        "zset": client.zcard,
        "set": client.scard,
        "hash": client.hlen,
        "none": client.llen,
    }
    queues = Queues(settings)
    try:
        queues.enqueue_analyses(["a1", "a2"])  # one task runs both
        queues.enqueue_analysis("a3")
        queues.enqueue_preview("m1")
        depths = queues.pending_counts()
        assert depths["analysis"] == 2 and depths["preview"] == 1
        for scaled in rendered.of_kind("ScaledObject"):
            list_name = scaled["spec"]["triggers"][0]["metadata"]["listName"]
            # the same key for this test's prefix as for the shipped one
            key = list_name.replace(f"huey.redis.{shipped_prefix}", f"huey.redis.{prefix}", 1)
            queue = scaled["spec"]["scaleTargetRef"]["name"].removeprefix("appliance-worker-")
            kind = client.type(key).decode()
            assert keda_count[kind](key) == depths[queue], (queue, kind)
        assert client.type(queues.huey("analysis").storage.queue_key).decode() == "zset"
    finally:
        keys = list(client.scan_iter(match=f"huey.*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


# Network policies -----------------------------------------------------------------------------------


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()


def _ports(rules: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(p.get("protocol", "TCP"), p["port"]) for rule in rules for p in rule.get("ports", [])}


def test_network_policies_let_in_only_the_api_port_and_out_only_what_the_appliance_needs(overlay: Rendered) -> None:
    policies = overlay.of_kind("NetworkPolicy")
    for workload, spec in overlay.pod_templates():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        applying = [p for p in policies if _selects(p, labels)]
        ingress_policies = [p for p in applying if "Ingress" in p["spec"]["policyTypes"]]
        egress_policies = [p for p in applying if "Egress" in p["spec"]["policyTypes"]]
        assert ingress_policies and egress_policies, f"{workload['metadata']['name']} is not isolated"
        ingress = [rule for p in ingress_policies for rule in p["spec"].get("ingress", [])]
        container = _appliance_container(spec)
        if container["args"] == ["serve"]:
            assert _ports(ingress) == {("TCP", container["ports"][0]["containerPort"])}
            assert all(set(rule) == {"ports"} for rule in ingress)
        else:
            assert not ingress, f"{workload['metadata']['name']} serves nothing and must let nothing in"
        egress = _ports([rule for p in egress_policies for rule in p["spec"].get("egress", [])])
        settings = _settings(overlay, spec)
        redis_url = urlsplit(settings.queue.redis_url)
        database_port = urlsplit(settings.resolved_database_url).port or 5432
        assert {("UDP", 53), ("TCP", 53), ("TCP", database_port), ("TCP", redis_url.port)} <= egress
        extra = egress - {("UDP", 53), ("TCP", 53), ("TCP", database_port), ("TCP", redis_url.port)}
        if labels.get("appliance.queue") == "default":
            assert extra == {("TCP", 443), ("TCP", 80)}  # webhook deliveries
        else:
            assert not extra, f"{workload['metadata']['name']} may also reach {extra}"


def test_every_kustomization_file_is_used() -> None:
    """Each file beside a kustomization.yaml is a resource, generator input or patch it names."""
    for kustomization in DEPLOY_DIR.rglob("kustomization.yaml"):
        text = kustomization.read_text()
        for path in kustomization.parent.iterdir():
            if path.is_file() and path.name != "kustomization.yaml":
                assert path.name in text, (
                    f"{path.relative_to(DEPLOY_DIR)} is not named in {kustomization.relative_to(DEPLOY_DIR)}"
                )


def test_docs_name_every_overlay_and_component() -> None:
    docs = (REPO_ROOT / "docs" / "kubernetes.md").read_text()
    for folder in (
        *[f"overlays/{o}" for o in OVERLAYS],
        *[f"components/{c.name}" for c in (DEPLOY_DIR / "components").iterdir()],
    ):
        assert folder in docs, f"docs/kubernetes.md does not name {folder}"
