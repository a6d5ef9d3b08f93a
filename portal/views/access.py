"""Who may see what: buyers their looked-up orders, merchants their shop, reviewers all."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required

from portal.domain.states import Role
from portal.services.actors import Actor
from portal.services.refunds import cases
from portal.views import buyer_access


def may_see_case(case_id: int) -> bool:
    """Whether the current visitor is a party to the case."""
    case = cases.find_case(case_id)
    if case is None:
        return False
    if buyer_access.allowed(case.order_id):
        return True
    if current_user.is_authenticated:
        if current_user.role in ("reviewer", "supervisor"):
            return True
        if current_user.role == "merchant":
            return current_user.merchant_id == case.order.merchant_id
    return False


def staff_actor() -> Actor:
    """The logged-in staff member as an Actor."""
    role = Role.MERCHANT if current_user.role == "merchant" else Role.REVIEWER
    return Actor(
        role,
        user_id=current_user.id,
        label=current_user.display_name,
        merchant_id=current_user.merchant_id,
        supervisor=current_user.role == "supervisor",
    )


def reviewer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only reviewers and supervisors."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user.role not in ("reviewer", "supervisor"):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def merchant_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only merchant staff (each sees only its own shop)."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != "merchant" or current_user.merchant_id is None:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def supervisor_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only supervisors (operators: plugins, channels, settings)."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != "supervisor":
            abort(403)
        return view(*args, **kwargs)

    return wrapped
