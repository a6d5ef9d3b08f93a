"""Who is acting: a role plus, for staff, their user id and a label for the timeline."""

from __future__ import annotations

from dataclasses import dataclass

from portal.domain.states import Role


@dataclass(frozen=True)
class Actor:
    """The person or process behind an action."""

    role: Role
    user_id: int | None = None
    label: str = ""
    merchant_id: int | None = None
    #: a supervisor may act on a case another reviewer works (portal.domain.assignment)
    supervisor: bool = False


SYSTEM = Actor(Role.SYSTEM, label="system")
BUYER = Actor(Role.BUYER, label="buyer")
