"""Every blueprint, registered on the app in one place (``portal.app_setup`` calls it).

Kept out of ``portal/views/__init__.py``: importing one view module does not
import them all.
"""

from __future__ import annotations

from flask import Flask

from portal.views import (
    api,
    auth,
    buyer,
    buyer_disputes,
    buyer_privacy,
    callbacks,
    dashboards,
    health,
    inbox,
    merchant,
    merchant_integration,
    metrics,
    payouts,
    plugins_admin,
    privacy_staff,
    reconciliation,
    review,
    risk_admin,
    risk_merchant,
    tickets,
)


def register_blueprints(app: Flask) -> None:
    """Register every blueprint on ``app``."""
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(buyer.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(buyer_disputes.bp)
    app.register_blueprint(buyer_privacy.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(privacy_staff.bp)
    app.register_blueprint(callbacks.bp)
    app.register_blueprint(payouts.bp)
    app.register_blueprint(reconciliation.bp)
    app.register_blueprint(plugins_admin.bp)
    app.register_blueprint(risk_admin.bp)
    app.register_blueprint(risk_merchant.bp)
    app.register_blueprint(dashboards.bp)
    app.register_blueprint(merchant.bp)
    app.register_blueprint(merchant_integration.bp)
    app.register_blueprint(tickets.bp)
    app.register_blueprint(inbox.bp)
    inbox.install(app)
