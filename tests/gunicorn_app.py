"""The portal as gunicorn serves it in the multi-process race tests.

``gunicorn 'tests.gunicorn_app:create()'``: the production app factory with its settings from
the environment the test passes (database, Redis, secret key, evidence folder), cheap Argon2
costs, and the in-process fake payout channel the test orders are paid with (approving a case
starts a payout on it; no job runs, so nothing is paid).
"""

from __future__ import annotations

import os

from flask import Flask

from portal import create_app
from portal.plugins.manager import make_plugin_manager
from tests.fakes import FakeGateway, FakePlugin


def create() -> Flask:
    """The app for one gunicorn worker."""
    pm = make_plugin_manager()
    pm.register(FakePlugin(FakeGateway()), name="fakepay")
    return create_app(
        {
            "PLUGIN_MANAGER": pm,
            "ENVIRONMENT": "development",
            "SECRET_KEY": os.environ["PORTAL_SECRET_KEY"],
            "DATABASE_URL": os.environ["PORTAL_DATABASE_URL"],
            "REDIS_URL": os.environ["PORTAL_REDIS_URL"],
            "EVIDENCE_DIR": os.environ["PORTAL_EVIDENCE_DIR"],
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
            # every request of the test comes from 127.0.0.1; none of them fails a lookup
            "LOOKUP_RATE_LIMIT": "10000 per minute",
            "LOGIN_RATE_LIMIT": "10000 per minute",
        }
    )
