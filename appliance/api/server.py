"""The API's server process (`appliance serve`): uvicorn, telling systemd how it is doing.

`READY=1` goes out once uvicorn listens, which is after the app's startup (the database opened
and migrated, the models loaded: `app.py`), so `systemctl start` returns when the API answers.
The watchdog pings from uvicorn's tick, which runs on the event loop every 0.1 s: a handler that
blocks the loop stops the pings, and systemd restarts the service. `STOPPING=1` goes out when
uvicorn begins to shut down (SIGTERM, SIGINT). Without systemd all of this is a no-op.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from appliance.api.app import create_app
from appliance.ops.settings import Settings
from appliance.ops.systemd import Watchdog, notify_ready, notify_stopping

__all__ = ["NotifyingServer", "serve_api"]


class NotifyingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, watchdog: Watchdog) -> None:
        super().__init__(config)
        self.watchdog = watchdog

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            notify_ready(f"listening on http://{self.config.host}:{self.config.port}")

    async def on_tick(self, counter: int) -> bool:
        self.watchdog.tick()
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        notify_stopping("stopping: finishing open requests")
        await super().shutdown(sockets)


def serve_api(settings: Settings, host: str, port: int) -> None:
    """Serve the API on host:port until SIGTERM or SIGINT; exit status 3 when it could not start
    (as `uvicorn.run`: the app's startup failed or the port is taken, logged by uvicorn)."""
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_config=None, access_log=False)
    server = NotifyingServer(config, Watchdog.from_environment())
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
