"""Import an uploaded CSV file of orders, reporting progress in the job's meta.

Safe to run twice: the import is all-or-nothing and order numbers are unique, so a second
run finds them taken and writes nothing; the file is removed when the job ends.
"""

from __future__ import annotations

import os

from rq import get_current_job

from jobs.runtime import with_app
from portal.services.integration import csv_import, ingest


@with_app
def run(token: str, merchant_id: int, label: str) -> int:
    """Import ``instance/imports/<token>.csv`` for the merchant; returns how many orders."""
    path = os.path.join(csv_import.upload_dir(), f"{token}.csv")
    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is not None:
            job.meta.update(done=done, total=total)
            job.save_meta()

    if not os.path.exists(path):
        return 0
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        count = csv_import.import_orders(
            merchant_id, text, ingest.shop_actor(merchant_id, f"import by {label}"), progress
        )
    except csv_import.ImportRefused as exc:
        if job is not None:
            job.meta["errors"] = [(e.line, e.column, e.message) for e in exc.errors[:200]]
            job.save_meta()
        return 0
    finally:
        if os.path.exists(path):
            os.remove(path)
    if job is not None:
        job.meta["imported"] = count
        job.save_meta()
    return count
