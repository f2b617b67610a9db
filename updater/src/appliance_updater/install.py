"""Installing a verified bundle into the model store, as one transaction over all its models.

Files on the appliance (`<state_dir>`):

    root.json        the root of trust (trust.py)
    state.json       compatibility, highest bundle and model versions installed, the last install
    install.json     the journal of a switch in progress (an install, a rollback, an activation);
                     present only while switching
    history.jsonl    one JSON line per attempt and outcome
    lock             held (flock) by the one running appliance-update

The commit point of an install (or rollback) is the atomic replace of state.json carrying the
transaction's id. A journal left by a crash is finished by `recover`: rolled forward when
state.json carries its id, otherwise rolled back to the old versions, so the store never shows a
mix of the old and new model sets.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import msgspec
from appliance_modelstore.cards import Task
from appliance_modelstore.errors import ModelError, ModelIntegrityError
from appliance_modelstore.files import fsync_dir, sha256_file, write_atomic
from appliance_modelstore.layout import (
    ACTIVE_TEMP_PREFIX,
    BUNDLE_MARKER,
    CARD_FILE,
    MANIFESTS_DIR,
    STAGING_PREFIX,
    version_key,
)
from appliance_modelstore.marker import ActiveBundle, encode_marker
from appliance_modelstore.store import ModelStore
from appliance_modelstore.switch import switch_active

from appliance_updater.bundle import BundleReader
from appliance_updater.canary import CanaryCommand, remove_leftovers
from appliance_updater.errors import (
    Busy,
    CanaryRefused,
    HealthCheckFailed,
    InstallFailed,
    PolicyRefused,
    UsageError,
    VerificationRefused,
)
from appliance_updater.json_forms import pretty_json
from appliance_updater.manifest import Manifest, ModelEntry
from appliance_updater.state import (
    Compatibility,
    InstalledBundle,
    Journal,
    LastInstall,
    SwitchKind,
    UpdaterState,
    decode,
    encode,
)
from appliance_updater.trust import Root

__all__ = ["DEFAULT_ABI", "DEFAULT_PRODUCT", "Updater"]

DEFAULT_PRODUCT = "liveness-appliance"
DEFAULT_ABI = "models-1"
#: The updater's staging directories in a model's directory (a model store's staging prefix, marked as its own).
UPDATER_STAGING_PREFIX = f"{STAGING_PREFIX}upd-"


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp() -> str:
    return _now().replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Outcome:
    bundle_id: str
    bundle_version: int
    old: dict[str, str | None]
    new: dict[str, str]
    signers: list[str]
    already_installed: bool = False


class Updater:
    """One appliance's updater: its state directory and its model store."""

    def __init__(
        self,
        state_dir: Path,
        models_root: Path,
        *,
        hook: Callable[[str], None] | None = None,
        canary: CanaryCommand | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.models_root = Path(models_root)
        self._hook = hook or (lambda point: None)  # tests: called at named points of a transaction
        self._lock_fd: int | None = None
        #: run before the switch (on the staged models) and after it (on the live store); None: no canaries
        self.canary = canary

    # Paths and state ----------------------------------------------------------------------------

    @property
    def root_path(self) -> Path:
        return self.state_dir / "root.json"

    @property
    def state_path(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "install.json"

    @property
    def history_path(self) -> Path:
        return self.state_dir / "history.jsonl"

    def load_state(self) -> UpdaterState:
        try:
            return decode(self.state_path.read_bytes(), UpdaterState)
        except FileNotFoundError:
            raise UsageError(f"{self.state_dir} has no updater state; run `appliance-update init` first") from None
        except ValueError as exc:
            raise InstallFailed(f"{self.state_path} is unreadable: {exc}") from None

    def save_state(self, state: UpdaterState) -> None:
        write_atomic(self.state_path, encode(state))

    def _state_or_new(self) -> UpdaterState:
        """The state, or the state of an appliance that has installed nothing yet."""
        if self.state_path.exists():
            return self.load_state()
        return UpdaterState(compatible=Compatibility(product=DEFAULT_PRODUCT, runtime_abi=[DEFAULT_ABI]))

    def _load_journal(self) -> Journal | None:
        """The journal of a switch a crash interrupted, or None. `write_atomic` never leaves a partial
        journal: an unreadable one was never acted on, and is removed."""
        try:
            return decode(self.journal_path.read_bytes(), Journal)
        except FileNotFoundError:
            return None
        except ValueError:
            self._finish_journal()
            return None

    def root(self) -> Root:
        return Root.load(self.root_path)

    @property
    def marker_path(self) -> Path:
        return self.models_root / BUNDLE_MARKER

    def read_marker(self) -> ActiveBundle | None:
        """The bundle `<models_root>/.bundle.json` names as active, or None (none, or unreadable)."""
        return self.store.active_bundle()

    def _keep_manifest(self, manifest: Manifest) -> None:
        """Keep the manifest's exact bytes under its sha256 (the marker's `manifest_sha256`), before the switch."""
        directory = self.models_root / MANIFESTS_DIR
        directory.mkdir(mode=0o755, exist_ok=True)
        write_atomic(directory / f"{manifest.sha256}.json", manifest.raw)

    def _write_marker(self, state: UpdaterState) -> None:
        """Write `.bundle.json` from the committed state (so `recover` can always write it again)."""
        last, bundle = state.last, state.bundle
        if last is None:
            return
        if last.rolled_back:
            marker = last.previous_bundle or ActiveBundle(bundle_id=None)
        elif bundle is not None and last.bundle_id == bundle.id:
            marker = ActiveBundle(
                bundle_id=bundle.id,
                bundle_version=bundle.version,
                manifest_sha256=bundle.manifest_sha256,
                models=dict(last.new),
                installed_at=last.at,
            )
        else:
            return
        self.models_root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.marker_path, encode_marker(marker))

    def record(self, event: str, **fields: Any) -> None:
        line = json.dumps({"at": _stamp(), "event": event, **fields}, sort_keys=True) + "\n"
        with open(self.history_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def history(self) -> list[dict[str, Any]]:
        try:
            lines = self.history_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a power loss
        return out

    # Locking ------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Busy("another appliance-update is running on this appliance") from None
        self._lock_fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("use the Updater as a context manager (it takes the lock)")

    # Trust --------------------------------------------------------------------------------------

    def init(self, root_file: Path, product: str = DEFAULT_PRODUCT, runtime_abi: list[str] | None = None) -> Root:
        """Install the first root of trust (provisioning); refuses when one is already there."""
        self._require_lock()
        if self.root_path.exists():
            raise UsageError(f"{self.root_path} exists; change it with `appliance-update rotate-root`")
        root = Root.from_bytes(Path(root_file).read_bytes(), str(root_file))
        root.verify_self()
        self.models_root.mkdir(parents=True, exist_ok=True)
        # a store whose models were switched before it trusted a root has a state already: kept, made compatible
        compatible = Compatibility(product=product, runtime_abi=runtime_abi or [DEFAULT_ABI])
        self.save_state(msgspec.structs.replace(self._state_or_new(), compatible=compatible))
        write_atomic(self.root_path, pretty_json(root.to_json()))
        self.record("init", root_version=root.version, threshold=root.threshold, keys=sorted(root.keys))
        return root

    def rotate_root(self, new_root_file: Path) -> Root:
        self._require_lock()
        old = self.root()
        new = Root.from_bytes(Path(new_root_file).read_bytes(), str(new_root_file))
        try:
            old.verify_successor(new)
        except VerificationRefused as exc:
            self.record("rotate-root refused", reason=str(exc))
            raise
        write_atomic(self.root_path, pretty_json(new.to_json()))
        revoked = sorted(set(old.keys) - set(new.keys))
        self.record("rotate-root", root_version=new.version, threshold=new.threshold, revoked=revoked)
        return new

    # Reading the store --------------------------------------------------------------------------

    @property
    def store(self) -> ModelStore:
        return ModelStore(self.models_root)

    def active_version(self, name: str) -> str | None:
        try:
            return self.store.active_version(name)
        except ModelError as exc:
            raise InstallFailed(str(exc)) from None

    def _card(self, name: str, version: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.models_root / name / version / CARD_FILE).read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise InstallFailed(f"model {name} {version}: unreadable card.json: {exc}") from None

    def active_models(self) -> dict[str, str | None]:
        if not self.models_root.is_dir():
            return {}
        return {n: self.active_version(n) for n in self.store.names()}

    # Policy -------------------------------------------------------------------------------------

    def check_policy(self, manifest: Manifest, state: UpdaterState, now: datetime | None = None) -> bool:
        """Raise PolicyRefused for a bundle this appliance must not install; True if already installed."""
        now = now or _now()
        compat = state.compatible
        if manifest.product != compat.product:
            raise PolicyRefused(f"bundle is for product {manifest.product!r}, this appliance is {compat.product!r}")
        if manifest.runtime_abi not in compat.runtime_abi:
            raise PolicyRefused(
                f"bundle needs runtime ABI {manifest.runtime_abi!r}; this appliance runs {', '.join(compat.runtime_abi)}"
            )
        if manifest.expires_at is not None and manifest.expires_at <= now:
            raise PolicyRefused(f"bundle {manifest.bundle_id} expired at {manifest.expires_at.isoformat()}")
        seen = state.bundle
        if seen is not None:
            if manifest.bundle_version < seen.version:
                raise PolicyRefused(
                    f"bundle {manifest.bundle_id} version {manifest.bundle_version} is older than the installed "
                    f"bundle version {seen.version} ({seen.id}): replay refused"
                )
            if manifest.bundle_version == seen.version:
                if manifest.sha256 == seen.manifest_sha256:
                    return True
                raise PolicyRefused(
                    f"bundle version {manifest.bundle_version} was already installed with another manifest; "
                    "a new bundle needs a higher version"
                )
        for model in manifest.models:
            highest = state.models.get(model.name)
            authorised = (model.name, model.version) in manifest.downgrades
            if highest is not None and version_key(model.version) < version_key(highest) and not authorised:
                raise PolicyRefused(
                    f"model {model.name} {model.version} is a downgrade: version {highest} was installed"
                )
            if model.task == Task.FACE_EMBEDDING:
                active = self.active_version(model.name)
                card = self._card(model.name, active) if active else None
                old_space = card.get("embedding_space") if card else None
                changed = card is not None and old_space != model.embedding_space
                if changed and manifest.migration_for(model.name, old_space, model.embedding_space) is None:
                    raise PolicyRefused(
                        f"model {model.name} {model.version} computes embedding space {model.embedding_space!r}, "
                        f"the stored embeddings are {old_space!r}, and the bundle declares no migration"
                    )
        for model in manifest.models:
            card = self._card(model.name, model.version)
            if card is not None and card != model.card:
                raise PolicyRefused(
                    f"model {model.name} {model.version} is already installed with another card; "
                    "a changed model needs a new version"
                )
        return False

    # Verify -------------------------------------------------------------------------------------

    def verify(self, bundle: Path, now: datetime | None = None) -> tuple[Manifest, list[str]]:
        """Signatures, policy, and every file's size and sha256, without writing anything."""
        with BundleReader(bundle) as reader:
            manifest, signers = reader.verified_manifest(self.root())
            self.check_policy(manifest, self.load_state(), now)
            expected = manifest.members()
            seen: set[str] = set()
            for member, stream in reader.files():
                _, entry = self._check_member(bundle, member, stream, expected, seen)
                digest = hashlib.sha256()
                size = 0
                for chunk in reader.read_chunks(stream):  # type: ignore[arg-type]
                    digest.update(chunk)
                    size += len(chunk)
                self._check_content(member.name, entry.size, entry.sha256, size, digest.hexdigest())
            self._check_complete(bundle, expected, seen)
        return manifest, sorted(signers)

    @staticmethod
    def _check_member(bundle: Path, member: Any, stream: Any, expected: dict, seen: set[str]) -> tuple[ModelEntry, Any]:
        if stream is None:
            kind = "a symbolic link" if member.issym() else "a hard link" if member.islnk() else "not a regular file"
            raise InstallFailed(f"bundle {Path(bundle).name}: entry {member.name!r} is {kind}; refused")
        if member.name not in expected:
            raise InstallFailed(f"bundle {Path(bundle).name}: entry {member.name!r} is not in the manifest; refused")
        if member.name in seen:
            raise InstallFailed(f"bundle {Path(bundle).name}: entry {member.name!r} appears twice; refused")
        seen.add(member.name)
        model, entry = expected[member.name]
        if member.size != entry.size:
            what = "larger" if member.size > entry.size else "smaller"
            raise InstallFailed(
                f"bundle {Path(bundle).name}: {member.name} has {member.size} bytes, "
                f"{what} than the manifest's {entry.size}"
            )
        return model, entry

    @staticmethod
    def _check_content(name: str, size: int, sha: str, got_size: int, got_sha: str) -> None:
        if got_size != size:
            raise InstallFailed(f"{name}: {got_size} bytes read, the manifest says {size} (truncated bundle)")
        if got_sha != sha:
            raise InstallFailed(f"{name}: sha256 {got_sha}, the manifest says {sha} (tampered or damaged file)")

    @staticmethod
    def _check_complete(bundle: Path, expected: dict, seen: set[str]) -> None:
        missing = sorted(set(expected) - seen)
        if missing:
            raise InstallFailed(
                f"bundle {Path(bundle).name} is truncated: {len(missing)} file(s) missing, first {missing[0]}"
            )

    # Install ------------------------------------------------------------------------------------

    def install(
        self, bundle: Path, now: datetime | None = None, progress: Callable[[int], None] | None = None
    ) -> Outcome:
        self._require_lock()
        self.recover()
        bundle = Path(bundle)
        try:
            return self._install(bundle, now, progress)
        except (VerificationRefused, PolicyRefused, InstallFailed, CanaryRefused) as exc:
            self.record("install refused", bundle=bundle.name, reason=str(exc), exit_code=exc.exit_code)
            raise

    def _install(self, bundle: Path, now: datetime | None, progress: Callable[[int], None] | None) -> Outcome:
        state = self.load_state()
        with BundleReader(bundle) as reader:
            manifest, signers = reader.verified_manifest(self.root())  # before anything else is read
            if self.check_policy(manifest, state, now):
                old = {m.name: self.active_version(m.name) for m in manifest.models}
                new = {m.name: m.version for m in manifest.models}
                if old == new:
                    return Outcome(manifest.bundle_id, manifest.bundle_version, old, new, sorted(signers), True)
                raise PolicyRefused(
                    f"bundle {manifest.bundle_id} version {manifest.bundle_version} was installed and later rolled "
                    "back; install a newer bundle"
                )
            staging: dict[str, Path] = {}
            try:
                self._stage(reader, manifest, staging, progress)
                self._hook("staged")
                if self.canary is not None:
                    self.canary.check_staged(self.models_root, self.state_dir, manifest, staging)
                for model in manifest.models:
                    self._publish(model, staging.pop(model.name))
                    self._hook(f"published {model.name}")
                self._keep_manifest(manifest)
            finally:
                for path in staging.values():
                    shutil.rmtree(path, ignore_errors=True)
                    with contextlib.suppress(OSError):  # a model directory this install made, and left empty
                        path.parent.rmdir()
        old = {m.name: self.active_version(m.name) for m in manifest.models}
        new = {m.name: m.version for m in manifest.models}
        txid = secrets.token_hex(8)
        self._write_journal(
            Journal(kind=SwitchKind.INSTALL, txid=txid, bundle_id=manifest.bundle_id, old=old, new=dict(new))
        )
        for name, version in new.items():
            self._set_active(name, version)
            self._hook(f"switched {name}")
        models = dict(state.models)
        for name, version in new.items():
            if name not in models or version_key(version) > version_key(models[name]):
                models[name] = version
        state = msgspec.structs.replace(
            state,
            bundle=InstalledBundle(
                id=manifest.bundle_id, version=manifest.bundle_version, manifest_sha256=manifest.sha256
            ),
            models=models,
            last=LastInstall(
                bundle_id=manifest.bundle_id,
                bundle_version=manifest.bundle_version,
                old=old,
                new=new,
                at=_stamp(),
                previous_bundle=self.read_marker(),
            ),
            txid=txid,
        )
        self.save_state(state)  # the commit point
        self._hook("committed")
        self._write_marker(state)
        self._finish_journal()
        self.record(
            "installed",
            bundle_id=manifest.bundle_id,
            bundle_version=manifest.bundle_version,
            old=old,
            new=new,
            signers=sorted(signers),
            manifest_sha256=manifest.sha256,
        )
        if self.canary is not None:
            self._health_check(manifest)
        return Outcome(manifest.bundle_id, manifest.bundle_version, old, new, sorted(signers))

    def _health_check(self, manifest: Manifest) -> None:
        """The canary command against the live store after the switch; on failure, roll back and raise."""
        assert self.canary is not None
        passed, what = self.canary.check_live(self.models_root, self.state_dir, manifest)
        if passed:
            self.record("health check passed", bundle_id=manifest.bundle_id, detail=what)
            return
        self.record("health check failed", bundle_id=manifest.bundle_id, reason=what, action="automatic rollback")
        active = self.rollback()
        versions = ", ".join(f"{n} {v or '(none)'}" for n, v in active.items())
        raise HealthCheckFailed(
            f"bundle {manifest.bundle_id} was installed but failed the health check after the switch ({what}); "
            f"rolled back automatically to {versions}"
        )

    def _stage(self, reader: BundleReader, manifest: Manifest, staging: dict[str, Path], progress: Any) -> None:
        expected = manifest.members()
        seen: set[str] = set()
        for member, stream in reader.files():
            model, entry = self._check_member(reader.path, member, stream, expected, seen)
            if model.name not in staging:
                model_dir = self.models_root / model.name
                model_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
                path = model_dir / f"{UPDATER_STAGING_PREFIX}{secrets.token_hex(8)}"
                path.mkdir(mode=0o755)
                os.chmod(path, 0o755)
                staging[model.name] = path
            target = staging[model.name] / entry.name
            digest, size = hashlib.sha256(), 0
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb", buffering=0) as out:
                for chunk in reader.read_chunks(stream):  # type: ignore[arg-type]
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                    if progress:
                        progress(len(chunk))
                self._check_content(member.name, entry.size, entry.sha256, size, digest.hexdigest())
                os.fchmod(out.fileno(), 0o644)
                os.fsync(out.fileno())
        self._check_complete(reader.path, expected, seen)

    def _publish(self, model: ModelEntry, staging: Path) -> None:
        """Write the card, fsync, rename the staging directory to `<version>`; keep an identical existing one."""
        fd = os.open(staging / CARD_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pretty_json(model.card))
            os.fchmod(fh.fileno(), 0o644)
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(staging)
        final = self.models_root / model.name / model.version
        if final.exists():
            if self._card(model.name, model.version) != model.card:
                raise InstallFailed(f"model {model.name} {model.version} appeared meanwhile with another card")
            for f in model.files:
                try:
                    sha, size = sha256_file(final / f.name)
                except FileNotFoundError:
                    sha, size = "", -1
                if (sha, size) != (f.sha256, f.size):
                    raise InstallFailed(
                        f"the installed copy of {model.name} {model.version} is damaged ({f.name}); "
                        f"remove {final} first"
                    )
            shutil.rmtree(staging)
            return
        os.rename(staging, final)
        fsync_dir(final.parent)

    def _set_active(self, name: str, version: str | None) -> None:
        self.active_version(name)  # refuses a link that points outside the model
        if version is not None and not (self.models_root / name / version / CARD_FILE).is_file():
            raise InstallFailed(f"model {name} {version} is not installed; cannot activate it")
        switch_active(self.models_root / name, version)

    def _write_journal(self, journal: Journal) -> None:
        write_atomic(self.journal_path, encode(journal))
        self._hook("journal written")

    def _finish_journal(self) -> None:
        self.journal_path.unlink(missing_ok=True)
        fsync_dir(self.state_dir)

    # Recovery and rollback ----------------------------------------------------------------------

    def recover(self) -> str | None:
        """Finish a switch a crash interrupted; remove leftover staging. Returns what was done."""
        self._require_lock()
        outcome = None
        journal = self._load_journal()
        if journal is not None:
            state = self._state_or_new()  # an activation may be the first switch an appliance makes
            if state.txid == journal.txid:
                target, outcome = journal.new, "rolled forward"
            else:
                target, outcome = journal.old, "rolled back"
            for name, version in target.items():
                self._set_active(name, version)
            self._write_marker(state)
            self._finish_journal()
            self.record(f"recovered: {outcome}", kind=journal.kind, bundle_id=journal.bundle_id, active=target)
        if self.models_root.is_dir():
            for temp in self.models_root.glob(f".{BUNDLE_MARKER}.*.tmp"):  # a marker write cut by a crash
                temp.unlink(missing_ok=True)
            for temp in (self.models_root / MANIFESTS_DIR).glob(".*.tmp"):  # a manifest write cut by a crash
                temp.unlink(missing_ok=True)
            for model_dir in self.models_root.iterdir():
                if model_dir.is_dir() and not model_dir.is_symlink():
                    for leftover in model_dir.glob(f"{UPDATER_STAGING_PREFIX}*"):
                        shutil.rmtree(leftover, ignore_errors=True)
                    for link in model_dir.glob(f"{ACTIVE_TEMP_PREFIX}*"):
                        if link.is_symlink():
                            link.unlink(missing_ok=True)
        remove_leftovers(self.models_root)  # temporary canary stores
        return outcome

    def rollback(self) -> dict[str, str | None]:
        """Switch the models of the last install back to the versions they had before it."""
        self._require_lock()
        self.recover()
        state = self.load_state()
        last = state.last
        if last is None or last.rolled_back:
            raise UsageError("nothing to roll back: no install since the last rollback")
        for name, installed in last.new.items():
            if self.active_version(name) != installed:
                raise InstallFailed(
                    f"model {name} is no longer at {installed} (switched since that install); not rolling back"
                )
        txid = secrets.token_hex(8)
        self._write_journal(
            Journal(kind=SwitchKind.ROLLBACK, txid=txid, bundle_id=last.bundle_id, old=dict(last.new), new=last.old)
        )
        for name, version in last.old.items():
            self._set_active(name, version)
        state = msgspec.structs.replace(state, last=msgspec.structs.replace(last, rolled_back=True), txid=txid)
        self.save_state(state)
        self._write_marker(state)
        self._finish_journal()
        self.record("rolled back", bundle_id=last.bundle_id, active=last.old)
        return last.old

    # Activating one version ---------------------------------------------------------------------

    def activate(self, name: str, version: str) -> str | None:
        """Make `version` of model `name` its active version, as one journalled switch (a technician's
        `appliance models activate`); its card and files are verified first. Returns the version it
        replaced. A store without updater state (no bundle installed yet) gets one."""
        self._require_lock()
        self.recover()
        try:
            self.store.verify(self.store.card(name, version))
        except ModelIntegrityError as exc:
            raise InstallFailed(str(exc)) from None
        except ModelError as exc:
            raise UsageError(str(exc)) from None
        old = self.active_version(name)
        if old == version:
            return old
        state = self._state_or_new()
        txid = secrets.token_hex(8)
        self._write_journal(
            Journal(kind=SwitchKind.ACTIVATE, txid=txid, bundle_id=None, old={name: old}, new={name: version})
        )
        self._set_active(name, version)
        self._hook(f"switched {name}")
        self.save_state(msgspec.structs.replace(state, txid=txid))  # the commit point
        self._finish_journal()
        self.record("activated", model=name, old=old, new=version)
        return old
