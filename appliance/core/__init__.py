"""The application core: what every process of the appliance shares, above the plugin contract.

- `services`: the one composition root (`AppServices`), built by the API, the workers, the
  scheduler and the CLI alike; `providers`: how the web edges get it (Litestar dependencies);
- `plugins`: the plugin host (loading plugins, asking their hooks);
- `analysis`: the one checked run of an analysis, used by the queue and the instant mode;
- `queues`: the Huey queues and `Queues.enqueue_*`;
- `folders`, `decisions`, `status`, `hosts`, `host_metrics`: what the API, the console, the
  workers and the CLI do alike (deleting and waiting for folders, operator decisions, the
  version and readiness documents, the host report, what a metrics scrape answers).

The edges (appliance.api, appliance.console, appliance.queue, appliance.cli, appliance.doctor)
sit on top of it; docs/architecture.md has the layer contract.
"""
