"""deliver_webhook against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from appliance.domain.entities import WebhookDelivery
from appliance.ops.settings import WebhookSettings
from appliance.queue.context import WorkerContext
from appliance.queue.jobs import retry_webhooks
from appliance.queue.tasks import deliver_webhook, resolve_folder, run_analysis
from appliance.queue.webhook_signing import verify
from tests.queue.conftest import (
    MakeCtx,
    Samples,
    add_analysis,
    add_company,
    add_folder,
    add_media,
    new_id,
)
from tests.support.webhooks import WebhookReceiver


def _finished_folder(ctx: WorkerContext, samples: Samples, url: str, company_secret: str | None = "company-secret"):
    """A folder with one FINISHED analysis whose resolution created one delivery to `url`."""
    company = add_company(ctx, secret=company_secret) if company_secret is not None else None
    folder = add_folder(ctx, company, resolution_endpoint=url)
    run_analysis(add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)]).analysis_id)
    resolve_folder(folder.folder_id)
    (delivery,) = ctx.store.list_deliveries(folder.folder_id)
    return folder, delivery


def test_delivered_body_is_the_folder_document_and_its_signature_verifies(
    ctx: WorkerContext, samples: Samples, receiver: WebhookReceiver
) -> None:
    folder, delivery = _finished_folder(ctx, samples, receiver.url("/hook?site=1"))

    deliver_webhook(delivery.delivery_id)

    (request,) = receiver.received
    assert request.path == "/hook?site=1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Appliance-Event"] == "folder.finished"
    assert request.headers["X-Appliance-Delivery"] == delivery.delivery_id
    signature = request.headers["X-Appliance-Signature"]
    assert verify("company-secret", request.body, signature)
    assert not verify("wrong-secret", request.body, signature)
    assert not verify("company-secret", request.body, signature, now=time.time() + 301)

    document = msgspec.json.decode(request.body)
    assert document["folder_id"] == folder.folder_id
    assert (document["resolution_status"], document["system_resolution"]) == ("FINISHED", "SUCCESS")
    (analysis,) = document["analyses"]
    assert analysis["state"] == "FINISHED"
    assert analysis["results_media"][0]["output_images"][0]["original_url"].startswith("http://appliance.test/")

    done = ctx.store.get_delivery(delivery.delivery_id)
    assert done is not None
    assert (done.status, done.attempts, done.last_status_code, done.next_attempt_at) == ("DELIVERED", 1, 200, None)

    deliver_webhook(delivery.delivery_id)  # a duplicate task finds it DELIVERED: no second POST
    assert len(receiver.received) == 1


def test_folder_without_company_is_signed_with_the_system_secret(
    make_ctx: MakeCtx, samples: Samples, receiver: WebhookReceiver
) -> None:
    ctx = make_ctx(webhooks=WebhookSettings(system_secret="system-secret"))
    _, delivery = _finished_folder(ctx, samples, receiver.url(), company_secret=None)

    deliver_webhook(delivery.delivery_id)

    (request,) = receiver.received
    assert verify("system-secret", request.body, request.headers["X-Appliance-Signature"])


def test_failures_back_off_then_give_up(make_ctx: MakeCtx, samples: Samples, receiver: WebhookReceiver) -> None:
    ctx = make_ctx(webhooks=WebhookSettings(max_attempts=3, retry_delay_seconds=60))
    receiver.status = 500
    _, delivery = _finished_folder(ctx, samples, receiver.url())

    for attempt, delay in ((1, 60), (2, 120)):
        before = datetime.now(UTC)
        deliver_webhook(delivery.delivery_id)
        pending = ctx.store.get_delivery(delivery.delivery_id)
        assert pending is not None and pending.next_attempt_at is not None
        assert (pending.status, pending.attempts, pending.last_status_code) == ("PENDING", attempt, 500)
        assert pending.last_error == "HTTP 500"
        assert (
            before + timedelta(seconds=delay) <= pending.next_attempt_at <= datetime.now(UTC) + timedelta(seconds=delay)
        )

    deliver_webhook(delivery.delivery_id)

    failed = ctx.store.get_delivery(delivery.delivery_id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("FAILED", 3, None)
    assert len(receiver.received) == 3


def test_redirects_are_not_followed(ctx: WorkerContext, samples: Samples, receiver: WebhookReceiver) -> None:
    receiver.status = 302
    _, delivery = _finished_folder(ctx, samples, receiver.url())

    deliver_webhook(delivery.delivery_id)

    pending = ctx.store.get_delivery(delivery.delivery_id)
    assert pending is not None
    assert (pending.status, pending.last_status_code) == ("PENDING", 302)
    assert [r.path for r in receiver.received] == ["/hook"]


def test_unreachable_receiver_is_recorded_not_raised(ctx: WorkerContext, samples: Samples) -> None:
    with WebhookReceiver() as closed:
        url = closed.url()  # the port is free again once the server has closed
    _, delivery = _finished_folder(ctx, samples, url)

    deliver_webhook(delivery.delivery_id)

    pending = ctx.store.get_delivery(delivery.delivery_id)
    assert pending is not None
    assert (pending.status, pending.attempts, pending.last_status_code) == ("PENDING", 1, None)
    assert (pending.last_error or "").startswith("ConnectError")


def test_retry_job_enqueues_due_deliveries_only(ctx: WorkerContext, samples: Samples) -> None:
    folder = add_folder(ctx)
    now = datetime.now(UTC)
    due = ctx.store.create_delivery(
        WebhookDelivery(
            delivery_id=new_id(),
            folder_id=folder.folder_id,
            url="http://a.test/",
            company_id=None,
            next_attempt_at=now - timedelta(seconds=1),
        )
    )
    ctx.store.create_delivery(
        WebhookDelivery(
            delivery_id=new_id(),
            folder_id=folder.folder_id,
            url="http://b.test/",
            company_id=None,
            next_attempt_at=now + timedelta(hours=1),
        )
    )

    assert retry_webhooks() == {"enqueued": 1}
    assert [t.args for t in ctx.queues.huey("default").pending()] == [(due.delivery_id,)]


@pytest.mark.parametrize("status", ["DELIVERED", "FAILED"])
def test_only_pending_deliveries_are_sent(
    ctx: WorkerContext, samples: Samples, receiver: WebhookReceiver, status: str
) -> None:
    _, delivery = _finished_folder(ctx, samples, receiver.url())
    delivery.status = status
    ctx.store.update_delivery(delivery)

    deliver_webhook(delivery.delivery_id)

    assert receiver.received == []
