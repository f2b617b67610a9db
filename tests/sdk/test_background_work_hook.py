"""The `background_work` hook: a plugin's work on its own data, run by the maintenance job
`plugin_work` until its deadline with the plugin's own services, and its progress reported; a plugin
whose run raises is logged and the others still run."""

from __future__ import annotations

import time
from pathlib import Path

from appliance.core.background import background_progress, run_background_work
from appliance.core.plugins import PluginSource, start_plugins
from appliance.core.services import AppServices
from appliance.ops.settings import Settings
from appliance.sdk import BackgroundWork, PluginServices, WorkProgress, hookimpl
from tests.plugins import brightness_plugin


class Counting:
    """Work of ten items: one per step, until the deadline."""

    def __init__(self) -> None:
        self.done = 0
        self.plugins: list[str] = []

    def run(self, services: PluginServices, deadline: float) -> dict[str, int]:
        self.plugins.append(services.plugin)
        steps = 0
        while self.done < 10 and time.monotonic() < deadline:
            self.done += 1
            steps += 1
            time.sleep(0.01)
        return {"steps": steps}

    def progress(self, services: PluginServices) -> list[WorkProgress]:
        return [WorkProgress("items", self.done, 10)]


class CountingPlugin:
    def __init__(self) -> None:
        self.work = Counting()

    @hookimpl
    def background_work(self) -> BackgroundWork:
        return self.work


class RaisingWork(Counting):
    def run(self, services: PluginServices, deadline: float) -> dict[str, int]:
        raise RuntimeError("index file unreadable")


class RaisingPlugin:
    @hookimpl
    def background_work(self) -> BackgroundWork:
        return RaisingWork()


def test_hook_background_work(tmp_path: Path) -> None:
    counting = CountingPlugin()
    host = start_plugins(
        [
            PluginSource(brightness_plugin, "brightness", "0"),  # does no background work
            PluginSource(RaisingPlugin(), "raising", "1.0"),
            PluginSource(counting, "counting", "1.0"),
        ]
    )
    services = AppServices(Settings(data_dir=str(tmp_path), secret_key="s"), plugins=host)
    try:
        assert [name for name, _ in host.background_work()] == ["raising", "counting"]
        # a short budget stops the work part way; the next run goes on where it stopped
        first = run_background_work(services, 0.03)
        assert first["raising.errors"] == 1 and 1 <= first["counting.steps"] < 10
        assert counting.work.plugins == ["counting"]  # with its own services
        second = run_background_work(services, 60)
        assert first["counting.steps"] + second["counting.steps"] == 10
        progress = dict(background_progress(services))
        assert progress["counting"] == WorkProgress("items", 10, 10)
        assert progress["counting"].line() == "items: 10 of 10 (done)"
    finally:
        services.close()
