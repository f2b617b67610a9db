"""A real worker context for task tests: SQLite store, media storage and the BRIGHTNESS plugin.

`make_ctx(...)` builds one from settings sections given as keyword arguments and installs it as
the context of this process, so task functions can be called directly, as a worker calls them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from appliance.core.plugins import load_plugins
from appliance.core.services import AppServices
from appliance.domain.entities import Analysis, Company, Folder, Media
from appliance.ops.settings import ApiSettings, QueueSettings, Settings, WebhookSettings
from appliance.queue.context import install_services
from appliance.store import open_store
from tests.support.media_samples import astronaut_rgb, build_shots_zip, jpeg_bytes, write_video
from tests.support.postgres import throwaway_database
from tests.support.redis_server import delete_queue_keys, redis_url, require_redis
from tests.support.webhooks import WebhookReceiver, allowed_targets

PLUGIN_MODULE = "tests.plugins.brightness_plugin"
SECRET_KEY = "test-secret-key"


def settings_for(data_dir: Path, **sections: Any) -> Settings:
    """Settings for a test installation in `data_dir`, with the test plugin and a secret set."""
    sections.setdefault("api", ApiSettings(public_base_url="http://appliance.test", media_url_ttl_seconds=600))
    sections.setdefault("webhooks", WebhookSettings(allowed_targets=allowed_targets()))  # the receiver on loopback
    return Settings(data_dir=str(data_dir), secret_key=SECRET_KEY, plugin_modules=[PLUGIN_MODULE], **sections)


def build_context(settings: Settings) -> AppServices:
    """A worker's services, but with only the test plugin (no entry points) and a migrated store."""
    services = AppServices(settings, plugins=load_plugins(settings.plugin_modules, entry_points=False))
    services.store.migrate()
    return services


MakeCtx = Callable[..., AppServices]


@pytest.fixture
def make_ctx(tmp_path: Path) -> Iterator[MakeCtx]:
    built: list[AppServices] = []

    def make(**sections: Any) -> AppServices:
        ctx = build_context(settings_for(tmp_path / f"data{len(built)}", **sections))
        built.append(ctx)
        install_services(ctx)
        return ctx

    yield make
    install_services(None)
    for ctx in built:
        ctx.close()


@pytest.fixture
def ctx(make_ctx: MakeCtx) -> AppServices:
    return make_ctx()


# Sample files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Samples:
    jpeg: Path
    dark_jpeg: Path
    mp4: Path
    shots_zip: Path


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    directory = tmp_path_factory.mktemp("queue-samples")
    rgb = astronaut_rgb()
    jpeg = directory / "astronaut.jpg"
    jpeg.write_bytes(jpeg_bytes(rgb))
    dark = directory / "dark.jpg"
    dark.write_bytes(jpeg_bytes(rgb // 16))
    return Samples(
        jpeg=jpeg,
        dark_jpeg=dark,
        mp4=write_video(directory / "astronaut.mp4", "mp4v", frames=10),
        shots_zip=build_shots_zip(directory / "shots.zip", count=4),
    )


# Rows --------------------------------------------------------------------------------------------


def new_id() -> str:
    return str(uuid.uuid4())


def add_company(ctx: AppServices, webhook_url: str | None = None, secret: str = "company-secret") -> Company:
    return ctx.store.create_company(
        Company(company_id=new_id(), name=f"company {new_id()}", webhook_secret=secret, webhook_url=webhook_url)
    )


def add_folder(
    ctx: AppServices,
    company: Company | None = None,
    resolution_endpoint: str | None = None,
    time_created: datetime | None = None,
) -> Folder:
    return ctx.store.create_folder(
        Folder(
            folder_id=new_id(),
            company_id=company.company_id if company else None,
            user_id=new_id(),
            resolution_endpoint=resolution_endpoint,
            meta_data={"client_ref": "kept out of logs"},
            time_created=time_created,
        )
    )


def add_media(ctx: AppServices, folder: Folder, path: Path, tags: list[str] | None = None) -> Media:
    """Store `path` as an upload would (validated, content-addressed) and record its row."""
    with path.open("rb") as fh:
        stored = ctx.storage.ingest(fh, path.name)
    return ctx.store.add_media(
        stored.to_media(
            media_id=new_id(), folder_id=folder.folder_id, original_name=path.name, tags=tags or ["photo_selfie"]
        )
    )


def add_analysis(
    ctx: AppServices,
    folder: Folder,
    media: list[Media],
    type: str = "BRIGHTNESS",
    params: dict[str, Any] | None = None,
    time_queued: datetime | None = None,
) -> Analysis:
    return ctx.store.create_analysis(
        Analysis(
            analysis_id=new_id(),
            folder_id=folder.folder_id,
            type=type,
            params=params or {},
            source_media=[m.media_id for m in media],
            time_queued=time_queued or datetime.now(UTC),
        )
    )


# Redis -------------------------------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A queue name prefix of its own on the test Redis; its keys are deleted afterwards."""
    require_redis()
    prefix = f"test{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_queue_keys(redis_url(), prefix)


#: The two deployments a scheduler test runs on: SQLite with the local queue files, or PostgreSQL with Redis.
INSTALLATIONS = ["sqlite", pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis])]


@contextmanager
def migrated_installation(request: pytest.FixtureRequest, base: Settings) -> Iterator[Settings]:
    """`base` on the deployment `request.param` names (one of INSTALLATIONS), its database migrated;
    PostgreSQL's is a database of its own and Redis's queue names a prefix of their own."""
    if request.param == "postgres+redis":
        prefix = request.getfixturevalue("redis_prefix")
        with throwaway_database() as url:
            queue = QueueSettings(backend="redis", redis_url=redis_url(), name_prefix=prefix)
            yield _migrated(msgspec.structs.replace(base, database_url=url, queue=queue))
        return
    yield _migrated(base)


def _migrated(settings: Settings) -> Settings:
    store = open_store(settings.resolved_database_url)
    store.migrate()
    store.close()
    return settings


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server
