"""Lean at run time: serving pages loads no heavy library, and the production install pulls
none in (perceptual hashing used to bring numpy, scipy and PyWavelets through imagehash, and
Flask-Babel brought Babel's locale data)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from bench.install_size import HEAVY, production_closure
from portal.extensions import db
from tests import factories as f

ROOT = Path(__file__).resolve().parent.parent
# loaded only where they are used: uploads (Pillow, pypdf), the case file PDF (reportlab),
# migrations (Alembic), jobs (requests), the JSON API and the CSV import (pydantic), enqueueing a
# job (RQ), sending mail (smtplib, in the delivery job), the bank's batch files and statements
# (XML). (Babel, a test extra for the catalogue tools, is not installed in production; here
# Flask-WTF imports it.)
NOT_FOR_PAGES = (
    "numpy",
    "scipy",
    "pywt",
    "imagehash",
    "pypdf",
    "reportlab",
    "alembic",
    "flask_migrate",
    "PIL",
    "requests",
    "pydantic",
    "rq",
    "smtplib",
    "xml",
    "defusedxml",
    "minio",  # the s3 extra: only where EVIDENCE_STORAGE is s3
)

# A fresh interpreter: the app as a web worker builds it, a buyer's and a reviewer's pages
# served through the test client, then the heavy modules that are loaded; then one API call.
SERVE = r"""
import json, re, sys
from portal import create_app
from portal.plugins.manager import make_plugin_manager
from tests.fakes import FakeGateway, FakePlugin

config, order_no, contact, password, heavy = json.loads(sys.argv[1])
pm = make_plugin_manager()
pm.register(FakePlugin(FakeGateway()), name="fakepay")
app = create_app({**config, "PLUGIN_MANAGER": pm})
client = app.test_client()
token = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
statuses = []

def get(url):
    resp = client.get(url)
    statuses.append((url, resp.status_code))
    return resp.get_data(as_text=True)

def post(page, url, data):
    data = {"csrf_token": token.search(get(page)).group(1), **data}
    statuses.append((url, client.post(url, data=data).status_code))

post("/", "/lookup", {"order_no": order_no, "contact": contact, "password": password})
get(f"/orders/{order_no}")
get(f"/orders/{order_no}/apply")
client = app.test_client()
post("/staff/login", "/staff/login", {"username": "rev1", "password": "password-123"})
get("/review/")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
# the channels' OpenSSL bindings load with a channel's keys: these channels are installed, not
# configured (redis-py imports the bare `cryptography` package, which loads no bindings)
loaded += sorted(m for m in sys.modules if m.startswith("cryptography.hazmat"))
# the dialect of the database in use, and no other (the audit chain's PostgreSQL statements)
with app.app_context():
    from portal.extensions import db
    in_use = db.engine.dialect.name
dialects = {m.split(".")[2] for m in sys.modules if m.startswith("sqlalchemy.dialects.")}
loaded += sorted(f"sqlalchemy.dialects.{d}" for d in dialects - {in_use} if not d.startswith("_"))
api = client.get("/api/v1/openapi.json").status_code  # the API's handlers load on first use
print(json.dumps({"statuses": statuses, "loaded": loaded, "api": [api, "pydantic" in sys.modules]}))
"""


def test_serving_pages_loads_no_heavy_library(app, clock):
    order = f.order(clock())
    f.staff("rev1")
    db.session.commit()
    config = {
        "SECRET_KEY": "test-secret",
        "ENVIRONMENT": "development",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "EVIDENCE_DIR": app.config["EVIDENCE_DIR"],
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
    }
    args = [config, order.order_no, f.CONTACT, f.PASSWORD, list(NOT_FOR_PAGES)]
    out = subprocess.run(
        [sys.executable, "-c", SERVE, json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert [status for _, status in result["statuses"]] == [200, 303, 200, 200, 200, 303, 200], (
        result["statuses"]
    )
    assert result["loaded"] == []
    assert result["api"] == [200, True]


def test_no_heavy_package_in_the_production_install():
    closure = production_closure()
    assert "refund-portal" in closure and "flask" in closure and "psycopg" in closure
    assert HEAVY & closure == set()


def test_pyproject_names_no_heavy_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = list(project["dependencies"])
    for extra in ("embedded", "postgres"):
        direct += project["optional-dependencies"][extra]
    names = {Requirement(text).name.lower().replace("_", "-") for text in direct}
    assert names & (HEAVY | {"imagehash"}) == set()


def test_the_models_load_no_database_dialect():
    """A worker loads the dialect of the database it talks to, not every dialect a model
    mentions (a `postgresql_where` or `sqlite_where` on an index imports that dialect)."""
    code = (
        "import sys, portal.models\n"
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_list_indexes_are_partial_in_the_database(app):
    """The models name the lists' indexes by their columns only; the migration makes them
    partial (open cases, unread notices), which is what keeps them small."""
    from portal.extensions import db

    names = {
        "ix_refund_cases_open_deadline": "open_order_id IS NOT NULL",
        "ix_refund_cases_open_shop_deadline": "open_order_id IS NOT NULL",
        "ix_refund_cases_open_assignee_deadline": "open_order_id IS NOT NULL",
        "ix_notices_unread_order": "read_at IS NULL",
        "ix_notices_unread_merchant": "read_at IS NULL",
    }
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%(n)s)",
                {"n": list(names)},
            ).all()
        else:
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
            ).all()
    found = {name: sql for name, sql in rows if name in names}
    assert set(found) == set(names)
    for name, predicate in names.items():
        assert (
            predicate.replace(" ", "").lower()
            in found[name].replace(" ", "").replace("(", "").replace(")", "").lower()
        ), (name, found[name])
