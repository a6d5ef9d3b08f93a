"""Staff accounts: reviewers, supervisors and merchant staff."""

from __future__ import annotations

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Merchant, User
from portal.services import context
from portal.services.accounts.passwords import check_password, hash_password, staff_fix
from portal.services.errors import DomainError, NotFound
from portal.services.policy_text import N_


def create_staff_user(
    username: str,
    password: str,
    role: str,
    merchant_slug: str | None = None,
    display_name: str | None = None,
) -> User:
    """Create a staff login; merchant staff must name their merchant."""
    if role not in ("reviewer", "supervisor", "merchant"):
        raise DomainError(N_("Unknown role %(role)s."), rule="role", role=role)
    if len(password) < 8:
        raise DomainError(N_("Passwords need at least 8 characters."), rule="password")
    merchant_id = None
    if role == "merchant":
        merchant = db.session.scalar(select(Merchant).where(Merchant.slug == merchant_slug))
        if merchant is None:
            raise DomainError(
                N_("Unknown merchant %(slug)s."), rule="merchant", slug=str(merchant_slug)
            )
        merchant_id = merchant.id
    if db.session.scalar(select(User).where(User.username == username)):
        raise DomainError(N_("The username %(u)s is taken."), rule="username", u=username)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        merchant_id=merchant_id,
    )
    db.session.add(user)
    db.session.commit()
    return user


def active_user(user_id: int) -> User | None:
    """The staff login with this id, if it is still active (for the session's user loader)."""
    user = db.session.get(User, user_id)
    return user if user and user.active else None


def authenticate(username: str, password: str) -> User | None:
    """The active staff login with this name and password, else None.

    An unknown name costs as long to check as a wrong password (no timing hint).
    """
    user = db.session.scalar(select(User).where(User.username == username))

    def owner() -> tuple[str, str]:
        return f"staff login {username}", staff_fix(username)

    if check_password(user.password_hash if user else None, password, owner):
        return user if user and user.active else None
    return None


def end_sessions(user_id: int) -> None:
    """End every session of this login, on every device, including copies of its cookie."""
    db.session.execute(
        update(User).where(User.id == user_id).values(session_epoch=User.session_epoch + 1)
    )
    db.session.commit()


def set_password(user_id: int, password: str) -> None:
    """Give a login a new password; every session it had ends."""
    if len(password) < 8:
        raise DomainError(N_("Passwords need at least 8 characters."), rule="password")
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=hash_password(password), session_epoch=User.session_epoch + 1)
    )
    db.session.commit()


def change_own_password(user_id: int, current: str, new: str) -> None:
    """A staff member's own change: the current password first; every session ends."""
    user = get_staff(user_id)
    if not check_password(user.password_hash, current):
        raise DomainError(N_("The current password is wrong."), rule="password")
    set_password(user_id, new)


def all_staff() -> list[User]:
    """Every staff login, by role and name (for the supervisors' staff page)."""
    return list(db.session.scalars(select(User).order_by(User.role, User.username)))


def find_by_username(username: str) -> User | None:
    """The staff login with this username, if any."""
    return db.session.scalar(select(User).where(User.username == username))


def get_staff(user_id: int) -> User:
    """The staff login with this id, or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such staff login."), rule="user")
    return user


def session_valid(
    user: User, epoch: object, logged_in_at: object, seen_at: object, now: float
) -> bool:
    """Whether a session cookie's login still stands: same epoch, not idle, not too old.

    ``logged_in_at`` and ``seen_at`` are POSIX seconds from the cookie; anything else (an old
    cookie without them, a forged type) ends the session.
    """
    if not isinstance(epoch, int) or epoch != user.session_epoch:
        return False
    if not isinstance(logged_in_at, int | float) or not isinstance(seen_at, int | float):
        return False
    idle = float(context.setting("STAFF_IDLE_MINUTES")) * 60
    absolute = float(context.setting("STAFF_ABSOLUTE_HOURS")) * 3600
    return now - seen_at < idle and now - logged_in_at < absolute and logged_in_at <= now + 60


def reviewers() -> list[tuple[str, str]]:
    """(username, display name) of every active reviewer and supervisor, by name: whom a
    supervisor may give a case to."""
    rows = db.session.execute(
        select(User.username, User.display_name)
        .where(User.active.is_(True), User.role.in_(("reviewer", "supervisor")))
        .order_by(User.display_name, User.username)
    )
    return [(r.username, r.display_name) for r in rows]
