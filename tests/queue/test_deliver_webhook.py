"""deliver_webhook against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from appliance.core.services import AppServices
from appliance.core.webhooks import WebhookTargets
from appliance.domain.entities import WebhookDelivery
from appliance.ops.settings import WebhookSettings
from appliance.queue.jobs import retry_webhooks
from appliance.queue.tasks import deliver_webhook, resolve_folder, run_analyses
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
from tests.support.webhooks import WebhookReceiver, allowed_targets


def _finished_folder(ctx: AppServices, samples: Samples, url: str, company_secret: str | None = "company-secret"):
    """A folder with one FINISHED analysis whose resolution created one delivery to `url`."""
    company = add_company(ctx, secret=company_secret) if company_secret is not None else None
    folder = add_folder(ctx, company, resolution_endpoint=url)
    run_analyses(add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)]).analysis_id)
    resolve_folder(folder.folder_id)
    (delivery,) = ctx.store.list_deliveries(folder.folder_id)
    return folder, delivery


def test_delivered_body_is_the_folder_document_and_its_signature_verifies(
    ctx: AppServices, samples: Samples, receiver: WebhookReceiver
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
    ctx = make_ctx(webhooks=WebhookSettings(system_secret="system-secret", allowed_targets=allowed_targets()))
    _, delivery = _finished_folder(ctx, samples, receiver.url(), company_secret=None)

    deliver_webhook(delivery.delivery_id)

    (request,) = receiver.received
    assert verify("system-secret", request.body, request.headers["X-Appliance-Signature"])


def test_failures_back_off_then_give_up(make_ctx: MakeCtx, samples: Samples, receiver: WebhookReceiver) -> None:
    ctx = make_ctx(webhooks=WebhookSettings(max_attempts=3, retry_delay_seconds=60, allowed_targets=allowed_targets()))
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


def test_redirects_are_not_followed(ctx: AppServices, samples: Samples, receiver: WebhookReceiver) -> None:
    receiver.status = 302
    _, delivery = _finished_folder(ctx, samples, receiver.url())

    deliver_webhook(delivery.delivery_id)

    pending = ctx.store.get_delivery(delivery.delivery_id)
    assert pending is not None
    assert (pending.status, pending.last_status_code) == ("PENDING", 302)
    assert [r.path for r in receiver.received] == ["/hook"]


def test_unreachable_receiver_is_recorded_not_raised(ctx: AppServices, samples: Samples) -> None:
    with WebhookReceiver() as closed:
        url = closed.url()  # the port is free again once the server has closed
    _, delivery = _finished_folder(ctx, samples, url)

    deliver_webhook(delivery.delivery_id)

    pending = ctx.store.get_delivery(delivery.delivery_id)
    assert pending is not None
    assert (pending.status, pending.attempts, pending.last_status_code) == ("PENDING", 1, None)
    assert (pending.last_error or "").startswith("ConnectError")


def test_retry_job_enqueues_due_deliveries_only(ctx: AppServices, samples: Samples) -> None:
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
    ctx: AppServices, samples: Samples, receiver: WebhookReceiver, status: str
) -> None:
    _, delivery = _finished_folder(ctx, samples, receiver.url())
    delivery.status = status
    ctx.store.update_delivery(delivery)

    deliver_webhook(delivery.delivery_id)

    assert receiver.received == []


# Where webhooks may go (docs/configuration.md, "Webhook targets") ---------------------------------


def test_a_refused_target_is_failed_at_once_and_never_posted(
    make_ctx: MakeCtx, samples: Samples, receiver: WebhookReceiver
) -> None:
    """A delivery to loopback recorded while it was allowed (or before an upgrade): the default
    settings refuse it when it is sent, and it is not retried."""
    ctx = make_ctx(webhooks=WebhookSettings())
    _, delivery = _finished_folder(ctx, samples, receiver.url())

    deliver_webhook(delivery.delivery_id)

    failed = ctx.store.get_delivery(delivery.delivery_id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.next_attempt_at, failed.last_status_code) == (
        "FAILED",
        1,
        None,
        None,
    )
    assert (failed.last_error or "").startswith("refused: webhooks may not go to 127.0.0.1 port ")
    assert "webhooks.refused_targets" in (failed.last_error or "")
    assert retry_webhooks() == {"enqueued": 0}
    deliver_webhook(delivery.delivery_id)
    assert receiver.received == []


class _Rebinding:
    """A name that resolves to one address when a URL is set, then to another (DNS rebinding)."""

    def __init__(self, name: str, *answers: str) -> None:
        self.name, self.answers, self.asked = name, list(answers), 0

    def __call__(self, host: str, port: int) -> list[str]:
        if host != self.name:
            return []
        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [answer]


def _with_resolver(ctx: AppServices, resolve: _Rebinding) -> None:
    ctx.__dict__["webhook_targets"] = WebhookTargets(ctx.settings, resolve)  # a fault injected: DNS answers


def test_a_name_that_resolves_to_a_refused_address_at_send_time_is_refused(
    make_ctx: MakeCtx, samples: Samples, receiver: WebhookReceiver
) -> None:
    ctx = make_ctx(webhooks=WebhookSettings(allowed_targets=["hooks.test"]))
    port = receiver.url().split(":")[2].split("/")[0]
    url = f"http://hooks.test:{port}/hook"
    _with_resolver(ctx, _Rebinding("hooks.test", "10.9.8.7", "127.0.0.1"))
    assert ctx.webhook_targets.check_url(url) == url  # when it is set: a private address, allowed

    _, delivery = _finished_folder(ctx, samples, url)
    deliver_webhook(delivery.delivery_id)

    failed = ctx.store.get_delivery(delivery.delivery_id)
    assert failed is not None and (failed.status, failed.attempts) == ("FAILED", 1)
    assert "hooks.test (127.0.0.1)" not in (failed.last_error or "")  # allowed by name, refused by address
    assert "127.0.0.1 is in 127.0.0.0/8" in (failed.last_error or "")
    assert receiver.received == []


def test_the_connection_goes_to_the_address_that_was_checked(
    make_ctx: MakeCtx, samples: Samples, receiver: WebhookReceiver
) -> None:
    """`hooks.test` resolves nowhere but through the checked answer: the POST reaches the receiver
    only because the connection is made to the address the check saw, with the name as Host."""
    ctx = make_ctx(webhooks=WebhookSettings(allowed_targets=["127.0.0.1/32"]))
    port = receiver.url().split(":")[2].split("/")[0]
    _with_resolver(ctx, _Rebinding("hooks.test", "127.0.0.1"))
    _, delivery = _finished_folder(ctx, samples, f"http://hooks.test:{port}/hook")

    deliver_webhook(delivery.delivery_id)

    (request,) = receiver.received
    assert request.headers["Host"] == f"hooks.test:{port}"
    done = ctx.store.get_delivery(delivery.delivery_id)
    assert done is not None and done.status == "DELIVERED"


def test_a_redirect_to_a_refused_target_is_not_followed(ctx: AppServices, samples: Samples) -> None:
    """The allowed receiver (127.0.0.1) answers 302 to another loopback address, which the test's
    `allowed_targets` does not list: nothing reaches it, the delivery waits for its next attempt."""
    with WebhookReceiver() as allowed, WebhookReceiver("127.0.0.2") as refused:
        allowed.status, allowed.location = 302, refused.url()
        _, delivery = _finished_folder(ctx, samples, allowed.url())

        deliver_webhook(delivery.delivery_id)

        assert [r.path for r in allowed.received] == ["/hook"]
        assert refused.received == []
    pending = ctx.store.get_delivery(delivery.delivery_id)
    assert pending is not None and (pending.status, pending.last_status_code) == ("PENDING", 302)
