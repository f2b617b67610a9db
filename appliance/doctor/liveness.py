"""The liveness check: a presentation-attack model is installed, else QUALITY sends every face it
finds no attack on to an operator (docs/liveness.md, "The decision")."""

from __future__ import annotations

from appliance.core.liveness import LIVENESS_BUNDLE_HINT, liveness_models
from appliance.doctor.context import DoctorContext
from appliance.sdk.types import DoctorCheck

__all__ = ["check_liveness"]


def check_liveness(ctx: DoctorContext) -> DoctorCheck:
    models = liveness_models(ctx.models)
    if models.pad_model_missing:
        return DoctorCheck(
            "liveness",
            "warn",
            f"no presentation-attack model is active: QUALITY sends every face to an operator "
            f"(pad_model_missing); {LIVENESS_BUNDLE_HINT}",
        )
    if models.fusion is None:
        return DoctorCheck(
            "liveness",
            "warn",
            f"PAD models {', '.join(models.pad_models)} without the fusion: QUALITY decides by the default rule; "
            f"{LIVENESS_BUNDLE_HINT}",
        )
    measured = (
        f"on sources it never saw: {models.held_out.describe()}"
        if models.held_out
        else "its card holds no held-out figure (a bundle built before the recipe measured it)"
    )
    return DoctorCheck("liveness", "ok", f"fusion {models.fusion} with {', '.join(models.pad_models)}; {measured}")
