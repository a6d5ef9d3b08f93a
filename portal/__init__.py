"""refund-portal: a refund and after-sales portal for virtual-goods card platforms.

``create_app`` builds the Flask application (the application-factory pattern).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from portal import config as config_module

__version__ = "0.1.0"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the portal application."""
    # cycle: portal -> portal.app_setup -> portal.cli -> portal (and `import portal` stays light)
    from portal.app_setup import configure

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config_module.DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("portal.cfg", silent=True)
        app.config.from_prefixed_env("PORTAL")
    else:
        app.config.from_mapping(test_config)
    configure(app)
    return app
