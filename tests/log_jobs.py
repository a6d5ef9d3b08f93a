"""Jobs for tests/test_request_ids.py: they log, record what they ran under, and chain."""

from __future__ import annotations

import logging

from portal.infra import request_ids

log = logging.getLogger("portal.tests.log_jobs")
#: (request id, job id) each ``record`` ran under, in this process
SEEN: list[tuple[str | None, str | None]] = []


def record(chain: bool = False) -> None:
    """Log a line; remember the ids bound; with ``chain``, enqueue one more (from the job)."""
    SEEN.append((request_ids.current(), request_ids.current_job()))
    log.warning("a line written by the job")
    if chain:
        from jobs.runtime import get_app
        from portal.infra.queue import enqueue

        with get_app().app_context():
            enqueue("tests.log_jobs.record")
