"""The shop's JSON API under /api/v1: its routes, whose handlers (``api_views``) load lazily.

The handlers need pydantic (the ``services.integration.api_schema`` models) and the ingest
services; a web worker that serves only pages never loads them. Each route is bound to a
``LazyView`` that imports its handler on the first call (Flask's "lazily loading views"
pattern); the endpoint names (``api.me``, ``api.create_order``, ...) are the handlers' names.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from werkzeug.utils import import_string

from portal.extensions import csrf

HANDLERS = "portal.views.api_views"
# (method, rule, handler name in HANDLERS)
ROUTES = [
    ("GET", "/me", "me"),
    ("POST", "/orders", "create_order"),
    ("GET", "/orders/<order_no>", "get_order"),
    ("POST", "/orders/<order_no>/delivery", "deliver"),
    ("POST", "/orders/<order_no>/usage", "usage"),
    ("POST", "/orders/<order_no>/cancel", "cancel"),
    ("GET", "/cases", "list_cases"),
    ("GET", "/payouts", "list_payouts"),
    ("GET", "/openapi.json", "openapi"),
]

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


class LazyView:
    """A view function imported from ``import_name`` on its first call."""

    def __init__(self, import_name: str) -> None:
        self.import_name = import_name
        # what Flask and Flask-Limiter read from a view function
        self.__module__, _, self.__name__ = import_name.rpartition(".")
        self.__qualname__ = self.__name__

    @cached_property
    def view(self) -> Any:
        """The handler itself (imported once)."""
        return import_string(self.import_name)

    def __call__(self, *args: Any, **kwargs: Any) -> ResponseReturnValue:
        return self.view(*args, **kwargs)


for _method, _rule, _name in ROUTES:
    bp.add_url_rule(_rule, _name, LazyView(f"{HANDLERS}.{_name}"), methods=[_method])
