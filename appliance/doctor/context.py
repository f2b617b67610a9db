"""What the checks share: the settings, one clock reading, and what earlier checks opened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from appliance_modelstore.store import ModelStore

from appliance.core.plugins import PluginHost
from appliance.ops.settings import Settings
from appliance.store.protocol import Store

__all__ = ["DoctorContext"]


@dataclass
class DoctorContext:
    settings: Settings
    #: One reading of this host's clock (UTC) for every check.
    now: datetime
    #: The database, once the database check found it answering at the latest schema.
    store: Store | None = None
    #: PostgreSQL's clock minus this host's, in seconds (measured by the database check).
    database_clock_offset: float | None = None
    #: The loaded plugins, once the plugins check loaded them.
    plugins: PluginHost | None = None
    models: ModelStore = field(init=False)

    def __post_init__(self) -> None:
        self.models = ModelStore(self.settings.models_path)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
