"""gunicorn settings for a portal web node (``gunicorn -c deploy/gunicorn.conf.py``).

Read with docs/deploy.md. The environment (``/etc/refund-portal/env`` in the systemd units)
carries the portal's settings (``PORTAL_*``) and, with metrics on, ``PROMETHEUS_MULTIPROC_DIR``.
"""

import os

wsgi_app = "portal:create_app()"
# only the TLS proxy (nginx) may reach it: 127.0.0.1 when nginx runs on this machine, else the
# private address nginx reaches (PORTAL_BIND=10.0.0.11:8000), never a public one
bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
# sync workers: one request at a time each; about 2 per core (docs/performance.md)
workers = int(os.environ.get("PORTAL_WEB_WORKERS", "4"))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
# a worker is replaced after this many requests (with jitter), keeping memory flat
max_requests = 2000
max_requests_jitter = 200
# the portal writes one JSON "request" event per request (PORTAL_LOG_FORMAT=json): no second
# access log from gunicorn; its own error log goes to stderr (the journal)
accesslog = None
errorlog = "-"
# X-Forwarded-For / -Proto are read by the portal itself (PORTAL_TRUSTED_PROXY_HOPS=1)
forwarded_allow_ips = "127.0.0.1"


def on_starting(server):
    """Empty the metrics folder before any worker starts (values of a previous run go)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))


def child_exit(server, worker):
    """A worker ended: its live gauges stop counting (prometheus_client multi-process mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
