"""refund-portal: a refund and after-sales portal for virtual-goods card platforms.

``create_app`` builds the Flask application (the application-factory pattern);
``hookimpl`` marks a plugin's hook implementations (``from portal import hookimpl``).
Importing this package loads neither Flask nor the application: plugins import it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from portal import config as config_module
from portal.plugins.markers import hookimpl

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["__version__", "create_app", "hookimpl"]
__version__ = "0.1.0"


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the portal application."""
    # heavy: Flask (plugins import `portal` for hookimpl and need no web framework)
    from flask import Flask

    # cycle: portal -> portal.app_setup -> portal.cli -> portal (and `import portal` stays light)
    from portal.app_setup import configure

    # PORTAL_INSTANCE_PATH: where the SQLite file, uploads and portal.cfg live (absolute)
    instance = os.environ.get("PORTAL_INSTANCE_PATH") or None
    app = Flask(__name__, instance_relative_config=True, instance_path=instance)
    app.config.from_mapping(config_module.DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("portal.cfg", silent=True)
        app.config.from_prefixed_env("PORTAL")
    else:
        app.config.from_mapping(test_config)
    configure(app)
    return app
