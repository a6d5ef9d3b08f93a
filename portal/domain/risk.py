"""Risk: the signals a case can raise, the operator's rules that turn them into a level, the
watch list's effect and the fast lane's test. Pure: no Flask, no database.

A signal is a code with a measured value (an integer) and parameters for its reason (a Note,
worded when shown). A rule gives each signal two thresholds: at or above ``review_at`` the
signal asks for a person, at or above ``high_at`` it makes the case high risk. The case's
level is the highest any of its signals reaches; a signal a rule leaves blank never raises it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from portal.domain.notes import Note
from portal.domain.policy import Reason


class RiskLevel(enum.StrEnum):
    """How much a case needs a person's eye, lowest first."""

    LOW = "low"
    REVIEW = "review"
    HIGH = "high"


_ORDER = {RiskLevel.LOW: 0, RiskLevel.REVIEW: 1, RiskLevel.HIGH: 2}


def highest(levels: Iterable[RiskLevel]) -> RiskLevel:
    """The highest of ``levels`` (LOW for none)."""
    return max(levels, key=_ORDER.__getitem__, default=RiskLevel.LOW)


class SignalCode(enum.StrEnum):
    """Every signal the portal computes (each has a Note code of the same name)."""

    REVEALED_BEFORE_CLAIM = "risk_revealed_before_claim"
    USED_BEFORE_CLAIM = "risk_used_before_claim"
    SAME_EVIDENCE = "risk_same_evidence"
    SIMILAR_EVIDENCE = "risk_similar_evidence"
    CONTACT_APPLICATIONS = "risk_contact_applications"
    CONTACT_REFUND_RATE = "risk_contact_refund_rate"
    CONTACT_REFUNDED_30D = "risk_contact_refunded_30d"
    CONTACT_APPEALS_LOST = "risk_contact_appeals_lost"
    PAYER_APPLICATIONS = "risk_payer_applications"
    VELOCITY_CONTACT_HOUR = "risk_velocity_contact_hour"
    VELOCITY_CONTACT_DAY = "risk_velocity_contact_day"
    VELOCITY_PAYER_HOUR = "risk_velocity_payer_hour"
    VELOCITY_PAYER_DAY = "risk_velocity_payer_day"
    VELOCITY_ADDRESS_HOUR = "risk_velocity_address_hour"
    VELOCITY_ADDRESS_DAY = "risk_velocity_address_day"
    WATCH_LIST = "risk_watch_list"
    SUPPLIER_REDEEMED = "risk_supplier_redeemed"
    SUPPLIER_UNKNOWN = "risk_supplier_unknown"
    PLUGIN = "risk_plugin"


#: the claims a revealed (or used) code contradicts: "the code does not work / is not it"
CODE_CLAIMS = frozenset({Reason.UNUSABLE, Reason.NOT_AS_DESCRIBED})


@dataclass(frozen=True)
class Signal:
    """One measured signal: its value (what rules compare) and its reason's parameters."""

    code: SignalCode
    value: int
    params: Mapping[str, str | int] = field(default_factory=dict)

    def note(self) -> Note:
        """The reason shown to staff, as a Note (worded when read)."""
        return Note(str(self.code), dict(self.params))


@dataclass(frozen=True)
class Rule:
    """Thresholds for one signal: None means this signal never reaches that level."""

    review_at: int | None
    high_at: int | None

    def level(self, value: int) -> RiskLevel:
        """The level ``value`` reaches under this rule."""
        if value <= 0:
            return RiskLevel.LOW
        if self.high_at is not None and value >= self.high_at:
            return RiskLevel.HIGH
        if self.review_at is not None and value >= self.review_at:
            return RiskLevel.REVIEW
        return RiskLevel.LOW


S = SignalCode
#: the rules an installation starts with (an operator's saved rule replaces one)
DEFAULT_RULES: dict[SignalCode, Rule] = {
    S.REVEALED_BEFORE_CLAIM: Rule(1, None),
    S.USED_BEFORE_CLAIM: Rule(1, 1),
    S.SAME_EVIDENCE: Rule(1, 3),
    S.SIMILAR_EVIDENCE: Rule(1, 3),
    S.CONTACT_APPLICATIONS: Rule(5, 20),
    S.CONTACT_REFUND_RATE: Rule(50, 90),  # percent, counted from 3 orders
    S.CONTACT_REFUNDED_30D: Rule(50000, 200000),  # fen
    S.CONTACT_APPEALS_LOST: Rule(1, 3),
    S.PAYER_APPLICATIONS: Rule(5, 20),
    S.VELOCITY_CONTACT_HOUR: Rule(3, 5),
    S.VELOCITY_CONTACT_DAY: Rule(5, 10),
    S.VELOCITY_PAYER_HOUR: Rule(3, 5),
    S.VELOCITY_PAYER_DAY: Rule(5, 10),
    S.VELOCITY_ADDRESS_HOUR: Rule(5, 10),
    S.VELOCITY_ADDRESS_DAY: Rule(10, 30),
    S.WATCH_LIST: Rule(None, 1),
    S.SUPPLIER_REDEEMED: Rule(1, 1),
    S.SUPPLIER_UNKNOWN: Rule(None, None),  # shown, raises nothing (an operator may set one)
    S.PLUGIN: Rule(1, 3),  # an installation's own signals (assess_refund_risk)
}

#: the orders a contact must have before its refund rate counts
REFUND_RATE_MIN_ORDERS = 3
#: the largest threshold an operator may set (values above any real count or amount)
MAX_THRESHOLD = 10**12


class RuleError(ValueError):
    """A rule an operator entered that cannot be kept (the code names what is wrong)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def checked_rule(review_at: int | None, high_at: int | None) -> Rule:
    """A rule from an operator's thresholds, or RuleError: ``negative`` (below 1),
    ``too_large``, ``order`` (high below review)."""
    for value in (review_at, high_at):
        if value is not None and value < 1:
            raise RuleError("negative")
        if value is not None and value > MAX_THRESHOLD:
            raise RuleError("too_large")
    if review_at is not None and high_at is not None and high_at < review_at:
        raise RuleError("order")
    return Rule(review_at, high_at)


@dataclass(frozen=True)
class Assessment:
    """A case's signals, the level each reaches, and the case's level."""

    level: RiskLevel
    signals: tuple[tuple[Signal, RiskLevel], ...]

    def to_json(self) -> list[dict[str, Any]]:
        """The signals as stored on the case (codes, values, parameters, levels)."""
        return [
            {"code": str(s.code), "value": s.value, "params": dict(s.params), "level": str(lv)}
            for s, lv in self.signals
        ]


def assess(signals: Iterable[Signal], rules: Mapping[SignalCode, Rule]) -> Assessment:
    """Combine ``signals`` under ``rules`` (missing rules: the defaults). Signals with a value
    of 0 are dropped: only what was found is shown."""
    scored = tuple(
        (s, rules.get(s.code, DEFAULT_RULES[s.code]).level(s.value)) for s in signals if s.value > 0
    )
    return Assessment(highest(lv for _, lv in scored), scored)


def refund_rate_percent(refunded_orders: int, orders: int) -> int:
    """A contact's refund rate in whole percent, 0 until it has enough orders to count."""
    if orders < REFUND_RATE_MIN_ORDERS or orders <= 0:
        return 0
    return min(100, refunded_orders * 100 // orders)


class WatchKind(enum.StrEnum):
    """What a watch-list entry matches."""

    CONTACT = "contact"
    PAYER = "payer"


class FastLaneRule(enum.StrEnum):
    """The rules under which the system approves a case at once (the case records which)."""

    NOT_DELIVERED = "fast_not_delivered"
    INVALID_UNREVEALED = "fast_invalid_unrevealed"


@dataclass(frozen=True)
class FastLaneFacts:
    """What the fast lane looks at."""

    level: RiskLevel
    reason: Reason
    amount_fen: int
    codes_revealed: int
    codes_delivered: int
    limit_fen: int  # the shop's limit (0: no fast lane)
    opted_out: bool


def fast_lane(facts: FastLaneFacts) -> FastLaneRule | None:
    """The rule that approves this case at once, or None (a person decides)."""
    if facts.opted_out or facts.level != RiskLevel.LOW:
        return None
    if facts.amount_fen <= 0 or facts.amount_fen > facts.limit_fen:
        return None
    if facts.reason == Reason.NOT_DELIVERED:
        return FastLaneRule.NOT_DELIVERED
    if facts.reason == Reason.UNUSABLE and facts.codes_delivered and not facts.codes_revealed:
        return FastLaneRule.INVALID_UNREVEALED
    return None


def may_decide_automatically(level: RiskLevel | str) -> bool:
    """Whether any automatic approval may decide a case at this level (never when high)."""
    return RiskLevel(level or RiskLevel.LOW) != RiskLevel.HIGH
