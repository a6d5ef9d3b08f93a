"""Linking events into their chains as they are written, in the writer's transaction.

Two transactions appending to one chain must not both take the same head: each append first
locks the row the chain belongs to (the case, or the order; on PostgreSQL ``FOR NO KEY
UPDATE``, the lock an UPDATE of that row takes, so a transition and an append lock in one
order), then reads the chain heads (``FOR UPDATE``: the platform's chain has no owner row to
lock), links the events after them and stores the new heads in one upsert: each head row is
written once per append. SQLite lets one writer at a time. A unique index on (chain,
chain_seq) refuses a fork should both ever get through (two first events of a chain with no
owner row, which no row lock can order: the second fails and is rolled back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, String, any_, literal, select, update

from portal.domain import audit_chain
from portal.extensions import db
from portal.models import ChainHead, Order, RefundCase
from portal.services import bulk_rows
from portal.services.column_arrays import unnested

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

HEADS = ChainHead.__table__
CASES = RefundCase.__table__
ORDERS = Order.__table__


#: the content fields a ``Linker`` encodes once, but ``data`` (found by its normal form)
_SHARED = tuple(
    name for name in audit_chain.CONTENT_FIELDS if name not in (*audit_chain.PER_EVENT, "data")
)


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


def _read_heads(chains: list[str]) -> dict[str, tuple[int, str]]:
    """Each chain's head as stored, (seq, hash); a chain not begun yet is left out. The heads
    stay this transaction's until it ends: on PostgreSQL their rows are locked (``FOR
    UPDATE``), on SQLite the database's write lock is taken first."""
    if _dialect() == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY  # heavy: the dialect, on PostgreSQL only

        among = HEADS.c.chain == any_(literal(chains, ARRAY(String)))
        stmt = select(HEADS.c.chain, HEADS.c.seq, HEADS.c.hash).where(among).with_for_update()
    else:
        among = HEADS.c.chain.in_(chains)
        # SQLite: a write first takes the database's write lock, so no other writer moves a
        # head between this read and this transaction's upsert (one writer at a time)
        db.session.execute(update(HEADS).where(among).values(seq=HEADS.c.seq))
        stmt = select(HEADS.c.chain, HEADS.c.seq, HEADS.c.hash).where(among)
    return {chain: (seq, head) for chain, seq, head in db.session.execute(stmt)}


def _move_heads(heads: dict[str, tuple[int, str]]) -> None:
    """Store each chain's new head (its last seq and hash), creating it at need: one upsert."""
    rows = [{"chain": c, "seq": seq, "hash": head} for c, (seq, head) in sorted(heads.items())]
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
        index_elements=[HEADS.c.chain],
        set_={"seq": stmt.excluded.seq, "hash": stmt.excluded.hash},
    )
    db.session.execute(upsert, params)


def link(
    rows: Sequence[dict[str, Any]], owners_locked: bool = False, new_owners: bool = False
) -> list[dict[str, Any]]:
    """``rows`` (event values, ``case_id``/``order_id`` set or None) with their chain, place,
    previous hash and hash added, in the order given; the chain heads moved accordingly.
    ``owners_locked``: the caller's transaction already holds the rows the chains belong to
    (a sweep that claimed its cases with an UPDATE), so they are not locked again.
    ``new_owners``: every chain's case or order was inserted by the caller's transaction
    (its id new from the sequence): no other transaction sees it, so nothing is locked, and
    its chain has no head yet, so none is read; the heads are inserted, not upserted (a head
    already there fails the insert).

    The caller inserts the rows, in the same transaction."""
    if not rows:
        return []
    keyed = [(audit_chain.chain_key(r.get("case_id"), r.get("order_id")), r) for r in rows]
    chains = sorted({chain for chain, _row in keyed})
    if new_owners:
        if audit_chain.PLATFORM_CHAIN in chains:
            raise ValueError("the platform's chain has no new owner")
        heads: dict[str, tuple[int, str]] = {}
    else:
        if not owners_locked:
            _lock_owners(chains)
        heads = _read_heads(chains)
    linked = []
    normal: dict[int, tuple[Any, Any]] = {}  # id(data) -> (data, its normal form), found once
    # the events sharing every content field but their own ids (a sweep's page of one rule)
    # share a Linker: those fields encoded once. Keyed by the values and their types (1, 1.0
    # and True are equal keys but not the same JSON) and the data's normal form
    linkers: dict[tuple[Any, ...], audit_chain.Linker] = {}
    for chain, row in keyed:
        seq, prev = heads.get(chain, (0, audit_chain.GENESIS))
        data = row.get("data")
        found = normal.get(id(data))
        if found is None or found[0] is not data:
            found = normal[id(data)] = (data, audit_chain.normal_data(data))
        values = {**row, "chain": chain, "chain_seq": seq + 1, "data": found[1]}
        shared = tuple(map(values.get, _SHARED))
        key = (id(found[1]), shared, tuple(map(type, shared)))
        linker = linkers.get(key)
        if linker is None:
            linker = linkers[key] = audit_chain.Linker(values)
        values["prev_hash"] = prev
        values["hash"] = linker.link_hash(
            prev,
            chain,
            seq + 1,
            values.get("case_id"),
            values.get("order_id"),
            values.get("payout_id"),
        )
        heads[chain] = (seq + 1, values["hash"])
        linked.append(values)
    if new_owners:
        _insert_heads(heads)
    else:
        _move_heads({chain: heads[chain] for chain in chains})
    return linked


def _insert_heads(heads: dict[str, tuple[int, str]]) -> None:
    """Store the heads of chains begun now (none of them stored yet): one bulk insert."""
    rows = [{"chain": c, "seq": seq, "hash": head} for c, (seq, head) in sorted(heads.items())]
    bulk_rows.insert_rows(HEADS, rows)
