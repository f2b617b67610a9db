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
from typing import Annotated, Any, Literal

import msgspec

from appliance.domain.targets import DEFAULT_REFUSED_TARGETS, parse_network, parse_target

__all__ = [
    "AnalysisSettings",
    "ApiSettings",
    "AuthSettings",
    "ConsoleSettings",
    "DatabaseSettings",
    "HostSettings",
    "Limits",
    "MetricsSettings",
    "ModelSettings",
    "QueueSettings",
    "RateLimitSettings",
    "SchedulerSettings",
    "Settings",
    "StorageSettings",
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
    #: Login throttling (appliance/auth/throttle.py): wrong passwords for one account from one
    #: address, and from one address for any accounts, that cost nothing...
    login_free_failures: int = 5
    login_address_free_failures: int = 20
    #: ... then each further one blocks the account from that address (or the address) for this
    #: long, doubled with each, up to the most.
    login_first_delay_seconds: float = 1.0
    login_max_delay_seconds: float = 15 * 60
    #: A count starts again after this long without a failure.
    login_failure_window_seconds: float = 3600.0


class Limits(_Section):
    max_files_per_request: int = 10
    max_file_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_video_seconds: float = 60.0
    max_archive_entries: int = 300
    max_archive_bytes: int = 200 * 1024 * 1024
    max_payload_bytes: int = 256 * 1024
    #: A request body that is not a multipart upload: a JSON body, a console form.
    max_body_bytes: int = 256 * 1024
    #: How deeply objects and arrays may nest in any JSON a request carries (a body, the `payload`
    #: part). Capped well below the depth where decoding or storing them would exhaust the stack.
    max_json_depth: Annotated[int, msgspec.Meta(ge=1, le=256)] = 32

    @property
    def max_upload_bytes(self) -> int:
        """The largest multipart request these limits let through: every file at its largest, the
        payload, and room for the parts' headers."""
        return self.max_files_per_request * self.max_file_bytes + self.max_payload_bytes + 65536


class Thresholds(_Section):
    """Decision thresholds of the built-in analyses (Oz defaults)."""

    liveness: float = 0.5
    biometry: float = 0.85
    collection: float = 0.85


class DatabaseSettings(_Section):
    """How a process rides out a PostgreSQL server that goes away for a while, as in a primary
    switch (docs/postgres-failover.md): what it may safely run again, it runs again with back-off
    for this long; then it gives up with SERVICE_UNAVAILABLE (an API request answers 503 with
    Retry-After). SQLite has no use for these."""

    #: How long a worker, the scheduler or a command keeps trying: at least a primary switch's
    #: length (Patroni: about its `ttl`, 30 s by default), so that work in hand goes on after it.
    retry_seconds: Annotated[float, msgspec.Meta(gt=0)] = 40.0
    #: How long an API request keeps trying before it answers 503; its Retry-After says the same.
    api_retry_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    #: How long one attempt to connect may take (libpq's `connect_timeout`, unless the URL sets
    #: its own; per host of a multi-host URL), and how long the readiness probe waits for one.
    connect_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0


class QueueSettings(_Section):
    backend: Literal["sqlite", "redis"] = "sqlite"
    #: Directory of the SQLite queue files; empty: `<data_dir>/queue`.
    sqlite_dir: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Prefix of the queue names, so that several appliances can share one Redis.
    name_prefix: str = "appliance"
    #: A worker that takes an analysis holds it on a lease of this long, renewed every third of it
    #: while it works; the expiry job retries an analysis whose lease lapsed (the worker died). A
    #: task taken from the queue but never started is enqueued again within about twice this.
    lease_seconds: float = 30.0
    #: Admission control: while this many tasks wait in the analysis queue, a request that asks
    #: for analyses is refused (503, QUEUE_FULL) with nothing written; 0 takes every request.
    admission_depth: int = 500
    #: The Retry-After of that refusal.
    admission_retry_after_seconds: int = 30


class RateLimitSettings(_Section):
    """Requests per minute per access token and per source address (429, RATE_LIMITED); the
    health endpoints and `/metrics` are never limited."""

    enabled: bool = True
    per_token_per_minute: int = 3000
    per_address_per_minute: int = 6000


class AnalysisSettings(_Section):
    #: An analysis a worker started and did not finish within this time is retried or FAILED, even
    #: while the worker renews its lease (a hung plugin).
    processing_timeout_seconds: float = 15 * 60
    #: An analysis that waited in the queue this long without a worker starting it is FAILED.
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
    #: Where webhooks may go (docs/configuration.md, "Webhook targets"): CIDR blocks (`10.20.0.0/16`,
    #: `127.0.0.1/32`) and host names (`hooks.bank.example`, `*.bank.example`). Empty: anywhere
    #: `refused_targets` allows. An address inside a block listed here is allowed even where
    #: `refused_targets` would refuse it: a site whose receiver runs on this host lists `127.0.0.1/32`.
    #: The ports of the appliance's own services on this host are refused whatever this says.
    allowed_targets: list[str] = []
    #: CIDR blocks webhooks never go to unless `allowed_targets` lists them: loopback, unspecified,
    #: link-local (169.254.169.254 among them) and multicast.
    refused_targets: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_REFUSED_TARGETS))

    def __post_init__(self) -> None:
        for entry in self.allowed_targets:
            parse_target(entry)
        for entry in self.refused_targets:
            parse_network(entry)


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


class CaptureSettings(_Section):
    """Capture sessions and the capture page (docs/capture.md)."""

    #: Serve `/capture/...` and let users open capture sessions.
    enabled: bool = True
    #: A session expires this long after it was opened (unused).
    session_seconds: float = 120.0
    #: How many gestures a session asks for: drawn between these.
    fewest_gestures: int = 2
    most_gestures: int = 3
    #: The prompts' schedule, in seconds from the start of the recording.
    lead_in_seconds: float = 1.5
    prompt_seconds: float = 2.0
    pause_seconds: float = 0.8
    #: What a flag of the capture (a virtual camera, frames too regular) does: `operator` sends the
    #: recording to an operator, `decline` declines it.
    flag_action: Literal["operator", "decline"] = "operator"
    #: Take a browser's fake capture device as a camera (tests only).
    allow_fake_devices: bool = False
    #: Ask for these gestures in this order instead of drawing them (tests only).
    fixed_gestures: list[str] = []


class SchedulerSettings(_Section):
    #: How often `expire_analyses` runs: with `queue.lease_seconds`, how soon a dead worker's
    #: analysis is retried.
    expiry_check_seconds: float = 10.0
    webhook_check_seconds: float = 30.0
    retention_check_seconds: float = 3600.0
    #: How often the scheduler records the depth of every queue (the console's statistics).
    queue_depth_sample_seconds: float = 60.0
    #: The retention job deletes queue depth samples older than this; 0 keeps them forever.
    queue_depth_retention_days: int = 90
    #: How often the plugins' background work runs (a collection re-enrolled after an embedding
    #: model change), and for how long at most each time: it holds one maintenance worker meanwhile.
    plugin_work_seconds: float = 60.0
    plugin_work_budget_seconds: float = 30.0
    #: How often stored files without a database row (left by a process killed mid-upload or
    #: mid-deletion) are looked for, and how old such a file must be before it is removed: younger
    #: ones may belong to an upload whose rows are not written yet.
    orphan_sweep_seconds: float = 3600.0
    orphan_grace_seconds: float = 3600.0
    #: Any number of schedulers may run (docs/scaling.md): one leads (it holds a lock: a PostgreSQL
    #: advisory lock, or a file lock beside a SQLite database) and does the above; the others wait,
    #: trying to take the lock every `election_retry_seconds`, and one takes over when the leader
    #: dies. A leader whose database connection goes silent (its host died, or the network between)
    #: is given up on by the database after about `election_timeout_seconds`, and steps down itself
    #: before that. Takeover: within the retry interval when a leader's process dies, within the
    #: timeout plus the retry interval when its host does.
    election_retry_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    election_timeout_seconds: Annotated[float, msgspec.Meta(ge=3)] = 15.0


class HostSettings(_Section):
    #: Every process (the API, each queue's workers, each scheduler) records its host and part in
    #: the database every `heartbeat_seconds` (`/api/version`, the console, `appliance doctor`);
    #: one not seen for `stale_heartbeats` heartbeats in a row is shown as stale.
    heartbeat_seconds: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    stale_heartbeats: Annotated[int, msgspec.Meta(ge=1)] = 3

    @property
    def stale_after_seconds(self) -> float:
        return self.heartbeat_seconds * self.stale_heartbeats


class StorageSettings(_Section):
    """Where media files live (docs/object-storage.md): the local directory (`storage_root`), or an
    S3-compatible bucket with a bounded local cache for the files workers decode."""

    backend: Literal["local", "s3"] = "local"
    #: The S3 endpoint, e.g. `http://10.0.0.5:8333` (SeaweedFS, MinIO, Garage); empty: AWS's own.
    endpoint_url: str = ""
    bucket: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    #: Better given as `APPLIANCE_STORAGE__SECRET_ACCESS_KEY` than written in the config file.
    secret_access_key: str = ""
    #: Put before every object key (e.g. `branch-12/`), so that several appliances can share a bucket.
    prefix: str = ""
    #: `path` (`<endpoint>/<bucket>/<key>`, what self-hosted servers expect) or `virtual` (`<bucket>.<endpoint>`).
    addressing_style: Literal["path", "virtual"] = "path"
    #: Signed media URLs answer with a redirect to a presigned URL of the object instead of
    #: streaming it through the API: the client must reach the endpoint itself.
    presigned_urls: bool = False
    #: How long such a presigned URL stays valid.
    presigned_url_ttl_seconds: Annotated[int, msgspec.Meta(ge=1, le=7 * 24 * 3600)] = 300
    #: Local copies of stored files that workers decode (and the face tracks computed from them);
    #: empty: `<storage_root>/cache`.
    cache_dir: str = ""
    #: The cache's size cap; the least recently used files go first.
    cache_max_bytes: Annotated[int, msgspec.Meta(ge=0)] = 2 * 1024**3
    #: A request to the endpoint gives up after these (a connection, then each read).
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 30.0
    #: Tries of one request (the first included) before the storage is reported unavailable.
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 2

    def __post_init__(self) -> None:
        if self.backend == "s3" and not self.bucket:
            raise ValueError("storage.bucket is needed when storage.backend is s3")
        if self.prefix and (self.prefix.startswith("/") or not self.prefix.endswith("/")):
            raise ValueError("storage.prefix must not start with / and must end with / (e.g. site-1/)")


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    data_dir: str = "var"
    #: `sqlite:///path/to/file.db` or `postgresql://user@host:port/dbname`; empty: SQLite in data_dir.
    #: PostgreSQL with a standby: `postgresql://user@host1:port1,host2:port2/dbname?target_session_attrs=read-write`.
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
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    limits: Limits = msgspec.field(default_factory=Limits)
    thresholds: Thresholds = msgspec.field(default_factory=Thresholds)
    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    rate_limits: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    analysis: AnalysisSettings = msgspec.field(default_factory=AnalysisSettings)
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    scheduler: SchedulerSettings = msgspec.field(default_factory=SchedulerSettings)
    hosts: HostSettings = msgspec.field(default_factory=HostSettings)
    models: ModelSettings = msgspec.field(default_factory=ModelSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    console: ConsoleSettings = msgspec.field(default_factory=ConsoleSettings)
    capture: CaptureSettings = msgspec.field(default_factory=CaptureSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)

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
    def storage_cache_path(self) -> Path:
        """The local cache of an object storage backend."""
        if self.storage.cache_dir:
            return Path(self.storage.cache_dir).expanduser().resolve()
        return self.storage_path / "cache"

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
