"""The `doctor_checks` hook: plugins add rows to `appliance doctor`, named after the plugin; a plugin
whose hook breaks gets one failed row and does not stop the others."""

from __future__ import annotations

import pytest

from appliance.core.plugins import PluginSource, start_plugins
from appliance.sdk import DoctorCheck, hookimpl
from tests.plugins import brightness_plugin, doctor_plugin


class RaisingPlugin:
    @hookimpl
    def doctor_checks(self) -> list[DoctorCheck]:
        raise RuntimeError("sensor driver missing")


class WrongTypePlugin:
    @hookimpl
    def doctor_checks(self) -> list[object]:
        return [("camera", "ok")]


def test_hook_doctor_checks() -> None:
    host = start_plugins(
        [
            PluginSource(brightness_plugin, "brightness", "0"),  # implements no doctor_checks: no rows
            PluginSource(doctor_plugin, "camera-plugin", "1.0"),
            PluginSource(RaisingPlugin(), "raising", "1.0"),
            PluginSource(WrongTypePlugin(), "wrong-type", "1.0"),
        ]
    )
    assert host.doctor_checks() == [
        DoctorCheck("camera-plugin: licence", "ok", "licence file readable"),
        DoctorCheck("camera-plugin: camera", "fail", "no camera at /dev/video0"),
        DoctorCheck("raising", "fail", "doctor_checks raised RuntimeError: sensor driver missing"),
        DoctorCheck(
            "wrong-type", "fail", "doctor_checks raised TypeError: doctor_checks must return a list of DoctorCheck"
        ),
    ]


def test_a_doctor_check_status_is_ok_warn_or_fail() -> None:
    with pytest.raises(ValueError, match="ok, warn or fail, not 'error'"):
        DoctorCheck("camera", "error", "no camera")  # type: ignore[arg-type]
