"""The daily seal: every chain head that moved since the last seal, with that seal's hash,
signed with the portal's key; made once per day (a second run finds it made), and exported as
a document a supervisor or merchant can check without the portal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.domain import audit_chain
from portal.extensions import db
from portal.models import AuditSeal, AuditSealHead, ChainHead
from portal.services import context
from portal.services.audit import keys

HEADS = ChainHead.__table__
SEAL_HEADS = AuditSealHead.__table__
#: seals are dated by the day in Beijing, where the platform works
BEIJING = timezone(timedelta(hours=8))


def day_of(moment: datetime) -> str:
    """The Beijing date of ``moment``, as a seal names its day."""
    return moment.astimezone(BEIJING).date().isoformat()


def yesterday(now: datetime) -> str:
    """The day a seal made at ``now`` closes: the Beijing day before."""
    return (moment_day(now) - timedelta(days=1)).isoformat()


def moment_day(moment: datetime) -> date:
    """The Beijing date of ``moment``."""
    return moment.astimezone(BEIJING).date()


def last_seal() -> AuditSeal | None:
    """The newest seal, if any."""
    return db.session.scalars(select(AuditSeal).order_by(AuditSeal.seal_no.desc()).limit(1)).first()


def moved_heads() -> list[tuple[str, int, str]]:
    """Every chain head past the last seq a seal named for its chain (or never sealed)."""
    sealed = (
        select(SEAL_HEADS.c.chain, func.max(SEAL_HEADS.c.seq).label("seq"))
        .group_by(SEAL_HEADS.c.chain)
        .subquery()
    )
    rows = db.session.execute(
        select(HEADS.c.chain, HEADS.c.seq, HEADS.c.hash)
        .outerjoin(sealed, sealed.c.chain == HEADS.c.chain)
        .where((sealed.c.seq.is_(None)) | (HEADS.c.seq > sealed.c.seq))
        .order_by(HEADS.c.chain)
    ).all()
    return [(chain, seq, head) for chain, seq, head in rows]


def find(day: str) -> AuditSeal | None:
    """The seal of ``day``, if made."""
    return db.session.scalars(select(AuditSeal).where(AuditSeal.day == day)).first()


def is_sealed(day: str) -> bool:
    """Whether ``day`` has its seal."""
    return db.session.scalar(select(AuditSeal.id).where(AuditSeal.day == day)) is not None


@dataclass(frozen=True)
class SealResult:
    """The seal for a day, and whether this call made it."""

    seal: AuditSeal
    made: bool


def seal_day(day: str) -> SealResult:
    """The seal for ``day`` (YYYY-MM-DD): found if made already, else made now and committed.

    Two runs at once: the unique day and previous-hash columns let one win; the other finds
    the winner's seal."""
    date.fromisoformat(day)  # a malformed day is the caller's error, before anything is read
    existing = find(day)
    if existing is not None:
        return SealResult(existing, made=False)
    prev = last_seal()
    heads = moved_heads()
    now = context.now()
    seal_no = prev.seal_no + 1 if prev else 1
    prev_hash = prev.seal_hash if prev else audit_chain.GENESIS
    digest = audit_chain.heads_digest(heads)
    payload = audit_chain.seal_payload(
        seal_no=seal_no,
        day=day,
        sealed_at=now,
        prev_hash=prev_hash,
        digest=digest,
        count=len(heads),
    )
    signature, public_key = keys.sign(payload)
    seal = AuditSeal(
        seal_no=seal_no,
        day=day,
        sealed_at=now,
        prev_hash=prev_hash,
        seal_hash=audit_chain.seal_hash(payload),
        heads_digest=digest,
        head_count=len(heads),
        payload=payload.decode(),
        signature=signature,
        public_key=public_key,
    )
    try:
        db.session.add(seal)
        db.session.flush()
        if heads:
            db.session.execute(
                SEAL_HEADS.insert(),
                [{"seal_id": seal.id, "chain": c, "seq": s, "hash": h} for c, s, h in heads],
            )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        winner = find(day)
        if winner is None:
            raise
        return SealResult(winner, made=False)
    return SealResult(seal, made=True)


def export(seal: AuditSeal) -> dict[str, Any]:
    """A seal as a document to hand over: the signed payload, its signature and key, and the
    heads it names (their digest is in the payload)."""
    heads = db.session.execute(
        select(SEAL_HEADS.c.chain, SEAL_HEADS.c.seq, SEAL_HEADS.c.hash)
        .where(SEAL_HEADS.c.seal_id == seal.id)
        .order_by(SEAL_HEADS.c.chain)
    ).all()
    return {
        "payload": seal.payload,
        "signature": seal.signature,
        "public_key": seal.public_key,
        "seal_hash": seal.seal_hash,
        "heads": [{"chain": c, "seq": s, "hash": h} for c, s, h in heads],
    }


def check_document(document: dict[str, Any], public_key: str | None = None) -> list[str]:
    """What is wrong with an exported seal document (empty: it checks), using only the
    document and, if given, the public key the reader trusts."""
    problems = []
    payload = str(document.get("payload", "")).encode()
    key = public_key or str(document.get("public_key", ""))
    if public_key and document.get("public_key") != public_key:
        problems.append("signed with another key")
    if not keys.signature_valid(key, str(document.get("signature", "")), payload):
        problems.append("signature does not match")
    try:
        signed = json.loads(payload)
        heads = [(h["chain"], int(h["seq"]), h["hash"]) for h in document.get("heads", [])]
    except (ValueError, KeyError, TypeError):
        return [*problems, "not a seal document"]
    if signed.get("heads_digest") != audit_chain.heads_digest(heads):
        problems.append("heads do not match the signed digest")
    if audit_chain.seal_hash(payload) != document.get("seal_hash"):
        problems.append("seal hash does not match")
    return problems
