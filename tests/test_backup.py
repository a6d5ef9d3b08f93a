"""``refund-portal backup`` / ``restore``: a running demo backed up (while buyers keep
applying) and restored into an empty database and evidence folder, every case, event chain
and file intact; a backup that does not match its manifest is refused with nothing written.

Runs on SQLite by default and on PostgreSQL when PORTAL_DATABASE_URL is set (the restore
goes into a database of its own, made empty here)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, make_url, select, text

from portal.dev import demo
from portal.domain.policy import Kind, Reason
from portal.domain.states import State
from portal.extensions import db
from portal.models import Event, Evidence, Order, RefundCase
from portal.plugins.manager import ChannelRegistry
from portal.services.audit import seals
from portal.services.refunds import cases, disputes
from portal.services.uploads import evidence
from tests import factories as f
from tests.images import image_bytes, pdf_bytes
from tests.test_demo_data import StandIn

pytestmark = pytest.mark.slow


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _env(app: Flask, db_url: str, evidence_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        {
            "PORTAL_DATABASE_URL": db_url,
            "PORTAL_EVIDENCE_DIR": str(evidence_dir),
            "PORTAL_REDIS_URL": app.config["REDIS_URL"],
            "PORTAL_SECRET_KEY": "test-secret",
            "PORTAL_ENVIRONMENT": "development",
            "PORTAL_AUDIT_SEAL_KEY": app.config["AUDIT_SEAL_KEY"],
            "PORTAL_INSTANCE_PATH": str(evidence_dir.parent / "instance"),
        }
    )
    return env


class _FileLike(io.BytesIO):
    def __init__(self, data: bytes, filename: str) -> None:
        super().__init__(data)
        self.filename = filename
        self.stream = self


def _upload(case: RefundCase, seed: int) -> None:
    files = [_FileLike(image_bytes(seed=seed), f"shot{seed}.png"), _FileLike(pdf_bytes(), "r.pdf")]
    with evidence.stored_uploads(files, evidence.room_left(case)) as stored:
        if case.state == str(State.NEEDS_INFO):
            cases.answer_info_request(case, f"附件 {seed}", stored)
        else:
            disputes.add_evidence(case, stored)


@pytest.fixture
def running_demo(app: Flask, clock, gateway) -> Flask:
    """The demo's data, evidence files on several cases, a sealed day."""
    app.extensions["portal.plugins.channels"] = ChannelRegistry(
        [StandIn(gateway, cid) for cid in ("alipay", "wechat", "bank", "fakepay")]
    )
    assert demo.load()
    for n, no in enumerate(("DEMO1008", "DEMO1011")):
        order = db.session.scalar(select(Order).where(Order.order_no == no))
        case = db.session.scalar(select(RefundCase).where(RefundCase.order_id == order.id))
        _upload(case, n)
    clock.advance(days=1)
    assert seals.seal_day(seals.yesterday(clock())).made
    return app


def _empty_target(tmp_path: Path, source_url: str) -> Iterator[str]:
    url = make_url(source_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'portal.sqlite3'}"
        return
    name = f"{url.database}_restore"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def target(tmp_path: Path, app: Flask) -> Iterator[str]:
    yield from _empty_target(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"])


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                sql = "SELECT name FROM sqlite_master WHERE type='table'"
            else:
                sql = "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            return [row[0] for row in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def _snapshot(url: str) -> dict[str, object]:
    """What a database holds that a restore must keep: cases, events, evidence rows."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "cases": conn.execute(
                    select(
                        RefundCase.case_no,
                        RefundCase.state,
                        RefundCase.amount_requested_fen,
                        RefundCase.order_id,
                    ).order_by(RefundCase.case_no)
                ).all(),
                "events": conn.execute(
                    select(Event.id, Event.case_id, Event.kind).order_by(Event.id)
                ).all(),
                "evidence": conn.execute(
                    select(Evidence.stored_name, Evidence.thumb_name, Evidence.sha256).order_by(
                        Evidence.id
                    )
                ).all(),
            }
    finally:
        engine.dispose()


def test_a_running_demo_backed_up_restores_into_an_empty_installation_intact(
    running_demo, tmp_path, target, clock
):
    app = running_demo
    source_url = app.config["SQLALCHEMY_DATABASE_URI"]
    source_dir = Path(app.config["EVIDENCE_DIR"])
    before = _snapshot(source_url)
    assert len(before["evidence"]) == 4 and len(before["cases"]) >= 5  # type: ignore[arg-type]

    # buyers keep applying while the backup runs: the copy is one consistent moment
    more = [f.order(clock()) for _ in range(30)]
    stop = threading.Event()
    applied: list[str] = []

    def buyers() -> None:
        with app.app_context():
            for order in more:
                if stop.is_set():
                    break
                order = db.session.get_one(Order, order.id)
                case = cases.apply_for_refund(
                    order,
                    cases.ApplyInput(
                        Kind.REFUND_ONLY, Reason.UNUSABLE, order.amount_fen, "无法使用"
                    ),
                )
                applied.append(case.case_no)
            db.session.remove()

    writer = threading.Thread(target=buyers)
    writer.start()
    backup = tmp_path / "backup"
    done = _cli(_env(app, source_url, source_dir), "backup", str(backup))
    stop.set()
    writer.join(60)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["database"]["kind"] == make_url(source_url).get_backend_name()
    assert not manifest["problems"]
    # every original and thumbnail is in the manifest, hashed
    names = {e["name"]: e["sha256"] for e in manifest["evidence"]}
    for stored, thumb, sha in before["evidence"]:  # type: ignore[attr-defined]
        assert names[stored] == sha
        if thumb:
            assert thumb in names

    restored_dir = tmp_path / "restored" / "evidence"
    env = _env(app, target, restored_dir)
    done = _cli(env, "restore", str(backup))
    assert done.returncode == 0, done.stderr + done.stdout
    assert "restored" in done.stdout

    after = _snapshot(target)
    old_cases = set(before["cases"])  # type: ignore[arg-type]
    assert old_cases <= set(after["cases"])  # type: ignore[arg-type]
    assert set(before["events"]) <= set(after["events"])  # type: ignore[arg-type]
    assert after["evidence"] == before["evidence"]
    # the copy is one moment: each case the buyers made in time is there with its events
    extra = {c[0] for c in after["cases"]} - {c[0] for c in old_cases}  # type: ignore[attr-defined]
    assert extra <= set(applied)
    for stored, thumb, sha in after["evidence"]:  # type: ignore[attr-defined]
        assert hashlib.sha256((restored_dir / stored).read_bytes()).hexdigest() == sha
        if thumb:
            assert (restored_dir / thumb).read_bytes() == (source_dir / thumb).read_bytes()

    verified = _cli(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "the audit trail verifies" in verified.stdout
    assert " 1 seals" in verified.stdout or "1 seals" in verified.stdout

    # a second restore into the now full installation is refused, nothing changed
    again = _cli(env, "restore", str(backup))
    assert again.returncode != 0 and "not empty" in again.stderr
    assert _snapshot(target) == after


@pytest.fixture
def backup(running_demo, tmp_path) -> Path:
    app = running_demo
    folder = tmp_path / "backup"
    done = _cli(
        _env(app, app.config["SQLALCHEMY_DATABASE_URI"], Path(app.config["EVIDENCE_DIR"])),
        "backup",
        str(folder),
    )
    assert done.returncode == 0, done.stderr
    return folder


def _refused(app: Flask, backup: Path, target: str, tmp_path: Path, words: str) -> None:
    restored_dir = tmp_path / "restored" / "evidence"
    done = _cli(_env(app, target, restored_dir), "restore", str(backup))
    assert done.returncode != 0
    assert words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert _tables(target) == []  # nothing half-restored
    assert not restored_dir.exists() or not any(restored_dir.iterdir())


def test_a_changed_evidence_file_is_refused_naming_it(app, backup, target, tmp_path):
    env = _env(app, target, tmp_path / "restored" / "evidence")
    checked = _cli(env, "restore", "--check", str(backup))
    assert checked.returncode == 0 and "matches its manifest" in checked.stdout, checked.stderr
    name = json.loads((backup / "manifest.json").read_text())["evidence"][0]["name"]
    data = bytearray((backup / "evidence" / name).read_bytes())
    data[len(data) // 2] ^= 1
    (backup / "evidence" / name).write_bytes(bytes(data))
    _refused(app, backup, target, tmp_path, f"evidence file {name} does not match")
    checked = _cli(env, "restore", "--check", str(backup))
    assert checked.returncode != 0 and f"evidence file {name} does not match" in checked.stderr


def test_a_missing_or_unlisted_file_is_refused(app, backup, target, tmp_path):
    name = json.loads((backup / "manifest.json").read_text())["evidence"][1]["name"]
    (backup / "evidence" / name).unlink()
    (backup / "evidence" / "stranger.png").write_bytes(b"x")
    _refused(app, backup, target, tmp_path, f"evidence file {name} is missing")
    _refused(app, backup, target, tmp_path, "unlisted evidence file in the backup: stranger.png")


def test_a_manifest_naming_a_path_outside_the_store_is_refused(app, backup, target, tmp_path):
    doc = json.loads((backup / "manifest.json").read_text())
    for name in ("../escape.png", "/etc/passwd", "..", ".hidden", "a/b.png", "x" * 200, "", 7):
        doc["evidence"][0]["name"] = name
        (backup / "manifest.json").write_text(json.dumps(doc))
        _refused(app, backup, target, tmp_path, "file name that is not allowed")
    assert not (tmp_path / "restored" / "escape.png").exists()


def test_a_database_that_fails_to_restore_leaves_no_evidence_behind(app, backup, target, tmp_path):
    """The manifest matches (rewritten to a broken database's hash): the evidence files go
    in first, the database refuses, and the files are taken out again."""
    doc = json.loads((backup / "manifest.json").read_text())
    broken = backup / doc["database"]["name"]
    data = bytearray(broken.read_bytes())
    for i in range(200, len(data), 997):
        data[i] ^= 0x5A
    broken.write_bytes(bytes(data))
    doc["database"]["sha256"] = hashlib.sha256(data).hexdigest()
    (backup / "manifest.json").write_text(json.dumps(doc))
    restored_dir = tmp_path / "restored" / "evidence"
    done = _cli(_env(app, target, restored_dir), "restore", str(backup))
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    assert _tables(target) == []
    assert not any(restored_dir.iterdir())


def test_a_backup_is_not_written_over_a_folder_in_use(app, tmp_path):
    folder = tmp_path / "used"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    done = _cli(
        _env(app, app.config["SQLALCHEMY_DATABASE_URI"], Path(app.config["EVIDENCE_DIR"])),
        "backup",
        str(folder),
    )
    assert done.returncode != 0 and "not an empty folder" in done.stderr
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
