from pathlib import Path

import appliance_plugin_exposure
import numpy as np
from PIL import Image
from skimage import data

from appliance.sdk import Resolution
from appliance.sdk.testing import run_analyzer, spec_from_plugin

EXPOSURE = spec_from_plugin(appliance_plugin_exposure, "EXPOSURE")


def test_a_well_lit_portrait_succeeds(tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(photo)

    outcome = run_analyzer(EXPOSURE, [(photo, ["photo_selfie"])])

    assert outcome.resolution is Resolution.SUCCESS
    assert outcome.results_media[0].results_data["overexposed"] < 0.05


def test_a_washed_out_photo_is_declined(tmp_path: Path) -> None:
    photo = tmp_path / "white.png"
    Image.fromarray(np.full((240, 320, 3), 250, dtype=np.uint8)).save(photo)

    outcome = run_analyzer(EXPOSURE, [(photo, ["photo_selfie"])])

    assert outcome.resolution is Resolution.DECLINED
    assert outcome.results_media[0].results_data["overexposed"] > 0.9
