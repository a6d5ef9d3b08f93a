"""The Flask app a job runs in: the worker's own, or one created on first use."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from portal import create_app

_app: Flask | None = None
F = TypeVar("F", bound=Callable[..., Any])


def set_app(app: Flask) -> None:
    """Use ``app`` for jobs run in this process (the worker, or a test)."""
    global _app
    _app = app


def get_app() -> Flask:
    """The app for jobs, created from the environment if none was set."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


def with_app(fn: F) -> F:
    """Run the job inside an application context; the session is removed afterwards."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = get_app()
        with app.app_context():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
