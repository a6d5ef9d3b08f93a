"""A case's risk: its signals combined under the operator's rules, kept on the case when it
is filed (with an event), measured again for the reviewer's page, and the fast lane's answer."""

from __future__ import annotations

import ipaddress

from portal.domain import risk
from portal.domain.policy import Reason
from portal.domain.risk import Assessment, FastLaneFacts, FastLaneRule, RiskLevel
from portal.extensions import db
from portal.models import Order, RefundCase
from portal.services.risk import fast_lane, plugin_signals, rules, signals


def network_address(raw: str | None) -> str:
    """The client's address as a canonical IP text, or "" if ``raw`` is not one (a forwarded
    header can carry anything)."""
    try:
        return str(ipaddress.ip_address((raw or "").strip()))
    except ValueError:
        return ""


def measure(
    case: RefundCase,
    order: Order,
    with_files: bool | None = None,
    from_plugins: list[risk.Signal] | None = None,
) -> Assessment:
    """The case's signals and level now, under the rules in force. ``with_files``: whether
    the case has evidence files (None: look at ``case.evidence``); ``from_plugins``: the risk
    plugins' signals (None: those kept on the case when it was filed)."""
    files = bool(case.evidence) if with_files is None else with_files
    found = signals.measure(case, order, files)
    found += plugin_signals.kept_on(case) if from_plugins is None else from_plugins
    return risk.assess(found, rules.current())


def on_filing(
    case: RefundCase, order: Order, with_files: bool, from_plugins: list[risk.Signal] | None = None
) -> Assessment:
    """Assess a case just filed (flushed with its files, in the caller's transaction) and keep
    the level and signals on it (the caller records them with the application's event).
    ``from_plugins``: the risk plugins' signals, asked before the filing wrote anything."""
    db.session.flush()
    found = measure(case, order, with_files, from_plugins or [])
    case.risk_level = str(found.level)
    case.risk_signals = found.to_json()
    return found


def fast_lane_rule(case: RefundCase, order: Order, found: Assessment) -> FastLaneRule | None:
    """The fast-lane rule that approves ``case`` at once, or None."""
    if found.level != RiskLevel.LOW:
        return None
    lane = fast_lane.for_shop(order.merchant_id)
    codes = list(order.codes)
    return risk.fast_lane(
        FastLaneFacts(
            level=found.level,
            reason=Reason(case.reason),
            amount_fen=case.amount_requested_fen,
            codes_revealed=sum(1 for c in codes if c.first_revealed_at is not None),
            codes_delivered=len(codes),
            limit_fen=lane.limit_fen,
            opted_out=lane.opted_out,
        )
    )


def lane_limit(order: Order) -> int:
    """The fast-lane limit of the order's shop (for the approval's note)."""
    return fast_lane.for_shop(order.merchant_id).limit_fen


def may_approve_automatically(case: RefundCase) -> bool:
    """Whether an automatic approval may decide ``case`` now: neither the level kept when it
    was filed nor its level measured now (a watch-list entry added since) is high."""
    if not risk.may_decide_automatically(case.risk_level):
        return False
    return risk.may_decide_automatically(measure(case, case.order).level)
