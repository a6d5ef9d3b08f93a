"""Reads outside a transaction (``portal.services.page_reads``): the connection runs in
autocommit (no BEGIN, no ROLLBACK), the rows read stay readable once the read ends, and a lazy
load from them fails instead of querying."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm.exc import DetachedInstanceError

from portal.domain.policy import Kind, Reason
from portal.extensions import db
from portal.models import RefundCase
from portal.services import page_reads
from portal.services.refunds import cases
from tests import factories as f


def _autocommit(session) -> bool:
    raw = session.connection().connection.driver_connection
    if db.engine.dialect.name == "postgresql":
        return raw.autocommit is True
    return raw.isolation_level is None  # sqlite3: no implicit BEGIN


def test_a_read_runs_in_autocommit_and_its_rows_outlive_it(app, clock):
    made = cases.apply_for_refund(
        f.order(clock()), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
    )
    db.session.commit()
    with page_reads.reading() as session:
        assert _autocommit(session)
        got = session.get(RefundCase, made.id)
        assert got is not None
    assert inspect(got).detached
    assert got.case_no == made.case_no  # loaded columns stay readable
    with pytest.raises(DetachedInstanceError):
        _ = got.evidence  # a lazy load fails loudly instead of querying
    # the connection went back to the pool as it came: the next session is transactional
    assert not _autocommit(db.session)
    db.session.rollback()
