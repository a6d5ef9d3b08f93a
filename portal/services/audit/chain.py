"""Linking events into their chains as they are written, in the writer's transaction.

Two transactions appending to one chain must not both take the same head: each append first
locks the row the chain belongs to (the case, or the order; on PostgreSQL ``FOR NO KEY
UPDATE``, the lock an UPDATE of that row takes, so a transition and an append lock in one
order), then moves the chain's head row in one upsert that returns the head it replaced.
SQLite lets one writer at a time. A unique index on (chain, chain_seq) refuses a fork should
both ever get through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, any_, bindparam, literal, select, update

from portal.domain import audit_chain
from portal.extensions import db
from portal.models import ChainHead, Order, RefundCase
from portal.services.column_arrays import unnested

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

HEADS = ChainHead.__table__
CASES = RefundCase.__table__
ORDERS = Order.__table__


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _lock_owners(chains: Sequence[str]) -> None:
    """Lock the cases and orders the chains belong to, in id order (PostgreSQL only: SQLite
    holds one writer at a time)."""
    if _dialect() != "postgresql":
        return
    from sqlalchemy.dialects.postgresql import ARRAY  # heavy: the dialect, on PostgreSQL only

    for prefix, table in (("case:", CASES), ("order:", ORDERS)):
        ids = sorted({int(c.removeprefix(prefix)) for c in chains if c.startswith(prefix)})
        if ids:
            db.session.execute(
                select(table.c.id)
                .where(table.c.id == any_(literal(ids, ARRAY(Integer))))
                .order_by(table.c.id)
                .with_for_update(key_share=True)  # FOR NO KEY UPDATE: rows that refer to it
            ).all()  # (a new case, a payout) still go in, as they would beside an UPDATE


def _take_heads(counts: dict[str, int]) -> dict[str, tuple[int, str]]:
    """Move each chain's head on by its count (creating it at need); returns each chain's
    first new seq and the hash of the link before it."""
    rows = [
        {"chain": chain, "seq": n, "hash": audit_chain.GENESIS}
        for chain, n in sorted(counts.items())
    ]
    stmt: postgresql.Insert | sqlite.Insert
    if _dialect() == "postgresql":  # the rows as three arrays: one short statement
        from sqlalchemy.dialects import postgresql  # heavy: the dialect in use, and no other

        stmt = postgresql.insert(HEADS).from_select(
            ["chain", "seq", "hash"], unnested([HEADS.c.chain, HEADS.c.seq, HEADS.c.hash], rows)
        )
        params: list[dict[str, Any]] | None = None
    else:  # compiled once, its rows sent as batches of VALUES ("insertmanyvalues")
        from sqlalchemy.dialects import sqlite  # heavy: the dialect in use, and no other

        stmt = sqlite.insert(HEADS)
        params = rows
    upsert = stmt.on_conflict_do_update(
        index_elements=[HEADS.c.chain], set_={"seq": HEADS.c.seq + stmt.excluded.seq}
    ).returning(HEADS.c.chain, HEADS.c.seq, HEADS.c.hash)  # rows read by chain, any order
    taken = {}
    for chain, seq, head in db.session.execute(upsert, params):
        taken[chain] = (seq - counts[chain] + 1, head)
    return taken


def _store_heads(heads: dict[str, tuple[int, str]]) -> None:
    """Write each chain's new head hash."""
    rows = [{"chain": chain, "hash": head} for chain, (_seq, head) in sorted(heads.items())]
    if _dialect() == "postgresql":
        given = unnested([HEADS.c.chain, HEADS.c.hash], rows).subquery()
        db.session.execute(
            update(HEADS).where(HEADS.c.chain == given.c.chain).values(hash=given.c.hash)
        )
        return
    db.session.execute(
        update(HEADS).where(HEADS.c.chain == bindparam("b_chain")).values(hash=bindparam("b_hash")),
        [{"b_chain": row["chain"], "b_hash": row["hash"]} for row in rows],
    )


def link(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (event values, ``case_id``/``order_id`` set or None) with their chain, place,
    previous hash and hash added, in the order given; the chain heads moved accordingly.

    The caller inserts the rows, in the same transaction."""
    if not rows:
        return []
    keyed = [(audit_chain.chain_key(r.get("case_id"), r.get("order_id")), r) for r in rows]
    counts = Counter(chain for chain, _row in keyed)
    _lock_owners(list(counts))
    heads = _take_heads(dict(counts))
    linked = []
    for chain, row in keyed:
        seq, prev = heads[chain]
        values = {
            **row,
            "chain": chain,
            "chain_seq": seq,
            "data": audit_chain.normal_data(row.get("data")),
        }
        values["prev_hash"] = prev
        values["hash"] = audit_chain.link_hash(prev, values)
        heads[chain] = (seq + 1, values["hash"])
        linked.append(values)
    _store_heads(heads)
    return linked
