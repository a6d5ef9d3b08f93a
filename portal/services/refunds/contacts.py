"""Showing a buyer's whole contact to staff or to the case's shop: only on an explicit
request that says why, recorded in the case's audit trail (who, why) before it is shown."""

from __future__ import annotations

from portal.domain.contacts import REVEALED
from portal.models import RefundCase
from portal.services.actors import Actor
from portal.services.errors import DomainError
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit

WHY_MAX = 200


def reveal(case: RefundCase, actor: Actor, why: str) -> str:
    """The buyer's whole contact for ``case``, once the request (``actor``, ``why``) is
    recorded and committed; DomainError, with nothing written, without a reason."""
    why = (why or "").strip()
    if not why:
        raise DomainError(N_("Say why you need the buyer's full contact."), rule="why")
    if len(why) > WHY_MAX:
        raise DomainError(N_("Keep the reason under %(n)s characters."), rule="why", n=str(WHY_MAX))
    commit(lambda: record(REVEALED, actor, case=case, reason=why))
    return case.order.buyer_contact
