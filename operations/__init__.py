"""Running the portal: the request context that follows a flow into Celery and into the logs, structured logs,
heartbeats and /healthz, the operator's queue page and the optional Prometheus metrics (docs/operations.md)."""
