"""Background work on Huey queues: analyses, folder resolution, previews, webhooks, maintenance.

- `queues`: the Huey instances and `Queues.enqueue_*` (all the API needs; loads no worker code);
- `tasks`, `jobs`: the task bodies, run by workers with a per-process `context.WorkerContext`;
- `cleanup`: deleting a folder with its files (shared with the API's DELETE);
- `webhook_signing`: the `X-Appliance-Signature` format, for senders and receivers;
- `worker`, `scheduler`: the long-running processes (one consumer per queue, one scheduler).

Nothing is imported here, so `import appliance.queue.queues` stays light.
"""
