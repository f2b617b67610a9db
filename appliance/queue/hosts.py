"""Each host reports what its model store runs to the database: the signed bundle the updater made
active (`<models_root>/.bundle.json`, docs/model-store.md) and the active model versions.

The API reports when it starts (`build_services`), a worker when it builds its context. A report
that fails is logged and never stops the process: it is informational, for `/api/version`.
"""

from __future__ import annotations

import logging
import socket

from appliance.runtime import ModelStore
from appliance.store.protocol import HostReport, Store

__all__ = ["report_this_host"]

log = logging.getLogger(__name__)


def report_this_host(store: Store, models: ModelStore, hostname: str | None = None) -> HostReport | None:
    """Record this host's active bundle and model versions; None (and a warning) if that failed."""
    try:
        bundle = models.active_bundle()
        active = {name: version for name in models.names() if (version := models.active_version(name))}
        return store.report_host(
            hostname or socket.gethostname(),
            bundle_id=bundle["bundle_id"] if bundle else None,
            bundle_version=bundle["bundle_version"] if bundle else None,
            models=active,
        )
    except Exception as exc:  # noqa: BLE001  # never stop a process over a report
        log.warning("could not report this host's model bundle: %s: %s", type(exc).__name__, exc)
        return None
