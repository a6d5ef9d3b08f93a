"""The audit trail as hash chains: each event's chain, place, previous hash and hash; the
chains' heads; the daily seals and the heads each names. Existing events are chained in id
order (the append-only trigger is lifted for that one backfill and put back).

Revision ID: r24_audit_chain
Revises: r23_risk
Create Date: 2026-12-06 05:30:00

"""

import sqlalchemy as sa
from alembic import op

from portal.domain import audit_chain

revision = "r24_audit_chain"
down_revision = "r23_risk"
branch_labels = None
depends_on = None

PAGE = 5000
SQLITE_TRIGGERS = {
    "events_no_update": "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "events_no_delete": "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
}
EVENTS = sa.table(
    "events",
    sa.column("id", sa.Integer),
    *(sa.column(name) for name in ("kind", "actor_role", "actor_label", "from_state")),
    *(sa.column(name) for name in ("to_state", "reason")),
    *(sa.column(name, sa.Integer) for name in ("case_id", "order_id", "payout_id", "actor_id")),
    sa.column("data", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("chain", sa.String),
    sa.column("chain_seq", sa.Integer),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
HEADS = sa.table("audit_chain_heads", sa.column("chain"), sa.column("seq"), sa.column("hash"))


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _backfill() -> None:
    """Chain every existing event, in id order, a page at a time."""
    conn = op.get_bind()
    heads: dict[str, tuple[int, str]] = {}
    last = 0
    update = (
        sa.update(EVENTS)
        .where(EVENTS.c.id == sa.bindparam("b_id"))
        .values(
            chain=sa.bindparam("b_chain"),
            chain_seq=sa.bindparam("b_seq"),
            prev_hash=sa.bindparam("b_prev"),
            hash=sa.bindparam("b_hash"),
        )
    )
    content = [c for c in EVENTS.c if c.name not in ("chain", "chain_seq", "prev_hash", "hash")]
    while True:
        rows = (
            conn.execute(
                sa.select(*content).where(EVENTS.c.id > last).order_by(EVENTS.c.id).limit(PAGE)
            )
            .mappings()
            .all()
        )
        if not rows:
            break
        params = []
        for row in rows:
            chain = audit_chain.chain_key(row["case_id"], row["order_id"])
            seq, prev = heads.get(chain, (0, audit_chain.GENESIS))
            values = {**row, "chain": chain, "chain_seq": seq + 1}
            link = audit_chain.link_hash(prev, values)
            heads[chain] = (seq + 1, link)
            params.append(
                {
                    "b_id": row["id"],
                    "b_chain": chain,
                    "b_seq": seq + 1,
                    "b_prev": prev,
                    "b_hash": link,
                }
            )
        conn.execute(update, params)
        last = rows[-1]["id"]
    if heads:
        conn.execute(
            sa.insert(HEADS),
            [{"chain": c, "seq": s, "hash": h} for c, (s, h) in sorted(heads.items())],
        )


def upgrade():
    for name, kind in (("chain", sa.String(40)), ("chain_seq", sa.Integer())):
        op.add_column("events", sa.Column(name, kind, nullable=True))
    for name in ("prev_hash", "hash"):
        op.add_column("events", sa.Column(name, sa.String(64), nullable=True))
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chain_heads")),
    )
    op.create_table(
        "audit_seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_no", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("seal_hash", sa.String(64), nullable=False),
        sa.Column("heads_digest", sa.String(64), nullable=False),
        sa.Column("head_count", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("public_key", sa.String(60), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seals")),
        sa.UniqueConstraint("seal_no", name=op.f("uq_audit_seals_seal_no")),
        sa.UniqueConstraint("day", name=op.f("uq_audit_seals_day")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_seals_prev_hash")),
        sa.UniqueConstraint("seal_hash", name=op.f("uq_audit_seals_seal_hash")),
    )
    op.create_table(
        "audit_seal_heads",
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["audit_seals.id"], name=op.f("fk_audit_seal_heads_seal_id_audit_seals")
        ),
        sa.PrimaryKeyConstraint("seal_id", "chain", name=op.f("pk_audit_seal_heads")),
    )
    op.create_index("ix_audit_seal_heads_chain_seq", "audit_seal_heads", ["chain", "seq"])
    if _postgres():
        op.execute("ALTER TABLE events DISABLE TRIGGER events_no_update")
        _backfill()
        op.execute("ALTER TABLE events ENABLE TRIGGER events_no_update")
    else:
        op.execute("DROP TRIGGER events_no_update")
        _backfill()
        op.execute(SQLITE_TRIGGERS["events_no_update"])
    op.create_index("ix_events_chain_seq", "events", ["chain", "chain_seq"], unique=True)


def downgrade():
    op.drop_index("ix_events_chain_seq", table_name="events")
    op.drop_index("ix_audit_seal_heads_chain_seq", table_name="audit_seal_heads")
    op.drop_table("audit_seal_heads")
    op.drop_table("audit_seals")
    op.drop_table("audit_chain_heads")
    if _postgres():
        for column in ("hash", "prev_hash", "chain_seq", "chain"):
            op.drop_column("events", column)
    else:  # SQLite 3.35+ drops a column in place (a batch copy would lose the triggers)
        for column in ("hash", "prev_hash", "chain_seq", "chain"):
            op.execute(f"ALTER TABLE events DROP COLUMN {column}")
