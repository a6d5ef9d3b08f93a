"""The request id: one per web request, carried into the jobs it enqueues and into every log
line written while either runs.

A request's id is taken from the header named by ``REQUEST_ID_HEADER`` only when that is
configured (the operator's proxy sets it, e.g. nginx's ``$request_id``) and the value is a
plain token (letters, digits, ``._:-``, at most ``MAX_LENGTH``); otherwise, including for any
other value a client sends, a new one is made. The answer carries it back in
``X-Request-ID``. The queue (``portal.infra.queue``) stores it in each job's ``meta``; the
worker (``jobs.worker``) binds it, with the job's id, while the job runs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, Response, g, request

#: the longest id accepted from a trusted header
MAX_LENGTH = 128
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_request_id: ContextVar[str | None] = ContextVar("portal_request_id", default=None)
_job_id: ContextVar[str | None] = ContextVar("portal_job_id", default=None)
_RESET = "portal_request_id_reset"
RESPONSE_HEADER = "X-Request-ID"


def new() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def accepted(value: object) -> str | None:
    """``value`` if it is a plain token of at most ``MAX_LENGTH`` characters, else None."""
    if isinstance(value, str) and len(value) <= MAX_LENGTH and _TOKEN.fullmatch(value):
        return value
    return None


def current() -> str | None:
    """The id of the request (or of the request that enqueued the running job), if any."""
    return _request_id.get()


def current_job() -> str | None:
    """The id of the running job, if any."""
    return _job_id.get()


@contextmanager
def bound(request_id: str | None, job_id: str | None = None) -> Iterator[None]:
    """Within the block, ``current()`` is ``request_id`` and ``current_job()`` is ``job_id``."""
    request_token = _request_id.set(request_id)
    job_token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(job_token)
        _request_id.reset(request_token)


def install(app: Flask) -> None:
    """Give each of ``app``'s requests its id, before any other hook runs."""

    def _begin() -> None:
        header = app.config.get("REQUEST_ID_HEADER")
        given = accepted(request.headers.get(header)) if header else None
        setattr(g, _RESET, _request_id.set(given or new()))

    def _answer(response: Response) -> Response:
        request_id = current()
        if request_id:
            response.headers[RESPONSE_HEADER] = request_id
        return response

    def _end(_exc: BaseException | None) -> None:
        token = g.pop(_RESET, None)
        if token is not None:
            _request_id.reset(token)

    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_answer)
    app.teardown_request(_end)
