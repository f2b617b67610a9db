"""schemathesis over the API's OpenAPI schema, against the real server over real HTTP.

Every operation of the schema gets a few generated requests, as an ADMIN and without a token:
none may answer 500, and what an answer's schema documents it must match. The run is bounded and
the same every time (a fixed number of examples per operation, a fixed seed, Hypothesis
derandomized), so that CI stays fast and a failure here fails again on the next run.

The schema is the app's, built at collection so that each operation is a test of its own
(schemathesis's schema-from-a-fixture needs a pytest internal that pytest 9 removed);
`test_the_server_serves_the_schema_tested` holds it equal to what the server serves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

from appliance.api.app import create_app
from appliance.ops.settings import MetricsSettings, Settings
from appliance.sdk.testing import TEST_PASSWORD, ApplianceServer
from appliance.web.requests import ACCESS_TOKEN_HEADER
from tests.plugins import brightness_plugin

pytestmark = pytest.mark.timeout(120)

CHECKS = [not_a_server_error, response_schema_conformance]
#: Examples per operation: about 70 operations in well under a minute on two idle cores. Without a
#: token nearly every operation answers 401 whatever it is sent, so fewer tell as much.
EXAMPLES_AS_ADMIN = 5
EXAMPLES_WITHOUT_A_TOKEN = 2


def _app_schema() -> dict[str, Any]:
    """The OpenAPI schema of the app `ApplianceServer` serves (the same plugins, no metrics)."""
    app = create_app(Settings(plugin_modules=[brightness_plugin.__name__], metrics=MetricsSettings(enabled=False)))
    return app.openapi_schema.to_schema()


APP_SCHEMA = _app_schema()
#: The seed of schemathesis's own draws (its coverage phase); Hypothesis's are derandomized below.
SEED = 18
schema = schemathesis.openapi.from_dict(APP_SCHEMA, config=SchemathesisConfig(seed=SEED))


def bounded(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, default_models_root: Path) -> Iterator[ApplianceServer]:
    with ApplianceServer(brightness_plugin, tmp_path_factory.mktemp("appliance"), models=default_models_root) as server:
        yield server


@pytest.fixture(scope="module")
def admin_headers(server: ApplianceServer) -> dict[str, str]:
    credentials = {"credentials": {"email": server.create_user("ADMIN"), "password": TEST_PASSWORD}}
    answer = httpx.post(f"{server.base_url}/api/authorize/auth", json=credentials, timeout=30)
    assert answer.status_code == 200, answer.text
    return {ACCESS_TOKEN_HEADER: answer.json()["access_token"]}


def test_the_server_serves_the_schema_tested(server: ApplianceServer) -> None:
    answer = httpx.get(f"{server.base_url}/docs/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.json() == APP_SCHEMA


@schema.parametrize()
@bounded(EXAMPLES_AS_ADMIN)
def test_as_admin(case: schemathesis.Case, server: ApplianceServer, admin_headers: dict[str, str]) -> None:
    case.call_and_validate(base_url=server.base_url, headers=admin_headers, checks=CHECKS)


@schema.parametrize()
@bounded(EXAMPLES_WITHOUT_A_TOKEN)
def test_without_a_token(case: schemathesis.Case, server: ApplianceServer) -> None:
    case.call_and_validate(base_url=server.base_url, checks=CHECKS)
