"""`appliance doctor`'s object storage check against a real SeaweedFS: ok on a bucket that takes a
probe object (and leaves none behind), a failure naming the cause for wrong credentials, a missing
bucket and an endpoint that does not answer."""

from __future__ import annotations

import pytest

from tests.doctor.test_doctor import FRESH, doctor, initialised, site, statuses
from tests.support.live import free_port
from tests.support.s3_server import SeaweedS3

__all__ = ["initialised", "site"]  # the fixtures this module borrows

pytestmark = pytest.mark.timeout(300)


def test_a_bucket_that_takes_a_probe_object_is_ok(site, s3_server: SeaweedS3) -> None:
    _, env = site
    bucket = s3_server.new_bucket()
    env = {**env, **{f"APPLIANCE_{k}": v for k, v in s3_server.settings_env(bucket).items()}}
    code, checks = doctor(env)
    assert code == 0 and statuses(checks) == FRESH, checks
    status, detail = checks["object-storage"]
    assert detail.startswith(
        f"bucket {bucket} at {s3_server.endpoint_url}: a probe object written, read back and deleted"
    )
    assert s3_server.keys(bucket) == []  # the probe is gone


@pytest.mark.parametrize("fault", ["credentials", "bucket", "endpoint"])
def test_each_fault_of_the_bucket_fails_the_check_naming_it(site, s3_server: SeaweedS3, fault: str) -> None:
    _, env = site
    settings = s3_server.settings_env(STORAGE__CONNECT_TIMEOUT_SECONDS="1", STORAGE__MAX_ATTEMPTS="1")
    expected = {
        "credentials": "the endpoint refused the credentials",
        "bucket": "no such bucket",
        "endpoint": "the endpoint does not answer",
    }[fault]
    if fault == "credentials":
        settings["STORAGE__SECRET_ACCESS_KEY"] = "not-the-secret"
    elif fault == "bucket":
        settings["STORAGE__BUCKET"] = "no-such-bucket-here"
    else:
        settings["STORAGE__ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    code, checks = doctor({**env, **{f"APPLIANCE_{k}": v for k, v in settings.items()}})
    assert code == 1
    assert statuses(checks) == {**FRESH, "object-storage": "fail"}, checks
    assert expected in checks["object-storage"][1]
    assert "not-the-secret" not in checks["object-storage"][1]
