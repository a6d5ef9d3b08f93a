"""Staff sessions in the signed cookie: the login's epoch and times, checked on every request.

The cookie names the login, the epoch it was issued under, when the login happened and when
the last request came. A copy of the cookie stops working when the epoch moves on (logout,
password change, a supervisor's "sign out everywhere"), after the idle timeout and after the
absolute timeout (``STAFF_IDLE_MINUTES``, ``STAFF_ABSOLUTE_HOURS``).
"""

from __future__ import annotations

from flask import session
from flask_login import login_user, logout_user

from portal.models import User
from portal.services import context
from portal.services.accounts import staff

EPOCH = "staff_epoch"
LOGGED_IN_AT = "staff_login_at"
SEEN_AT = "staff_seen_at"
#: the last-seen time is rewritten at most this often (each rewrite re-sends the cookie)
SEEN_RESOLUTION_SECONDS = 30
_FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")


def _now() -> float:
    return context.now().timestamp()


def start(user: User) -> None:
    """Log ``user`` in on this browser, under the login's current epoch."""
    forget()
    login_user(user)
    now = int(_now())
    session[EPOCH] = user.session_epoch
    session[LOGGED_IN_AT] = now
    session[SEEN_AT] = now


def forget() -> None:
    """Drop the staff login from this browser's cookie (other devices are not touched)."""
    logout_user()
    for key in (EPOCH, LOGGED_IN_AT, SEEN_AT, *_FLASK_LOGIN_KEYS):
        session.pop(key, None)


def load(user_id: str) -> User | None:
    """The session's staff login if it still stands (Flask-Login's user loader), else None."""
    try:
        user = staff.active_user(int(user_id))
    except ValueError:
        user = None
    now = _now()
    if user is None or not staff.session_valid(
        user, session.get(EPOCH), session.get(LOGGED_IN_AT), session.get(SEEN_AT), now
    ):
        for key in (EPOCH, LOGGED_IN_AT, SEEN_AT, *_FLASK_LOGIN_KEYS):
            session.pop(key, None)
        return None
    if now - float(session[SEEN_AT]) >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_AT] = int(now)
    return user
