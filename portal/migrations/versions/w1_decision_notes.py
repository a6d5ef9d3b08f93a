"""The system's decision notes become note codes with parameters (worded when read).

Adds ``refund_cases.decision_msg`` (a Note as JSON) and moves the English sentences older
versions wrote into ``decision_note`` (automatic approvals, accepted offers, a silent
merchant, a cancelled order) to their codes. A reviewer's own words stay where they are.
Events are an append-only audit trail and are not rewritten: their old sentences are
mapped when read (``portal.domain.legacy_notes``).

Revision ID: w1_decision_notes
Revises: i9_order_no_per_shop
Create Date: 2026-12-06 00:30:00

"""

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "w1_decision_notes"
down_revision = "i9_order_no_per_shop"
branch_labels = None
depends_on = None

# the sentences as the older code wrote them (frozen here: the code may change, this must not)
AUTO = re.compile(
    r"The order was not delivered by (\d{4}-\d\d-\d\d \d\d:\d\d), as its own times show\."
)
FIXED = {
    re.compile(r"offer #\d+ accepted"): "offer_accepted",
    re.compile(r"merchant did not answer in time"): "merchant_silent_approved",
    re.compile(r"order cancelled: automatic refund"): "cancelled_auto_refund",
}
# the sentence each code stood for, to put back on downgrade
BACK = {
    "offer_accepted": "offer accepted",
    "merchant_silent_approved": "merchant did not answer in time",
    "cancelled_auto_refund": "order cancelled: automatic refund",
}

cases = sa.table(
    "refund_cases",
    sa.column("id", sa.Integer),
    sa.column("decision_note", sa.Text),
    sa.column("decision_msg", sa.JSON),
)


def note_for(text: str) -> dict | None:
    """The note an old decision sentence meant, or None (a person's words)."""
    text = text.strip()
    m = AUTO.fullmatch(text)
    if m:
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        return {"code": "auto_not_delivered", "params": {"deadline_at": at.isoformat()}}
    for pattern, code in FIXED.items():
        if pattern.fullmatch(text):
            return {"code": code, "params": {}}
    return None


def upgrade():
    with op.batch_alter_table("refund_cases") as batch:
        batch.add_column(sa.Column("decision_msg", sa.JSON(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(cases.c.id, cases.c.decision_note).where(cases.c.decision_note != "")
    ).all()
    for row in rows:
        note = note_for(row.decision_note)
        if note is not None:
            conn.execute(
                cases.update()
                .where(cases.c.id == row.id)
                .values(decision_msg=note, decision_note="")
            )


def downgrade():
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(cases.c.id, cases.c.decision_msg).where(cases.c.decision_msg.is_not(None))
    ).all()
    for row in rows:
        msg = row.decision_msg or {}
        code = msg.get("code", "")
        if code == "auto_not_delivered":
            at = datetime.fromisoformat(msg["params"]["deadline_at"]).astimezone(UTC)
            text = f"The order was not delivered by {at:%Y-%m-%d %H:%M}, as its own times show."
        else:
            text = BACK.get(code, "")
        conn.execute(cases.update().where(cases.c.id == row.id).values(decision_note=text))
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch copy of the table would
    # have to drop refund_cases, which the tables referring to it forbid
    op.execute("ALTER TABLE refund_cases DROP COLUMN decision_msg")
