"""Warm the worker before it forks, so each work-horse starts ready.

RQ's default worker forks a child per job; whatever the parent has not done, every
child does again. Configuring the ORM mappers and compiling the settlement's queries
cost more than a settlement itself, so the parent does both once here. Only reads
run (against an id that does not exist): warming up never writes.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.orm import configure_mappers

log = logging.getLogger("portal.worker")


def warm_up(app: Flask) -> None:
    """Configure mappers and compile the settlement path's reads."""
    from portal.extensions import db
    from portal.models import Payment, Payout, RefundCase
    from portal.services import settlement

    configure_mappers()
    with app.app_context():
        try:
            settlement.load(-1)
            for model in (Payout, Payment, RefundCase):
                db.session.get(model, -1)
        except Exception:
            log.warning("worker warm-up skipped", exc_info=True)
        finally:
            db.session.rollback()
            db.session.remove()
            db.engine.dispose()  # no connection crosses the fork
