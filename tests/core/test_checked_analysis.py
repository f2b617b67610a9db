"""One checked run of an analysis: a worker and the instant mode refuse the same plugin outputs,
with the same code and the same words (appliance.core.analysis, appliance.sdk.requests.check_outcome)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from appliance.core.services import AppServices
from appliance.domain.enums import AnalysisState
from appliance.domain.errors import ErrorCode
from appliance.queue.context import install_services
from appliance.queue.tasks import run_analyses
from appliance.sdk.testing import TEST_PASSWORD, ApplianceServer
from tests.plugins import bad_outputs_plugin
from tests.queue.conftest import Samples, add_analysis, add_folder, add_media, build_context, settings_for

BAD_OUTPUT = "BAD_OUTPUT"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    with ApplianceServer(bad_outputs_plugin, tmp_path_factory.mktemp("appliance")) as server:
        yield server


@pytest.fixture(scope="module")
def token(server: ApplianceServer) -> str:
    email = server.create_user("ADMIN")
    credentials = {"credentials": {"email": email, "password": TEST_PASSWORD}}
    answer = httpx.post(f"{server.base_url}/api/authorize/auth", json=credentials, timeout=30)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[AppServices]:
    """A worker's services with the misbehaving plugin, installed as this process's."""
    settings = msgspec.structs.replace(settings_for(tmp_path), plugin_modules=[bad_outputs_plugin.__name__])
    services = build_context(settings)
    install_services(services)
    yield services
    install_services(None)
    services.close()


def _params(fault: str | None) -> dict[str, str]:
    return {} if fault is None else {"fault": fault}


def _on_a_worker(services: AppServices, photo: Path, fault: str | None) -> tuple[AnalysisState, int | None, str]:
    folder = add_folder(services)
    media = add_media(services, folder, photo)
    analysis = add_analysis(services, folder, [media], type=BAD_OUTPUT, params=_params(fault))
    run_analyses(analysis.analysis_id)
    done = services.store.get_analysis(analysis.analysis_id)
    assert done is not None
    return done.state, done.error_code, (done.error_message or "").replace(media.media_id, "<media>")


def _in_the_instant_mode(
    server: ApplianceServer, token: str, photo: Path, fault: str | None
) -> tuple[str, int | None, str]:
    payload = {"media:tags": {"photo": ["photo_selfie"]}, "analyses": [{"type": BAD_OUTPUT, "params": _params(fault)}]}
    answer = httpx.post(
        f"{server.base_url}/api/instant/folders/",
        headers={"X-Forensic-Access-Token": token},
        data={"payload": json.dumps(payload)},
        files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    (analysis,) = answer.json()["analyses"]
    (media,) = answer.json()["media"]
    message = (analysis["error_message"] or "").replace(media["media_id"], "<media>")
    return analysis["state"], analysis["error_code"], message


@pytest.mark.parametrize("fault", bad_outputs_plugin.ALL_FAULTS)
def test_a_worker_and_the_instant_mode_refuse_the_same_outputs_in_the_same_words(
    worker: AppServices, server: ApplianceServer, token: str, samples: Samples, fault: str
) -> None:
    state, code, message = _on_a_worker(worker, samples.jpeg, fault)
    assert (state, code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_PLUGIN_ERROR)
    assert not (worker.storage.root / "derived").exists()  # nothing of a refused outcome is written

    assert _in_the_instant_mode(server, token, samples.jpeg, fault) == (state.value, code, message)


def test_a_sound_outcome_passes_both(
    worker: AppServices, server: ApplianceServer, token: str, samples: Samples
) -> None:
    """The refusals above are the faults', not the runners': the same plugin's sound answer passes both."""
    assert _on_a_worker(worker, samples.jpeg, None) == (AnalysisState.FINISHED, None, "")
    assert _in_the_instant_mode(server, token, samples.jpeg, None) == ("FINISHED", None, "")
