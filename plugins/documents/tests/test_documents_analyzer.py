"""DOCUMENTS end to end through the plugin test kit: real files, real OCR model, real face models."""

from __future__ import annotations

from pathlib import Path

import appliance_plugin_biometry
import appliance_plugin_documents
import pytest
from appliance_plugin_documents import ocr
from documents_cards import needs_ocr_b, passport_page, td3_lines
from PIL import Image
from skimage import data

from appliance.sdk import Resolution
from appliance.sdk.testing import run_analyzer, spec_from_plugin

DOCUMENTS = spec_from_plugin(appliance_plugin_documents, "DOCUMENTS")
BIOMETRY = spec_from_plugin(appliance_plugin_biometry, "BIOMETRY")
pytestmark = needs_ocr_b


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("documents")
    Image.fromarray(data.astronaut()).save(folder / "selfie.jpg")
    first, second = td3_lines()
    return {
        "valid": passport_page((first, second), folder / "valid.jpg"),
        "expired": passport_page(td3_lines(expiry="120415"), folder / "expired.jpg"),
        "tampered": passport_page((first, second[:19] + "0" + second[20:]), folder / "tampered.jpg"),
        "back": passport_page((first, second), folder / "back.jpg", face=False),
        "selfie": folder / "selfie.jpg",
    }


def test_a_valid_passport_succeeds_with_its_fields_and_portrait(pages: dict[str, Path], models: Path) -> None:
    outcome = run_analyzer(DOCUMENTS, [(pages["valid"], ["photo_id", "photo_id_front"])], models=models)
    assert outcome.resolution is Resolution.SUCCESS
    assert outcome.results_data["reasons"] == []
    document = outcome.results_data["document"]
    assert (document["surname"], document["given_names"], document["document_number"]) == (
        "ERIKSSON",
        "ANNA MARIA",
        "L898902C3",
    )
    assert (document["expiry_date"], document["sex"], document["nationality"]) == ("2034-12-31", "F", "UTO")
    assert {"field_name": "document_number", "visual": None, "mrz": "L898902C3"} in outcome.results_data["text_fields"]
    (media,) = outcome.results_media
    assert media.results_data["format"] == "TD3" and all(media.results_data["checks"].values())
    assert media.results_data["mrz_lines"] == list(td3_lines()) and media.results_data["expired"] is False
    x0, y0, x1, y1 = media.results_data["portrait_box"]
    assert 60 <= x0 < x1 <= 360 and 150 <= y0 < y1 <= 495  # inside the printed portrait
    (portrait,) = media.output_images
    assert portrait.name == "portrait" and portrait.jpeg[:2] == b"\xff\xd8"
    assert outcome.model_versions["ppocr-rec"].startswith("PP-OCR") and "dlib-resnet" in outcome.model_versions


def test_biometry_compares_the_portrait_documents_found(pages: dict[str, Path], models: Path) -> None:
    folder = [(pages["selfie"], ["photo_selfie"]), (pages["valid"], ["photo_id", "photo_id_front"])]
    documents = run_analyzer(DOCUMENTS, folder, models=models)
    biometry = run_analyzer(BIOMETRY, folder, models=models)
    assert len(documents.results_media) == 1  # the selfie is no document
    assert biometry.resolution is Resolution.SUCCESS
    assert biometry.results_media[1].results_data["face_box"] == documents.results_media[0].results_data["portrait_box"]


def test_an_expired_document_is_declined_unless_allowed(pages: dict[str, Path], models: Path) -> None:
    media = [(pages["expired"], ["photo_id_front"])]
    declined = run_analyzer(DOCUMENTS, media, models=models)
    assert declined.resolution is Resolution.DECLINED and declined.results_data["reasons"] == ["expired"]
    assert declined.results_data["checks"] == {
        "document_number": True,
        "birth_date": True,
        "expiry_date": True,
        "personal_number": True,
        "composite": True,
    }
    allowed = run_analyzer(DOCUMENTS, media, params={"decline_expired": False}, models=models)
    assert allowed.resolution is Resolution.SUCCESS
    with pytest.raises(ValueError, match="decline_expired must be true or false, not 'no'"):
        run_analyzer(DOCUMENTS, media, params={"decline_expired": "no"}, models=models)


def test_a_failed_check_digit_is_declined(pages: dict[str, Path], models: Path) -> None:
    outcome = run_analyzer(DOCUMENTS, [(pages["tampered"], ["photo_id_front"])], models=models)
    assert outcome.resolution is Resolution.DECLINED
    assert outcome.results_data["reasons"] == ["check_digit_failed"]
    assert outcome.results_data["checks"]["birth_date"] is False


def test_no_mrz_needs_an_operator(pages: dict[str, Path], models: Path) -> None:
    outcome = run_analyzer(DOCUMENTS, [(pages["selfie"], ["photo_id_front"])], models=models)
    assert outcome.resolution is Resolution.OPERATOR_REQUIRED
    assert outcome.results_data == {"mrz_found": False, "reasons": ["no_mrz"]}
    (media,) = outcome.results_media
    assert media.results_data["mrz_found"] is False and media.results_data["portrait_found"] is True


def test_the_mrz_of_the_back_and_the_portrait_of_the_front(pages: dict[str, Path], models: Path) -> None:
    outcome = run_analyzer(
        DOCUMENTS, [(pages["selfie"], ["photo_id_front"]), (pages["back"], ["photo_id_back"])], models=models
    )
    assert outcome.resolution is Resolution.SUCCESS
    front, back = outcome.results_media
    assert front.results_data["portrait_found"] and not front.results_data["mrz_found"]
    assert back.results_data["mrz_found"] and "portrait_found" not in back.results_data
    assert back.output_images == ()


def test_without_the_ocr_model_the_analysis_fails_naming_the_package(
    pages: dict[str, Path], models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr, "MODEL_PACKAGE", "rapidocr_not_installed")  # the fault: a package not found
    with pytest.raises(ocr.OcrUnavailable, match=r"^DOCUMENTS needs the PyPI package rapidocr .*pip install"):
        run_analyzer(DOCUMENTS, [(pages["valid"], ["photo_id_front"])], models=models)
    (check,) = appliance_plugin_documents.doctor_checks()
    assert (check.name, check.status) == ("ocr", "fail") and "rapidocr" in check.detail


def test_the_doctor_finds_the_ocr_model() -> None:
    (check,) = appliance_plugin_documents.doctor_checks()
    assert (check.name, check.status) == ("ocr", "ok") and "PP-OCR" in check.detail
