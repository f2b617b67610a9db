"""Media on S3-compatible object storage, end to end: a running appliance (API, queue workers and
scheduler as processes) whose storage is a real SeaweedFS bucket (tests/support/s3_server.py).

A photo uploaded is put in the bucket under its content's key, its thumbnail beside it; a QUALITY
analysis resolves with a worker reading the photo fetched from the bucket; the signed media URLs
serve the bytes (streamed through the API, or redirected to a presigned URL where
`storage.presigned_urls` is on); deleting the folder removes its objects. When the storage stops
answering, an upload is refused with 503 / STORAGE_UNAVAILABLE and nothing is half written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live import LiveAppliance, folder_media_ids, poll_folder, running_appliance
from tests.support.s3_server import SeaweedS3, TcpRelay
from tests.support.shared_data import shared_file

pytestmark = pytest.mark.timeout(300)

WORKERS = {"default": 1, "maintenance": 1, "analysis": 1, "resolution": 1, "preview": 1}


def _photo(samples: dict[str, Path]) -> Path:
    return shared_file("faces/barack_obama/obama.jpg") or samples["jpeg"]


def _upload(client: httpx.Client, photo: Path, payload: dict[str, object]) -> httpx.Response:
    with photo.open("rb") as fh:
        return client.post("/api/folders/", data={"payload": json.dumps(payload)}, files={"photo1": fh})


@pytest.fixture(scope="module")
def streaming(s3_server: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveAppliance, str]]:
    bucket = s3_server.new_bucket()
    data_dir = tmp_path_factory.mktemp("appliance-s3")
    settings = s3_server.settings_env(bucket, STORAGE__PREFIX="site-1/")
    with running_appliance(data_dir, workers=WORKERS, **settings) as live:
        yield live, bucket


def test_media_live_in_the_bucket_and_go_with_their_folder(
    streaming: tuple[LiveAppliance, str], s3_server: SeaweedS3, samples: dict[str, Path]
) -> None:
    live, bucket = streaming
    photo = _photo(samples)
    sha256 = hashlib.sha256(photo.read_bytes()).hexdigest()
    client = live.client(live.login(), timeout=120)
    created = _upload(client, photo, {"media:tags": {"photo1": ["photo_selfie"]}})
    assert created.status_code == 201, created.text
    folder = created.json()
    (media,) = folder["media"]
    content_key = f"site-1/files/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"
    thumbnail_key = f"site-1/derived/{media['media_id'][:2]}/{media['media_id']}/thumbnail.jpg"
    assert s3_server.keys(bucket) == sorted([content_key, thumbnail_key])
    assert s3_server.client().get_object(Bucket=bucket, Key=content_key)["Body"].read() == photo.read_bytes()
    # nothing of the media on this host but the cache's copy and the spool directory, empty
    media_root = live.data_dir / "media"
    assert sorted(p.name for p in media_root.iterdir()) == ["cache", "tmp"]
    assert list((media_root / "tmp").iterdir()) == []

    # the signed URLs serve the bytes through the API: from the cache, then streamed from the bucket
    original = httpx.get(media["original_url"])
    assert original.status_code == 200 and original.content == photo.read_bytes()
    shutil.rmtree(media_root / "cache" / "files")  # as on a host that never saw the upload
    original = httpx.get(media["original_url"])
    assert original.status_code == 200 and original.content == photo.read_bytes()
    assert original.headers["content-type"] == "image/jpeg"
    thumbnail = httpx.get(media["thumb_url"])
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"

    # a worker with no local copy fetches the photo from the bucket to analyse it
    started = client.post(f"/api/folders/{folder['folder_id']}/analyses", json={"analyses": [{"type": "quality"}]})
    assert started.status_code in (200, 201), started.text
    done = poll_folder(client, folder["folder_id"])
    assert done["resolution_status"] == "FINISHED", live.logs()
    (analysis,) = done["analyses"]
    assert analysis["type"] == "QUALITY" and analysis["state"] == "FINISHED", analysis
    assert (media_root / "cache" / "files" / sha256[:2] / f"{sha256}.jpg").is_file()
    for item in analysis["results_media"]:
        for image in item.get("output_images", []):
            answer = httpx.get(image["original_url"])
            assert answer.status_code == 200 and answer.content[:2] == b"\xff\xd8"
    outputs = s3_server.keys(bucket, f"site-1/derived/{media['media_id'][:2]}/{media['media_id']}/outputs/")
    assert len(outputs) == sum(len(item.get("output_images", [])) for item in analysis["results_media"]) >= 1

    # deleting the folder removes its objects, the content's and the derived ones
    assert client.delete(f"/api/folders/{folder['folder_id']}").status_code == 204
    assert s3_server.keys(bucket) == []
    assert httpx.get(media["original_url"]).status_code == 404
    assert not (media_root / "cache" / "files" / sha256[:2] / f"{sha256}.jpg").exists()


def test_content_shared_by_two_folders_stays_until_the_last_goes(
    streaming: tuple[LiveAppliance, str], s3_server: SeaweedS3, samples: dict[str, Path]
) -> None:
    live, bucket = streaming
    client = live.client(live.login(), timeout=60)
    payload: dict[str, object] = {"media:tags": {"photo1": ["photo_selfie"]}}
    first, second = (_upload(client, samples["jpeg"], payload).json() for _ in range(2))
    content = s3_server.keys(bucket, "site-1/files/")
    assert len(content) == 1  # identical content, stored once
    assert client.delete(f"/api/folders/{first['folder_id']}").status_code == 204
    assert s3_server.keys(bucket, "site-1/files/") == content
    assert httpx.get(second["media"][0]["original_url"]).content == samples["jpeg"].read_bytes()
    assert client.delete(f"/api/folders/{second['folder_id']}").status_code == 204
    assert s3_server.keys(bucket) == []


def test_presigned_urls_and_an_unreachable_storage(
    s3_server: SeaweedS3, samples: dict[str, Path], tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    relay = TcpRelay(("127.0.0.1", int(s3_server.endpoint_url.rpartition(":")[2])))
    settings = s3_server.settings_env(
        bucket,
        STORAGE__ENDPOINT_URL=relay.url,
        STORAGE__PRESIGNED_URLS="true",
        STORAGE__CONNECT_TIMEOUT_SECONDS="1",
        STORAGE__MAX_ATTEMPTS="1",
    )
    try:
        with running_appliance(tmp_path / "data", workers={"preview": 1}, scheduler=False, **settings) as live:
            client = live.client(live.login(), timeout=60)
            photo = samples["jpeg"]
            created = _upload(client, photo, {"media:tags": {"photo1": ["photo_selfie"]}})
            assert created.status_code == 201, created.text
            (media,) = created.json()["media"]
            # a redirect to a presigned URL of the object, which serves the bytes itself
            redirect = httpx.get(media["original_url"])
            assert redirect.status_code == 307, redirect.text
            location = redirect.headers["location"]
            assert location.startswith(relay.url + f"/{bucket}/files/") and "X-Amz-Signature=" in location
            assert httpx.get(location).content == photo.read_bytes()
            assert httpx.get(media["thumb_url"], follow_redirects=True).content[:2] == b"\xff\xd8"

            keys_before = s3_server.keys(bucket)
            folders_before = folder_media_ids(client)
            relay.cut()
            other = shared_file("faces/barack_obama/obama.jpg") or samples["png"]
            started = time.monotonic()
            refused = _upload(client, other, {"media:tags": {"photo1": ["photo_selfie"]}})
            # refused within the storage's connect timeout and one attempt, not after the client's 60 s
            assert time.monotonic() - started < 30
            assert refused.status_code == 503, refused.text
            body = refused.json()
            assert body["error_code"] == 158 and body["error_name"] == "STORAGE_UNAVAILABLE"
            assert refused.headers["retry-after"] == "5"
            assert "Traceback" not in refused.text
            # nothing half written: no row, nothing spooled or cached, no object
            assert folder_media_ids(client) == folders_before
            assert list((live.data_dir / "media" / "tmp").iterdir()) == []
            other_sha = hashlib.sha256(other.read_bytes()).hexdigest()
            assert not list((live.data_dir / "media" / "cache").rglob(f"{other_sha}*"))
            ready = httpx.get(f"{live.base_url}/health/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["storage"]["status"] == "fail"
            # a folder deleted meanwhile is deleted; its objects are left to the orphan sweep
            assert client.delete(f"/api/folders/{created.json()['folder_id']}").status_code == 204
            assert client.get(f"/api/folders/{created.json()['folder_id']}").status_code == 404
            relay.restore()
            assert s3_server.keys(bucket) == keys_before
            again = _upload(client, other, {"media:tags": {"photo1": ["photo_selfie"]}})
            assert again.status_code == 201, again.text
            assert len(s3_server.keys(bucket, "files/")) == 2  # the orphan and the new one
    finally:
        relay.close()
