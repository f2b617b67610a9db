"""One typed settings object, read from a TOML file and `APPLIANCE_*` environment variables.

Where a value comes from, later wins:
1. the defaults below;
2. the TOML file: `$APPLIANCE_CONFIG`, else `<data_dir>/appliance.toml` if it exists;
3. environment variables: `APPLIANCE_<FIELD>` for top-level fields and
   `APPLIANCE_<SECTION>__<FIELD>` for a section's, e.g. `APPLIANCE_LIMITS__MAX_FILE_BYTES=5000000`.

`data_dir` itself comes from `$APPLIANCE_DATA_DIR` (default `./var`). Paths left empty are derived
from it: the SQLite database, the queue files, the media storage and the model store.
"""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

__all__ = [
    "AnalysisSettings",
    "ApiSettings",
    "AuthSettings",
    "ConsoleSettings",
    "Limits",
    "MetricsSettings",
    "ModelSettings",
    "QueueSettings",
    "SchedulerSettings",
    "Settings",
    "Thresholds",
    "WebhookSettings",
    "load_settings",
]

ENV_PREFIX = "APPLIANCE_"
CONFIG_FILE_NAME = "appliance.toml"


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    #: Base of the URLs the API hands out (media links); empty: taken from each request.
    public_base_url: str = ""
    #: How long a signed media URL stays valid.
    media_url_ttl_seconds: int = 3600
    #: How long a single request (folder + analyses in one POST) waits for the result.
    single_request_timeout_seconds: float = 60.0


class AuthSettings(_Section):
    token_ttl_seconds: int = 15 * 60
    service_token_ttl_seconds: int = 5 * 365 * 24 * 3600
    refresh_ttl_seconds: int = 24 * 3600
    lockout_attempts: int = 5
    lockout_seconds: int = 15 * 60


class Limits(_Section):
    max_files_per_request: int = 10
    max_file_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_video_seconds: float = 60.0
    max_archive_entries: int = 300
    max_archive_bytes: int = 200 * 1024 * 1024
    max_payload_bytes: int = 256 * 1024


class Thresholds(_Section):
    """Decision thresholds of the built-in analyses (Oz defaults)."""

    liveness: float = 0.5
    biometry: float = 0.85
    collection: float = 0.85


class QueueSettings(_Section):
    backend: Literal["sqlite", "redis"] = "sqlite"
    #: Directory of the SQLite queue files; empty: `<data_dir>/queue`.
    sqlite_dir: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Prefix of the queue names, so that several appliances can share one Redis.
    name_prefix: str = "appliance"


class AnalysisSettings(_Section):
    #: An analysis a worker started and did not finish within this time is retried or FAILED.
    processing_timeout_seconds: float = 15 * 60
    #: An analysis no worker picked up within this time is FAILED.
    delivery_timeout_seconds: float = 60 * 60
    #: Runs of one analysis before it is FAILED (a crash, a kill or a plugin exception each count).
    max_attempts: int = 3
    #: Delay before the second run; doubled for each further run.
    retry_delay_seconds: float = 30.0


class WebhookSettings(_Section):
    timeout_seconds: float = 10.0
    max_attempts: int = 7
    retry_delay_seconds: float = 30.0
    #: Signs webhooks of folders that belong to no company (those an ADMIN created).
    system_secret: str = ""


class ModelSettings(_Section):
    #: Threads each model runtime may use per inference (LiteRT, ONNX Runtime). Analysis workers
    #: are processes, so the total is this times `appliance worker --queue analysis --workers N`.
    threads: int = 1


class MetricsSettings(_Section):
    """Prometheus metrics (docs/metrics.md)."""

    #: Serve `/metrics` on the API and have every process of this host write its metrics.
    enabled: bool = True
    #: Directory of this host's metric files (one per process); empty: `<data_dir>/run/metrics/<host name>`.
    #: Only processes of one host (one PID namespace) may share it.
    dir: str = ""
    #: Bearer token a scraper sends instead of an ADMIN or OPERATOR access token; empty: none
    #: accepted. `appliance init` writes a random one into the config file.
    token: str = ""


class ConsoleSettings(_Section):
    """The operator web console under `/console` (docs/console.md)."""

    enabled: bool = True
    #: `auto`: cookies are Secure when the request came over TLS; `always`: Secure on every
    #: response (TLS ends at a proxy in front of the appliance).
    secure_cookies: Literal["auto", "always"] = "auto"


class SchedulerSettings(_Section):
    expiry_check_seconds: float = 60.0
    webhook_check_seconds: float = 30.0
    retention_check_seconds: float = 3600.0
    #: How often the scheduler records the depth of every queue (the console's statistics).
    queue_depth_sample_seconds: float = 60.0
    #: The retention job deletes queue depth samples older than this; 0 keeps them forever.
    queue_depth_retention_days: int = 90


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    data_dir: str = "var"
    #: `sqlite:///path/to/file.db` or `postgresql://user@host:port/dbname`; empty: SQLite in data_dir.
    database_url: str = ""
    #: Root of the stored media files; empty: `<data_dir>/media`.
    storage_root: str = ""
    #: Root of the model store; empty: `<data_dir>/models`.
    models_root: str = ""
    #: The model updater's state directory (root of trust, site key, history); empty: `<data_dir>/updater`.
    #: `APPLIANCE_UPDATER_STATE_DIR` sets it here and for `appliance-update` alike.
    updater_state_dir: str = ""
    #: Secret for signed media URLs; `appliance init` writes a random one into the config file.
    secret_key: str = ""
    #: Folders and their media older than this are deleted; 0 keeps them forever.
    retention_days: int = 30
    #: Extra plugin modules to load besides the `appliance.plugins` entry points.
    plugin_modules: list[str] = []
    log_level: str = "INFO"
    #: The name this host reports (`/api/version`, the hosts table); empty: the machine's hostname.
    #: Give every host of an installation its own name, and every process of one host the same.
    host_name: str = ""
    api: ApiSettings = msgspec.field(default_factory=ApiSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    limits: Limits = msgspec.field(default_factory=Limits)
    thresholds: Thresholds = msgspec.field(default_factory=Thresholds)
    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    analysis: AnalysisSettings = msgspec.field(default_factory=AnalysisSettings)
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    scheduler: SchedulerSettings = msgspec.field(default_factory=SchedulerSettings)
    models: ModelSettings = msgspec.field(default_factory=ModelSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    console: ConsoleSettings = msgspec.field(default_factory=ConsoleSettings)

    # Derived paths ------------------------------------------------------------------------------

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def hostname(self) -> str:
        return self.host_name or socket.gethostname()

    @property
    def config_path(self) -> Path:
        return Path(os.environ.get(f"{ENV_PREFIX}CONFIG") or self.data_path / CONFIG_FILE_NAME)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'appliance.db'}"

    @property
    def storage_path(self) -> Path:
        return Path(self.storage_root).expanduser().resolve() if self.storage_root else self.data_path / "media"

    @property
    def models_path(self) -> Path:
        return Path(self.models_root).expanduser().resolve() if self.models_root else self.data_path / "models"

    @property
    def updater_state_path(self) -> Path:
        if self.updater_state_dir:
            return Path(self.updater_state_dir).expanduser().resolve()
        return self.data_path / "updater"

    @property
    def queue_sqlite_path(self) -> Path:
        return Path(self.queue.sqlite_dir).expanduser().resolve() if self.queue.sqlite_dir else self.data_path / "queue"

    @property
    def metrics_path(self) -> Path:
        if self.metrics.dir:
            return Path(self.metrics.dir).expanduser().resolve()
        return self.data_path / "run" / "metrics" / self.hostname


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """`APPLIANCE_A__B=v` as `{"a": {"b": "v"}}`; variables that name no setting are left to msgspec."""
    tree: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key in (f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}ADMIN_PASSWORD"):
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        if path[0] not in Settings.__struct_fields__:
            continue  # other APPLIANCE_* variables (test switches, the admin password) are not settings
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _parse_env_value(value)
    return tree


def _parse_env_value(value: str) -> Any:
    """Lists are written as JSON (`["a","b"]`); everything else is converted by type later."""
    if value.startswith("["):
        return msgspec.json.decode(value)
    return value


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from the defaults, the config file and the environment. Raises ValueError when invalid."""
    environ = dict(os.environ if environ is None else environ)
    data_dir = environ.get(f"{ENV_PREFIX}DATA_DIR", "var")
    config_file = Path(environ.get(f"{ENV_PREFIX}CONFIG") or Path(data_dir).expanduser() / CONFIG_FILE_NAME)
    values: dict[str, Any] = {"data_dir": data_dir}
    if config_file.is_file():
        with config_file.open("rb") as fh:
            try:
                values = _merge(values, tomllib.load(fh))
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"config file {config_file}: {exc}") from exc
    values = _merge(values, _env_overrides(environ))
    try:
        return msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid setting: {exc}") from exc
