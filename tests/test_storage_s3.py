"""Evidence in S3-compatible object storage, against a real server (``rclone serve s3``): uploads
land whole, files reach only the case's parties (streamed, or through signed URLs that fit
one file for a short time), hostile names and a store that goes down are refused cleanly,
and ``refund-portal storage migrate`` moves a local installation, checking every hash."""

from __future__ import annotations

import hashlib
import http.client
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Event, Evidence, RefundCase
from portal.services.uploads import evidence, storage
from portal.services.uploads.storage_local import LocalStore
from portal.services.uploads.storage_s3 import S3Store
from tests import factories as f
from tests.conftest import Browser, FreshGClient
from tests.images import PNG, image_bytes, pdf_bytes
from tests.s3_server import S3Server
from tests.test_buyer_flow import login_order
from tests.test_evidence import EXPLANATION, _apply

_S3_CACHE = "portal.evidence_store.s3"


@pytest.fixture
def s3(tmp_path: Path):
    server = S3Server(tmp_path / "s3").start()
    yield server
    server.stop()


def use(app, server: S3Server, **extra) -> None:
    """Point the app at ``server`` (a new client, as after a restart with new settings)."""
    app.config.update(server.settings(**extra))
    app.extensions.pop(_S3_CACHE, None)


@pytest.fixture
def s3_app(app, s3):
    use(app, s3)
    return app


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _local_files(app) -> dict[str, bytes]:
    folder = Path(app.config["EVIDENCE_DIR"])
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _buyer(app, clock, seed: int = 0, pdf: bool = True):
    """A buyer (own client) who applied with an image, and a PDF; (browser, case's rows)."""
    app.test_client_class = FreshGClient
    browser = Browser(app.test_client())
    order = f.order(clock())
    login_order(browser, order)
    files = [(io.BytesIO(image_bytes(size=(320, 200), seed=seed)), f"截图{seed}.png")]
    if pdf:
        files.append((io.BytesIO(pdf_bytes()), "chat.pdf"))
    r = _apply(browser, order, files)
    assert r.status_code == 303, r.get_data(as_text=True)[:400]
    case = db.session.scalar(select(RefundCase).where(RefundCase.order_id == order.id))
    rows = db.session.scalars(
        select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id)
    ).all()
    return browser, rows


def _fetch(url: str, path: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    """GET ``url`` exactly as written (``path`` replaces its path and query, unnormalised)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path or f"{parts.path}?{parts.query}")
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


@pytest.mark.parametrize("prefix", ["", "shop-a/evidence/"])
def test_uploads_land_whole_in_the_bucket_and_are_streamed_to_parties_only(app, s3, clock, prefix):
    use(app, s3, EVIDENCE_S3_PREFIX=prefix)
    buyer, (image, pdf) = _buyer(app, clock)
    objects = s3.objects()
    assert set(objects) == {
        prefix + n for n in (image.stored_name, image.thumb_name, pdf.stored_name)
    }
    assert _sha(objects[prefix + image.stored_name]) == image.sha256
    assert _sha(objects[prefix + pdf.stored_name]) == pdf.sha256
    assert len(objects[prefix + image.stored_name]) == image.size
    assert _local_files(app) == {}  # nothing in the local folder

    got = buyer.get(f"/evidence/{image.id}")
    assert got.status_code == 200 and got.data == objects[prefix + image.stored_name]
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["Cache-Control"] == "private, no-store"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert "inline" in got.headers["Content-Disposition"]
    thumb = buyer.get(f"/evidence/{image.id}/thumb")
    assert thumb.status_code == 200 and thumb.data == objects[prefix + image.thumb_name]
    assert thumb.headers["Content-Type"] == "image/jpeg"
    doc = buyer.get(f"/evidence/{pdf.id}")
    assert doc.status_code == 200 and doc.data.startswith(b"%PDF-")
    assert doc.headers["Content-Disposition"].startswith("attachment;")
    assert buyer.get(f"/evidence/{pdf.id}/thumb").status_code == 404

    # a stranger, and the buyer of another case, get nothing
    stranger = app.test_client()
    other, _rows = _buyer(app, clock, seed=1, pdf=False)
    for client in (stranger, other):
        for url in (f"/evidence/{image.id}", f"/evidence/{image.id}/thumb", f"/evidence/{pdf.id}"):
            assert client.get(url).status_code == 404, url


def test_signed_urls_fetch_one_file_for_a_short_time(app, s3, clock):
    use(app, s3, EVIDENCE_SIGNED_URL_SECONDS=60)
    buyer, (mine, _pdf) = _buyer(app, clock)
    _other_buyer, (theirs, *_rest) = _buyer(app, clock, seed=1, pdf=False)
    objects = s3.objects()

    r = buyer.get(f"/evidence/{mine.id}")
    assert r.status_code == 302 and r.headers["Cache-Control"] == "private, no-store"
    url = r.headers["Location"]
    assert url.startswith(s3.url + "/evidence/" + mine.stored_name + "?")
    assert "X-Amz-Expires=60" in url
    status, body, headers = _fetch(url)
    assert status == 200 and body == objects[mine.stored_name] and _sha(body) == mine.sha256
    assert headers["cache-control"] == "private, no-store"
    assert headers["content-type"] == "image/png"
    assert "%E6%88%AA%E5%9B%BE0.png" in headers["content-disposition"]  # 截图0.png
    thumb = buyer.get(f"/evidence/{mine.id}/thumb").headers["Location"]
    assert _fetch(thumb)[1] == objects[mine.thumb_name]

    # the portal hands out no URL for another case's file, nor to a stranger
    assert buyer.get(f"/evidence/{theirs.id}").status_code == 404
    assert app.test_client().get(f"/evidence/{mine.id}").status_code == 404

    # the URL fits its own file only: another key, a way out of the bucket, or a longer
    # validity are refused by the store
    path, query = urlsplit(url).path, urlsplit(url).query
    for tampered in (
        path.replace(mine.stored_name, theirs.stored_name) + "?" + query,
        path.replace(mine.stored_name, mine.thumb_name) + "?" + query,
        path.replace(mine.stored_name, "../evidence/" + theirs.stored_name) + "?" + query,
        path.replace(mine.stored_name, "%2e%2e/evidence/" + theirs.stored_name) + "?" + query,
        path + "?" + query.replace("X-Amz-Expires=60", "X-Amz-Expires=604800"),
        path + "?" + query[:-4] + ("0000" if not query.endswith("0000") else "1111"),
        path
        + "?"
        + query.replace("response-content-type=image%2Fpng", "response-content-type=text%2Fhtml"),
        path,  # no signature at all
    ):
        status, body, _h = _fetch(url, tampered)
        assert status in (400, 403), (tampered, status)
        assert body != objects[theirs.stored_name] and body != objects[mine.stored_name]

    # and it lapses: signed 90 s ago for 60 s is refused, for 300 s still good
    store = storage.current()
    assert isinstance(store, S3Store)
    before = datetime.now(UTC) - timedelta(seconds=90)
    args = (mine.stored_name,)
    lapsed = store.signed_url(*args, timedelta(seconds=60), "a.png", "image/png", True, before)
    alive = store.signed_url(*args, timedelta(seconds=300), "a.png", "image/png", True, before)
    assert lapsed and alive
    assert _fetch(lapsed)[0] in (400, 403)
    assert _fetch(alive)[0] == 200


BAD_NAMES = [
    "../x.png",
    "../../etc/passwd",
    "..",
    "",
    "a/b.png",
    "0123456789abcdef0123456789abcdef.png/../x.png",
    "../0123456789abcdef0123456789abcdef.png",
    "0123456789abcdef0123456789abcdef.html",
    "0123456789ABCDEF0123456789ABCDEF.png",
    "0123456789abcdef0123456789abcdef.png\x00",
    "%2e%2e/0123456789abcdef0123456789abcdef.png",
]


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_names_the_portal_never_makes_are_refused_before_any_io(s3_app, s3, tmp_path, kind):
    store = LocalStore(tmp_path / "local") if kind == "local" else storage.current()
    for bad in BAD_NAMES:
        with pytest.raises(storage.BadName):
            store.put(bad, b"x", "image/png")
        with pytest.raises(storage.BadName):
            store.open(bad)
        with pytest.raises(storage.BadName):
            store.delete(bad)
        with pytest.raises(storage.BadName):
            store.size(bad)
    assert s3.objects() == {}
    assert not (tmp_path / "x.png").exists()
    assert not (tmp_path / "local").exists() or not any((tmp_path / "local").iterdir())


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_row_naming_another_file_serves_nothing(app, s3, clock, kind):
    if kind == "s3":
        use(app, s3)
    buyer, (mine, _pdf) = _buyer(app, clock)
    _other, (theirs, *_r) = _buyer(app, clock, seed=1, pdf=False)
    for tampered in ("../" + theirs.stored_name, "../../portal.sqlite3", "x/" + theirs.stored_name):
        mine.stored_name = tampered
        db.session.commit()
        assert buyer.get(f"/evidence/{mine.id}").status_code == 404, tampered


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_file_the_store_lost_is_a_404_not_an_error(app, s3, clock, kind):
    if kind == "s3":
        use(app, s3)
    buyer, (image, _pdf) = _buyer(app, clock)
    store = storage.current()
    assert store.size(image.stored_name) == image.size
    store.delete(image.stored_name)
    store.delete(image.stored_name)  # a second time: nothing to do, no error
    assert store.size(image.stored_name) is None
    with pytest.raises(storage.NotStored):
        store.open(image.stored_name)
    assert buyer.get(f"/evidence/{image.id}").status_code == 404
    assert buyer.get(f"/evidence/{image.id}/thumb").status_code == 200


def test_a_store_that_is_down_refuses_the_upload_cleanly(s3_app, s3, clock):
    s3.stop()
    app = s3_app
    app.test_client_class = FreshGClient
    browser = Browser(app.test_client())
    order = f.order(clock())
    login_order(browser, order)
    started = time.monotonic()
    r = _apply(browser, order, [(io.BytesIO(image_bytes(seed=3)), "s.png")])
    took = time.monotonic() - started
    html = r.get_data(as_text=True)
    assert r.status_code == 503, html[:400]
    assert "file store is not answering, so nothing was saved" in html
    assert EXPLANATION in html and 'value="12.50"' in html  # the form is kept
    assert "Traceback" not in html and s3.url.split("//")[1] not in html
    assert took < 20  # bounded by EVIDENCE_S3_TIMEOUT, not the system's TCP timeout
    assert _count(RefundCase) == 0 and _count(Evidence) == 0 and _count(Event) == 0
    assert s3.objects() == {} and _local_files(app) == {}


def test_a_store_going_down_between_file_and_thumbnail_leaves_no_case_and_no_part(
    s3_app, s3, clock, monkeypatch
):
    real_put = S3Store.put
    calls: list[str] = []

    def put_then_die(self, name, data, content_type):
        calls.append(name)
        if len(calls) == 2:
            s3.stop()  # the store goes away after the file, before its thumbnail
        real_put(self, name, data, content_type)

    monkeypatch.setattr(S3Store, "put", put_then_die)
    app = s3_app
    app.test_client_class = FreshGClient
    browser = Browser(app.test_client())
    order = f.order(clock())
    login_order(browser, order)
    r = _apply(browser, order, [(io.BytesIO(image_bytes(seed=4)), "s.png")])
    assert r.status_code == 503
    assert _count(RefundCase) == 0 and _count(Evidence) == 0 and _count(Event) == 0
    file_name, thumb_name = calls
    objects = s3.objects()
    # the thumbnail never arrived; the file (whole, as every PUT is) could not be removed
    # while the store was down: no row names it, so it is never served
    assert thumb_name not in objects and set(objects) <= {file_name}
    assert not any(p.name.startswith(".rclone_temp") for p in s3.bucket_folder.iterdir())


def test_readyz_and_storage_check_say_whether_the_store_answers(s3_app, s3):
    client = s3_app.test_client()
    runner = s3_app.test_cli_runner()
    r = client.get("/readyz")
    assert "storage ok" in r.get_data(as_text=True)
    result = runner.invoke(args=["storage", "check"])
    assert result.exit_code == 0 and "the evidence store (s3) answers" in result.output
    s3.stop()
    r = client.get("/readyz")
    body = r.get_data(as_text=True)
    assert r.status_code == 503 and "storage fail" in body
    assert "127.0.0.1" not in body and "evidence" not in body
    result = runner.invoke(args=["storage", "check"])
    assert result.exit_code == 1 and "does not answer" in result.output


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"EVIDENCE_STORAGE": "ftp"}, "EVIDENCE_STORAGE is 'ftp': it must be local or s3"),
        ({"EVIDENCE_STORAGE": "s3"}, "EVIDENCE_S3_BUCKET is not set"),
        (
            {"EVIDENCE_STORAGE": "s3", "EVIDENCE_S3_ENDPOINT": "https://s3.example.com/bucket"},
            "EVIDENCE_S3_ENDPOINT takes no path",
        ),
        ({"EVIDENCE_STORAGE": "s3", "EVIDENCE_S3_PREFIX": "../x/"}, "EVIDENCE_S3_PREFIX is"),
        (
            {"EVIDENCE_STORAGE": "s3", "EVIDENCE_S3_ENDPOINT": "s3.example.com"},
            "must be the store's URL",
        ),
    ],
)
def test_a_node_with_a_broken_store_setting_refuses_to_start(tmp_path, settings, message):
    from portal import create_app
    from portal.config import ConfigError

    config = {"TESTING": True, "SECRET_KEY": "x" * 40, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app({**config, **settings})


# -- refund-portal storage migrate --------------------------------------------------------


def _migrate(app):
    result = app.test_cli_runner().invoke(args=["storage", "migrate"])
    return result.exit_code, result.output


def _local_installation(app, s3, clock, buyers: int = 3):
    """Cases whose evidence sits in the local folder; the S3 settings set, storage still local."""
    rows = []
    for seed in range(buyers):
        rows.extend(_buyer(app, clock, seed=seed)[1])
    app.config.update(s3.settings(EVIDENCE_STORAGE="local"))
    local = _local_files(app)
    assert len(local) == 3 * buyers and s3.objects() == {}
    return rows, local


def test_migrate_moves_every_file_verifies_it_and_runs_again(app, s3, clock):
    rows, local = _local_installation(app, s3, clock)
    code, out = _migrate(app)
    assert code == 0, out
    assert "9 files copied and verified, 0 already in the store and verified, 0 problems" in out
    assert s3.objects() == local  # every file, byte for byte
    assert _local_files(app) == local  # and the local copies kept

    code, out = _migrate(app)  # a second run copies nothing and checks everything again
    assert code == 0 and "0 files copied and verified, 9 already in the store" in out

    # switched over, with the local folder gone: every file and thumbnail is served as before
    use(app, s3)
    for name in local:
        (Path(app.config["EVIDENCE_DIR"]) / name).unlink()
    f.staff("rev-s3", "reviewer")
    browser = Browser(app.test_client())
    browser.submit(
        "/staff/login", "/staff/login", {"username": "rev-s3", "password": "password-123"}
    )
    for row in rows:
        got = browser.get(f"/evidence/{row.id}")
        assert got.status_code == 200 and _sha(got.data) == row.sha256
        if row.thumb_name:
            assert browser.get(f"/evidence/{row.id}/thumb").data == local[row.thumb_name]


def test_migrate_reports_mismatches_clearly_and_keeps_the_local_copy(app, s3, clock):
    rows, local = _local_installation(app, s3, clock)
    folder = Path(app.config["EVIDENCE_DIR"])
    changed, gone, renamed = rows[0], rows[3], rows[5]
    (folder / changed.stored_name).write_bytes(local[changed.stored_name] + b"tampered")
    (folder / gone.stored_name).unlink()
    renamed.stored_name = "../../" + renamed.stored_name
    db.session.commit()

    code, out = _migrate(app)
    assert code == 1, out
    case_no = {r.id: db.session.get(RefundCase, r.case_id).case_no for r in rows}
    assert (
        f"PROBLEM evidence {changed.id} (case {case_no[changed.id]}), {changed.stored_name}:"
        " the local file's SHA-256 differs from the database's; not copied, the local file kept"
        f" (local {_sha(local[changed.stored_name] + b'tampered')}, database {changed.sha256})"
    ) in out
    assert (
        f"PROBLEM evidence {gone.id} (case {case_no[gone.id]}), {gone.stored_name}: no local file"
        in out
    )
    assert f"PROBLEM evidence {renamed.id}" in out and "the portal never makes; not touched" in out
    assert "6 files copied and verified, 0 already in the store and verified, 3 problems" in out
    # the tampered file stays as it is, and is not in the store
    assert (folder / changed.stored_name).read_bytes() == local[changed.stored_name] + b"tampered"
    assert changed.stored_name not in s3.objects()
    assert set(s3.objects()) == set(local) - {changed.stored_name, gone.stored_name} - {
        renamed.stored_name.removeprefix("../../")
    }


def test_migrate_resumes_after_a_crash_and_after_the_store_went_away(
    app, s3, clock, monkeypatch, tmp_path
):
    _rows, local = _local_installation(app, s3, clock)
    real_put = S3Store.put
    puts: list[str] = []

    def put_then_crash(self, name, data, content_type):
        if len(puts) == 4:
            raise KeyboardInterrupt  # the process is stopped between two files
        puts.append(name)
        real_put(self, name, data, content_type)

    monkeypatch.setattr(S3Store, "put", put_then_crash)
    result = app.test_cli_runner().invoke(args=["storage", "migrate"])
    assert result.exit_code != 0
    monkeypatch.setattr(S3Store, "put", real_put)
    assert set(s3.objects()) == set(puts)
    # a store less careful than this one could keep a part of the file being written
    torn = s3.bucket_folder / puts[-1]
    torn.write_bytes(torn.read_bytes()[:100])

    # the store goes away: the run stops, says so, and deletes nothing
    s3.stop()
    code, out = _migrate(app)
    assert code == 2 and "stopped answering; nothing was deleted" in out
    assert _local_files(app) == local

    # back (on a new port), the run finishes: the torn object is found and written again
    again = S3Server(s3.root).start()
    try:
        app.config.update(again.settings(EVIDENCE_STORAGE="local"))
        code, out = _migrate(app)
        assert code == 0, out
        assert "6 files copied and verified, 3 already in the store and verified, 0 problems" in out
        assert again.objects() == local
    finally:
        again.stop()


def test_migrate_without_settings_says_what_is_missing(app):
    code, out = _migrate(app)
    assert code == 2
    assert "EVIDENCE_S3_ENDPOINT must be the store's URL" in out
    assert "EVIDENCE_S3_BUCKET is not set" in out


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_backups_read_and_write_files_through_either_store(s3_app, tmp_path, kind):
    """The four calls a backup and a restore make: an empty store says so, a file written is
    read back whole, a name is never overwritten, and a removed file is gone."""
    if kind == "local":
        s3_app.config.update(EVIDENCE_STORAGE="local", EVIDENCE_DIR=str(tmp_path / "local"))
    name = "ab" * 16 + ".png"
    assert evidence.store_is_empty()
    evidence.write_stored(name, PNG)
    assert not evidence.store_is_empty()
    assert evidence.read_stored(name) == PNG
    with pytest.raises(FileExistsError):
        evidence.write_stored(name, b"another picture")
    evidence.remove_stored(name)
    with pytest.raises(FileNotFoundError):
        evidence.read_stored(name)
    assert evidence.store_is_empty()
