"""A plugin that adds its own checks to `appliance doctor` through the `doctor_checks` hook."""

from __future__ import annotations

from appliance.sdk import DoctorCheck, hookimpl

__version__ = "1.0"


@hookimpl
def doctor_checks() -> list[DoctorCheck]:
    return [
        DoctorCheck("licence", "ok", "licence file readable"),
        DoctorCheck("camera", "fail", "no camera at /dev/video0"),
    ]
