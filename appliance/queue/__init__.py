"""Background work on Huey queues: analyses, folder resolution, previews, webhooks, maintenance.

- `tasks`, `jobs`: the task bodies, run by workers with per-process services (`context`);
- `webhook_signing`: the `X-Appliance-Signature` format, for senders and receivers;
- `worker`, `scheduler`: the long-running processes (one consumer per queue, one scheduler).

The Huey instances and `Queues.enqueue_*` (all the API needs; loads no worker code) are the
application core's (`appliance.core.queues`). Nothing is imported here.
"""
