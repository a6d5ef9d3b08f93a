"""The API's edges: problem details, API-key auth, signatures, replay and idempotency.

A read needs ``Authorization: Bearer <key>``. A write also needs ``X-Portal-Timestamp``
and ``X-Portal-Signature`` (``v1=`` HMAC-SHA256 of timestamp, method, path with query,
Idempotency-Key and body, keyed with the SHA-256 hex of the key; see ``signing``), within
5 minutes of the server's clock and never seen before (the replay guard is keyed on that
signature, so on all of these), and an ``Idempotency-Key``: a retry with the same key and
body gets the first answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, current_app, g, json, request
from pydantic import ValidationError
from redis import Redis

from portal.infra import redis_client
from portal.infra.queue import redis_connection
from portal.infra.replay import RedisReplayGuard
from portal.models import ApiKey
from portal.plugins.channels import MemoryReplayGuard, ReplayGuard
from portal.services import context, unit_of_work
from portal.services.errors import DomainError, NotFound
from portal.services.integration import api_keys, idempotency, signing

PROBLEM_TYPE = "/api/v1/problems/"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
#: a signature is remembered a little longer than it stays fresh (window both ways)
REPLAY_TTL = 2 * signing.WINDOW_SECONDS + 60

Result = tuple[int, Any]


class ApiProblem(Exception):
    """A refusal the API answers with problem details."""

    def __init__(
        self, status: int, slug: str, title: str, detail: str = "", errors: Iterable[Any] = ()
    ) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.errors = list(errors)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


def problem_response(status: int, body: dict[str, Any]) -> Response:
    """A response with ``application/problem+json``."""
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def json_response(status: int, body: Any, replayed: bool = False) -> Response:
    """A JSON response (problem+json for error statuses)."""
    if status >= 400:
        resp = problem_response(status, body)
    else:
        resp = Response(json.dumps(body), status=status, mimetype="application/json")
    if replayed:
        resp.headers["Idempotent-Replayed"] = "true"
    return resp


def validation_problem(exc: ValidationError) -> ApiProblem:
    """422 naming each bad field (dotted name and JSON pointer)."""
    errors = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        errors.append(
            {
                "field": ".".join(loc) or "body",
                "pointer": "#/" + "/".join(loc) if loc else "#",
                "message": err["msg"],
            }
        )
    names = ", ".join(e["field"] for e in errors)
    return ApiProblem(422, "validation", "Invalid request", f"Invalid field(s): {names}", errors)


def domain_problem(exc: DomainError) -> ApiProblem:
    """404 for what this merchant may not see; 409 for a rule the request conflicts with."""
    detail = exc.message % exc.params if exc.params else exc.message
    if exc.status_code in (403, 404):
        return ApiProblem(404, "not-found", "Not found", detail)
    return ApiProblem(409, exc.rule or "conflict", "Conflict", detail)


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", "Unauthorized", detail)


def current_key() -> ApiKey:
    """The API key of this request (set by ``api_read`` / ``api_write``)."""
    return g.api_key


def _bearer() -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Send Authorization: Bearer <API key>.")
    key = api_keys.authenticate(token.strip())
    if key is None:
        raise _unauthorized("Unknown or revoked API key.")
    return key


def replay_guard() -> ReplayGuard:
    """Signatures already used: in Redis when configured (shared by every web process)."""
    guard = current_app.extensions.get("portal.api_replay_guard")
    if guard is None:
        if redis_client.configured(current_app.config):
            # current_app is typed as the Flask it stands for, not as the proxy it is
            app = current_app._get_current_object()  # type: ignore[attr-defined]

            def connect() -> Redis:
                with app.app_context():
                    return redis_connection()

            guard = RedisReplayGuard(connect)
        else:
            guard = MemoryReplayGuard()
        current_app.extensions["portal.api_replay_guard"] = guard
    return guard


def signed_path() -> str:
    """The path with its query as the client sent it (what a v1 signature covers)."""
    path = request.script_root + request.path
    query = request.query_string.decode("latin-1")
    return f"{path}?{query}" if query else path


def _check_signature(key: ApiKey, body: bytes) -> None:
    ts = request.headers.get(signing.TIMESTAMP_HEADER, "")
    sig = request.headers.get(signing.SIGNATURE_HEADER, "")
    idem = request.headers.get(IDEMPOTENCY_HEADER, "")
    now_ts = int(context.now().timestamp())
    refused = signing.check_request(
        key.key_hash, ts, sig, request.method, signed_path(), idem, body, now_ts
    )
    if refused == "missing":
        raise _unauthorized("Sign writes with X-Portal-Timestamp and X-Portal-Signature.")
    if refused == "old-form":
        raise _unauthorized(
            "Signatures of timestamp.body are no longer accepted: send X-Portal-Signature: "
            "v1=<hex HMAC-SHA256 of v1, timestamp, method, path with query, Idempotency-Key "
            "and body, each followed by a newline but the body> (see docs/integration.md)."
        )
    if refused == "stale":
        raise _unauthorized("The timestamp is more than 5 minutes from the server's clock.")
    if refused:
        raise _unauthorized(
            "The signature does not match this method, path, query, Idempotency-Key and body."
        )
    if not replay_guard().first_seen(f"api:{key.id}", sig.lower(), REPLAY_TTL):
        raise _unauthorized("This signed request was already received (replay).")


def _guarded(fn: Callable[..., Response]) -> Callable[..., Response]:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        try:
            return fn(*args, **kwargs)
        except ApiProblem as exc:
            unit_of_work.rollback()
            return problem_response(exc.status, exc.body())

    return wrapped


def api_read(view: Callable[..., Result]) -> Callable[..., Response]:
    """Bearer auth, then the view's (status, body) as JSON."""

    @_guarded
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        g.api_key = _bearer()
        api_keys.touch(g.api_key)
        status, body = _run(view, args, kwargs)
        return json_response(status, body)

    return wrapped


def api_write(view: Callable[..., Result]) -> Callable[..., Response]:
    """Bearer auth, signature, replay guard and idempotency around a writing view."""

    @_guarded
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        key = _bearer()
        body = request.get_data(cache=True)
        _check_signature(key, body)
        g.api_key = key
        api_keys.touch(key)
        idem = request.headers.get(IDEMPOTENCY_HEADER, "")
        if not _IDEMPOTENCY_KEY.match(idem):
            raise ApiProblem(
                400,
                "idempotency-key",
                "Idempotency-Key required",
                "Send an Idempotency-Key header (1-255 visible ASCII characters) with writes.",
            )
        print_ = idempotency.fingerprint(request.method, request.path, body)
        seen = idempotency.lookup(key.merchant_id, idem, print_)
        row = None
        if seen is None:
            row = idempotency.reserve(key.merchant_id, idem, print_)
            if row is None:
                seen = idempotency.lookup(key.merchant_id, idem, print_)
        if seen is not None:
            if seen.conflict == "body":
                raise ApiProblem(
                    409,
                    "idempotency-conflict",
                    "Idempotency-Key reused",
                    "This Idempotency-Key was used with another request.",
                )
            if seen.conflict:
                raise ApiProblem(
                    409,
                    "idempotency-in-progress",
                    "Request in progress",
                    "A request with this Idempotency-Key is still running; retry later.",
                )
            return json_response(seen.status, seen.body, replayed=True)
        status, answer = _run(view, args, kwargs)
        idempotency.remember(key.merchant_id, idem, print_, status, answer, row)
        return json_response(status, answer)

    return wrapped


def _run(view: Callable[..., Result], args: Any, kwargs: Any) -> Result:
    """The view's answer; refusals become problem bodies (so they are remembered too)."""
    try:
        return view(*args, **kwargs)
    except ValidationError as exc:
        unit_of_work.rollback()
        problem = validation_problem(exc)
    except NotFound as exc:
        unit_of_work.rollback()
        problem = domain_problem(exc)
    except DomainError as exc:
        unit_of_work.rollback()
        problem = domain_problem(exc)
    return problem.status, problem.body()
