"""Checking the audit trail: every chain link by link, the chain heads, and the seals (their
signatures, their own chain, and the heads they name against the events). A broken history
is reported, never raised: each chain's first event that does not fit, with why.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Text, cast, or_, select

from portal.domain import audit_chain
from portal.extensions import db
from portal.models import AuditSeal, AuditSealHead, ChainHead, Event
from portal.services.audit import keys

EVENTS = Event.__table__
HEADS = ChainHead.__table__
SEAL_HEADS = AuditSealHead.__table__
#: an event older than a seal by this much, yet after its chain's sealed head, came in late
UNSEALED_GRACE = timedelta(hours=1)
_COLUMNS = ["id", "prev_hash", "hash", *audit_chain.CONTENT_FIELDS]
STREAM = 10_000


@dataclass(frozen=True)
class Problem:
    """One thing in the trail that does not fit."""

    code: str  # content_changed, link_broken, out_of_place, not_chained, head_*, seal_*, ...
    chain: str
    event_id: int | None = None
    seq: int | None = None
    detail: str = ""

    def describe(self) -> str:
        """One line for an operator."""
        where = f"event #{self.event_id}" if self.event_id is not None else "no event"
        place = f" (chain {self.chain}, seq {self.seq})" if self.seq is not None else ""
        if self.event_id is None and self.seq is None:
            place = f" (chain {self.chain})"
        return f"{self.code}: {where}{place}{': ' + self.detail if self.detail else ''}"


@dataclass
class Report:
    """What a verify run checked and found."""

    events: int = 0
    chains: int = 0
    seals: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The problem at the lowest event id (the earliest row that does not fit)."""
        with_event = [p for p in self.problems if p.event_id is not None]
        if with_event:
            return min(with_event, key=lambda p: p.event_id or 0)
        return self.problems[0] if self.problems else None


def _check_seals(report: Report, chains: set[str] | None) -> dict[str, dict[int, str]]:
    """Check every seal; return what the good ones name (per chain, seq -> hash)."""
    trusted = keys.trusted_public_keys()
    named: dict[str, dict[int, str]] = defaultdict(dict)
    prev_hash = audit_chain.GENESIS
    expected_no = 1
    seals = db.session.scalars(select(AuditSeal).order_by(AuditSeal.seal_no)).all()
    report.seals = len(seals)
    for seal in seals:
        where = f"seal:{seal.day}"
        payload = seal.payload.encode()
        try:
            signed = json.loads(payload)
        except ValueError:
            signed = {}
        problem = None
        if seal.public_key not in trusted:
            problem = "seal_untrusted_key"
        elif not keys.signature_valid(seal.public_key, seal.signature, payload):
            problem = "seal_signature"
        elif (
            seal.seal_no != expected_no
            or signed.get("seal_no") != seal.seal_no
            or signed.get("prev") != prev_hash
            or seal.prev_hash != prev_hash
            or signed.get("day") != seal.day
        ):
            problem = "seal_link"
        elif audit_chain.seal_hash(payload) != seal.seal_hash:
            problem = "seal_hash"
        heads = db.session.execute(
            select(SEAL_HEADS.c.chain, SEAL_HEADS.c.seq, SEAL_HEADS.c.hash).where(
                SEAL_HEADS.c.seal_id == seal.id
            )
        ).all()
        if problem is None and (
            audit_chain.heads_digest((c, s, h) for c, s, h in heads) != signed.get("heads_digest")
        ):
            problem = "seal_heads"
        if problem:
            report.problems.append(Problem(problem, where, detail=f"seal {seal.seal_no}"))
        else:
            for chain, seq, head in heads:
                if chains is None or chain in chains:
                    named[chain][seq] = head
        prev_hash, expected_no = seal.seal_hash, seal.seal_no + 1
    return named


def _event_rows(case_id: int | None) -> Any:
    # ``data`` as its stored text, parsed here: the drivers' JSON loaders cost more per row
    # than the rest of a link's check
    columns = [
        cast(EVENTS.c.data, Text).label("data") if name == "data" else EVENTS.c[name]
        for name in _COLUMNS
    ]
    stmt = select(*columns)
    if case_id is not None:
        chain = audit_chain.case_chain(case_id)
        stmt = stmt.where(or_(EVENTS.c.chain == chain, EVENTS.c.case_id == case_id))
    stmt = stmt.order_by(EVENTS.c.chain, EVENTS.c.chain_seq, EVENTS.c.id)
    return db.session.execute(stmt.execution_options(yield_per=STREAM))


def verify(case_id: int | None = None) -> Report:
    """Check the whole trail, or one case's chain (and the seals); never raises on a broken
    history."""
    report = Report()
    scope = {audit_chain.case_chain(case_id)} if case_id is not None else None
    named = _check_seals(report, scope)
    last_seal = db.session.scalars(
        select(AuditSeal).order_by(AuditSeal.seal_no.desc()).limit(1)
    ).first()
    cutoff = last_seal.sealed_at - UNSEALED_GRACE if last_seal else None
    broken: set[str] = set()
    ends: dict[str, tuple[int, str, int]] = {}  # chain -> (seq, hash, event id) of its last
    chain: str | None = None
    seq, prev = 0, audit_chain.GENESIS
    # events of the current chain whose content no longer matches their hash, waiting for a
    # later erasure receipt that names them: seq -> (event id, stored hash, hash as it is)
    blanked: dict[int, tuple[int, str, str]] = {}
    for row in _event_rows(case_id):
        report.events += 1
        event = dict(zip(_COLUMNS, row, strict=True))
        event["data"] = _parse(event["data"])
        if event["chain"] != chain:
            _unexplained(report, chain, blanked, broken)
            chain, seq, prev = event["chain"], 0, audit_chain.GENESIS
            report.chains += 1
        if chain is None:
            report.problems.append(Problem("not_chained", "-", event["id"]))
            continue
        if chain in broken:
            continue
        found = _link_problem(event, seq + 1, prev, named.get(chain, {}), cutoff)
        if found and found[0] == "content_changed":
            # perhaps blanked by an erasure: the link still holds if a later receipt says so
            blanked[event["chain_seq"]] = (
                event["id"],
                event["hash"],
                audit_chain.link_hash(prev, event),
            )
            found = _sealed_problem(event, named.get(chain, {}), cutoff)
        if found:
            report.problems.append(
                Problem(found[0], chain, event["id"], event["chain_seq"], found[1])
            )
            broken.add(chain)
            blanked.clear()
            continue
        if event["kind"] == audit_chain.ERASED and event["chain_seq"] not in blanked:
            _explain(blanked, audit_chain.receipt_covers(event["data"]))
        seq, prev = event["chain_seq"], event["hash"]
        ends[chain] = (seq, prev, event["id"])
    _unexplained(report, chain, blanked, broken)
    _check_heads(report, ends, broken, scope)
    _check_sealed_present(report, named, ends, broken)
    return report


def _parse(stored: str | None) -> Any:
    if stored is None or stored == "{}":
        return {}
    try:
        return json.loads(stored)
    except ValueError:
        return stored  # not JSON: it cannot match the hash, which is what verify reports


def _link_problem(
    event: dict[str, Any],
    expected_seq: int,
    prev: str,
    sealed: dict[int, str],
    cutoff: Any,
) -> tuple[str, str] | None:
    """Why ``event`` does not fit where it sits in its chain, or None."""
    if event["chain"] != audit_chain.chain_key(event["case_id"], event["order_id"]):
        return "wrong_chain", "the event names another case or order than its chain"
    if event["chain_seq"] != expected_seq:
        return "out_of_place", f"expected seq {expected_seq} (a row missing, added or moved)"
    if event["prev_hash"] != prev:
        return "link_broken", "its previous hash is not the hash of the event before it"
    if event["hash"] != audit_chain.link_hash(prev, event):
        return "content_changed", "its content does not match its hash"
    return _sealed_problem(event, sealed, cutoff)


def _sealed_problem(
    event: dict[str, Any], sealed: dict[int, str], cutoff: Any
) -> tuple[str, str] | None:
    """Why ``event`` does not fit its seals, or None."""
    if event["chain_seq"] in sealed and sealed[event["chain_seq"]] != event["hash"]:
        return "seal_mismatch", "a seal names another hash at this place"
    if (
        cutoff is not None
        and event["created_at"] < cutoff
        and not any(s >= event["chain_seq"] for s in sealed)
    ):
        return "unsealed", "older than the last seal but not covered by it"
    return None


def _explain(blanked: dict[int, tuple[int, str, str]], covers: dict[int, tuple[str, str]]) -> None:
    """Drop from ``blanked`` the events an intact receipt names with exactly their stored hash
    and their content as it is now."""
    for place, (stored, redacted) in covers.items():
        waiting = blanked.get(place)
        if waiting is not None and waiting[1] == stored and waiting[2] == redacted:
            del blanked[place]


def _unexplained(
    report: Report,
    chain: str | None,
    blanked: dict[int, tuple[int, str, str]],
    broken: set[str],
) -> None:
    """At a chain's end: a changed event no later receipt explains was changed."""
    if chain is not None and blanked:
        place = min(blanked)
        event_id = blanked[place][0]
        report.problems.append(
            Problem(
                "content_changed",
                chain,
                event_id,
                place,
                "its content does not match its hash (no erasure receipt explains it)",
            )
        )
        broken.add(chain)
    blanked.clear()


def _check_heads(
    report: Report,
    ends: dict[str, tuple[int, str, int]],
    broken: set[str],
    scope: set[str] | None,
) -> None:
    stmt = select(HEADS.c.chain, HEADS.c.seq, HEADS.c.hash)
    if scope is not None:
        stmt = stmt.where(HEADS.c.chain.in_(scope))
    heads = {chain: (seq, head) for chain, seq, head in db.session.execute(stmt)}
    for chain, (seq, head, event_id) in ends.items():
        if chain in broken:
            continue
        if chain not in heads:
            report.problems.append(Problem("head_missing", chain, event_id, seq))
        elif heads[chain] != (seq, head):
            report.problems.append(
                Problem(
                    "head_mismatch",
                    chain,
                    event_id,
                    seq,
                    f"the chain's head is at seq {heads[chain][0]}: events were removed or added",
                )
            )
    for chain, (seq, _head) in heads.items():
        if chain not in ends and chain not in broken:
            report.problems.append(
                Problem("events_missing", chain, None, seq, "the chain has a head but no events")
            )


def _check_sealed_present(
    report: Report,
    named: dict[str, dict[int, str]],
    ends: dict[str, tuple[int, str, int]],
    broken: set[str],
) -> None:
    for chain, sealed in named.items():
        if chain in broken:
            continue
        last = ends.get(chain, (0, "", None))
        beyond = [s for s in sealed if s > last[0]]
        if beyond:
            report.problems.append(
                Problem(
                    "sealed_missing",
                    chain,
                    last[2],
                    max(beyond),
                    "a seal names events that are no longer there",
                )
            )
