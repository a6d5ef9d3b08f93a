"""Staff accounts: reviewers, supervisors and merchant staff."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, User
from portal.services.accounts.passwords import check_password, hash_password
from portal.services.errors import DomainError
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
    if check_password(user.password_hash if user else None, password) and user and user.active:
        return user
    return None
