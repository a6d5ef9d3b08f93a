"""The operator's risk rules: read them (the defaults where none was saved) and change one,
recording who changed what, from which thresholds to which."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal.domain import risk
from portal.domain.risk import Rule, SignalCode
from portal.extensions import db
from portal.models import RiskRuleRow
from portal.services import context
from portal.services.actors import Actor
from portal.services.errors import DomainError
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit

_RULE_ERRORS = {
    "negative": N_("A threshold must be a whole number of at least 1, or left empty."),
    "too_large": N_("That threshold is larger than any count or amount could be."),
    "order": N_("The high-risk threshold cannot be below the review threshold."),
}


@dataclass(frozen=True)
class RuleRow:
    """A rule as the settings page shows it."""

    signal: SignalCode
    rule: Rule
    default: Rule
    changed_at: datetime | None
    changed_by: str


def current() -> dict[SignalCode, Rule]:
    """Every signal's rule in force (one statement)."""
    rules = dict(risk.DEFAULT_RULES)
    for row in db.session.scalars(select(RiskRuleRow)):
        if row.signal in SignalCode.__members__.values():
            rules[SignalCode(row.signal)] = Rule(row.review_at, row.high_at)
    return rules


def listing() -> list[RuleRow]:
    """The rules with their defaults and who last changed each, in the signals' order."""
    saved = {row.signal: row for row in db.session.scalars(select(RiskRuleRow))}
    out = []
    for code in SignalCode:
        row = saved.get(str(code))
        default = risk.DEFAULT_RULES[code]
        rule = Rule(row.review_at, row.high_at) if row else default
        out.append(
            RuleRow(
                code, rule, default, row.changed_at if row else None, row.changed_by if row else ""
            )
        )
    return out


def change(signal: str, review_at: int | None, high_at: int | None, actor: Actor) -> Rule:
    """Set one signal's thresholds; writes ``risk_rule_changed`` with the old and new values."""
    try:
        code = SignalCode(signal)
    except ValueError:
        raise DomainError(N_("There is no such risk signal."), rule="risk_signal") from None
    try:
        new = risk.checked_rule(review_at, high_at)
    except risk.RuleError as exc:
        raise DomainError(_RULE_ERRORS[exc.code], rule="risk_rule") from None

    def work() -> Rule:
        row = db.session.get(RiskRuleRow, str(code), with_for_update=True)
        old = Rule(row.review_at, row.high_at) if row else risk.DEFAULT_RULES[code]
        if row is None:
            row = RiskRuleRow(signal=str(code))
            db.session.add(row)
        row.review_at, row.high_at = new.review_at, new.high_at
        row.changed_at = context.now()
        row.changed_by = actor.label
        record(
            "risk_rule_changed",
            actor,
            data={
                "signal": str(code),
                "old": [old.review_at, old.high_at],
                "new": [new.review_at, new.high_at],
            },
        )
        return new

    return commit(work)
