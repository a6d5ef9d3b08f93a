"""Web edges shared by every blueprint: error pages, security headers, template filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import redis.exceptions
from flask import Flask, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from portal.domain import contacts, labels, payout_states
from portal.domain import deadlines as case_deadlines
from portal.domain import states as case_states
from portal.domain.freeze_states import FreezeState
from portal.domain.money import format_yuan
from portal.domain.offer_states import OfferState
from portal.domain.payout_states import PayoutState
from portal.domain.policy import Decision
from portal.domain.states import State
from portal.domain.text import bad_character
from portal.domain.ticket_states import TicketState
from portal.extensions import db
from portal.infra.i18n import gettext
from portal.plugins.channels import ChannelError
from portal.plugins.startup import channels
from portal.services.errors import DomainError
from portal.views import note_words, punctuation
from portal.views.form_writing import request_csrf_token
from portal.views.upload_limits import handle_too_large

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
#: ``Retry-After`` when Redis is down (a restart or fail-over takes about this long)
DEPENDENCY_RETRY_SECONDS = 30
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def translated(message: str, params: Mapping[str, str]) -> str:
    """A message id translated now, its parameters filled in."""
    text = gettext(message)
    return text % params if params else text


def domain_message(exc: DomainError) -> str:
    """The translated message of a domain error."""
    return translated(exc.message, exc.params)


def rule_text(decision: Decision) -> str:
    """The translated sentence of a rule's decision (eligible or the refusal)."""
    return translated(decision.message, decision.params)


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format an aware datetime in China time."""
    return value.astimezone(LOCAL_TZ).strftime(fmt) if value else ""


def own_words(value: object) -> Markup:
    """Text a shop, a buyer or a staff member wrote (a product title, a name, a note), marked
    as not to be translated: it is shown as written, in whatever language it was written."""
    return Markup('<bdi translate="no">{}</bdi>').format(value)


def masked_contact(value: str | None) -> Markup:
    """A buyer's contact as staff and merchant pages show it: masked (portal.domain.contacts),
    marked as not to be translated. The one way a template shows a contact."""
    return own_words(contacts.mask(value))


def own_values(params: dict[str, object]) -> dict[str, object]:
    """A message's parameters with the text ones marked as written by someone (see own_words)."""
    return {k: own_words(v) if isinstance(v, str) else v for k, v in params.items()}


def channel_name(channel_id: str) -> str | Markup:
    """A payout channel's name in the reader's language (its id as code when not loaded)."""
    try:
        return str(channels().get(channel_id).label)
    except ChannelError:
        return Markup("<code>{}</code>").format(channel_id)


def install_web_helpers(app: Flask) -> None:
    """Register filters, error handlers and response headers."""
    app.jinja_env.filters["yuan"] = format_yuan
    app.jinja_env.filters["local"] = local_time
    app.jinja_env.filters["own"] = own_words
    app.jinja_env.filters["own_values"] = own_values
    app.jinja_env.filters["contact"] = masked_contact
    app.jinja_env.globals["domain_message"] = domain_message
    app.jinja_env.globals["rule_text"] = rule_text
    app.jinja_env.globals["labels"] = labels
    app.jinja_env.globals["channel_name"] = channel_name
    app.jinja_env.filters["duration"] = note_words.duration_words
    app.jinja_env.filters["time_left"] = note_words.time_left_words
    app.jinja_env.globals.update(
        event_note=note_words.event_note,
        person_words=note_words.person_words,
        gateway_text=note_words.gateway_text,
        decision_text=note_words.decision_text,
        note_text=note_words.note_text,
        colon=punctuation.colon,
        paren=punctuation.paren,
        series=punctuation.series,
    )
    # Flask-WTF puts its own in the globals and in every template's context: both replaced
    csrf_token = app.jinja_env.globals["csrf_token"] = request_csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})
    # templates compare states to these, never to spelled values
    app.jinja_env.globals.update(
        State=State,
        PayoutState=PayoutState,
        FreezeState=FreezeState,
        OfferState=OfferState,
        TicketState=TicketState,
        case_states=case_states,
        payout_states=payout_states,
        case_deadlines=case_deadlines,
    )

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        hsts = int(app.config.get("HSTS_SECONDS") or 0)
        if hsts > 0 and request.is_secure:  # behind a TLS proxy: TRUSTED_PROXY_HOPS gives https
            resp.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")
        resp.vary.add("HX-Request")
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    app.register_error_handler(413, handle_too_large)
    # first of all before-request hooks (CSRF and sessions read the request too)
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_control_characters_in_url)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError) -> ResponseReturnValue:
        return error_page(exc.status_code, domain_message(exc))

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return error_page(
            400,
            gettext(
                "The form expired or did not come from this site. Go back, reload and try again."
            ),
        )

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(redis.exceptions.BusyLoadingError)
    def _dependency_down(exc: Exception) -> ResponseReturnValue:
        # the failure throttles, the replay guard and the queue live in Redis: without it a
        # lookup, a login or a signed write cannot be checked, so nothing is done (fail closed)
        app.logger.warning("Redis unavailable: %s", exc)
        db.session.rollback()
        headers = {"Retry-After": str(DEPENDENCY_RETRY_SECONDS)}
        if request.path.startswith("/api/"):
            resp = _api_problem(503, "Service Unavailable")
            resp.headers.update(headers)
            return resp
        body, status, page_headers = error_page(
            503,
            gettext(
                "A service the portal needs is not answering. Nothing was saved. "
                "Try again in a minute."
            ),
        )
        return body, status, {**page_headers, **headers}

    @app.errorhandler(IntegrityError)
    def _lost_race(exc: IntegrityError) -> ResponseReturnValue:
        # two requests raced for the same unique row (an application and an API
        # cancellation, an appeal and a new application): the loser changed nothing
        app.logger.info("a concurrent change won: %s", exc.orig)
        db.session.rollback()
        if request.path.startswith("/api/"):
            return _api_problem(409, "Conflict")
        return error_page(
            409,
            gettext(
                "Someone else changed this at the same moment, so nothing was saved. "
                "Reload the page to see the new state and try again."
            ),
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        if request.path.startswith("/api/"):
            return _api_problem(exc.code or 500, exc.name)
        return error_page(exc.code or 500, gettext(labels.http_error_label(exc.code or 500)))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        app.logger.exception("unhandled error")
        if request.path.startswith("/api/"):
            return _api_problem(500, "Internal Server Error")
        return error_page(500, gettext("Something went wrong on our side. Nothing was saved."))


def url_control_character() -> tuple[str, str, int] | None:
    """(where, "U+XXXX", position) of the first control character in the path's parameters
    or the query string (names and values), or None. Forms are checked by ``PortalForm``,
    API bodies by ``api_schema``; this covers what reaches a view through the address."""
    parts = [(f"path:{k}", v) for k, v in (request.view_args or {}).items() if isinstance(v, str)]
    for key, values in request.args.lists():
        parts.append(("query", key))
        parts.extend((f"query:{key}", v) for v in values)
    for where, text in parts:
        found = bad_character(text)
        if found is not None:
            return where, found[1], found[0]
    return None


def refuse_control_characters_in_url() -> ResponseReturnValue | None:
    """400 with a clear message, before any view (and any query) sees such an address."""
    found = url_control_character()
    if found is None:
        return None
    where, char, position = found
    if request.path.startswith("/api/"):
        # heavy: pydantic, for the API only
        from portal.views.api_auth import problem_response

        return problem_response(
            400,
            {
                "type": "/api/v1/problems/control-character",
                "title": "Control character in the address",
                "status": 400,
                "detail": f"{where} holds {char} at position {position}; control characters"
                " (U+0000-U+001F, U+007F-U+009F) are not allowed in paths or query strings.",
            },
        )
    return error_page(
        400,
        gettext(
            "The address contains an invisible control character (%(char)s), which is not"
            " allowed. Check the link, or type the address again.",
            char=char,
        ),
    )


def _api_problem(status: int, title: str) -> Response:
    from portal.views.api_auth import problem_response  # heavy: pydantic, for the API only

    slug = title.lower().replace(" ", "-")
    return problem_response(
        status, {"type": f"/api/v1/problems/{slug}", "title": title, "status": status}
    )


ALERTS = "#alerts"  # base.html: where an htmx action's error is shown, above the page


def error_page(status: int, message: str) -> tuple[str, int, dict[str, str]]:
    """The error page with ``message``; for an htmx action, the message alone, shown in the
    page's alert area (whatever the form's own target) so that it never goes unseen."""
    hx = getattr(request, "htmx", None)
    if hx and not getattr(hx, "boosted", False):
        headers = {"HX-Retarget": ALERTS, "HX-Reswap": "innerHTML"}
        return render_template("_error.html", message=message, status=status), status, headers
    return render_template("error.html", message=message, status=status), status, {}
