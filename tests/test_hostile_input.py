"""Hostile input, generated from the app: control characters in every form field, every API
string field and every URL parameter; uploads refused by count, bytes and pixels before any
decoding. Run on PostgreSQL too (PORTAL_DATABASE_URL), where U+0000 used to give a 500.

The field and route lists are read from the code (form classes, pydantic models, the URL
map), so a new field or route is covered without anyone listing it.
"""

from __future__ import annotations

import importlib
import io
import json
import pkgutil
import re
import time
from typing import Any, get_args, get_origin

import pytest
from flask_wtf import FlaskForm
from PIL import Image
from pydantic import BaseModel
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import FileField, MultipleFileField, TextAreaField

import portal.plugins
import portal.views
from portal.extensions import db
from portal.models import CardCode, Evidence, Order, RefundCase, WebhookEndpoint
from portal.services.integration import api_schema
from portal.views.forms import PortalForm
from tests import factories as f
from tests.api_helpers import order_body, shop
from tests.test_buyer_flow import login_order

HOSTILE = ["a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "a\u2028b\x00"]
CONTROL = "control character"


def _import_all(package: Any) -> None:
    for mod in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(mod.name)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _form_classes() -> list[type[FlaskForm]]:
    _import_all(portal.views)
    _import_all(portal.plugins)
    return sorted(
        (c for c in _subclasses(FlaskForm) if c.__module__.startswith("portal.")),
        key=lambda c: c.__qualname__,
    )


# --- forms --------------------------------------------------------------------------------


def test_every_form_in_the_portal_derives_from_portal_form():
    forms = _form_classes()
    assert len(forms) > 15
    assert [c.__qualname__ for c in forms if not issubclass(c, PortalForm)] == []


def _text_fields(app) -> list[tuple[type, str, bool]]:
    fields = []
    with app.test_request_context():
        for cls in _form_classes():
            if cls is PortalForm:
                continue
            form = cls(meta={"csrf": False})
            for field in form:
                if not isinstance(field, FileField | MultipleFileField):
                    fields.append((cls, field.name, isinstance(field, TextAreaField)))
    return fields


def test_every_text_field_of_every_form_refuses_control_characters(app):
    fields = _text_fields(app)
    assert len(fields) > 20
    for cls, name, multiline in fields:
        for value in HOSTILE:
            with app.test_request_context(method="POST", headers={"Accept-Language": "en"}):
                form = cls(formdata=MultiDict({name: value}), meta={"csrf": False})
                assert not form.validate(), (cls.__qualname__, name, value)
                errors = form[name].errors
                assert len(errors) == 1 and CONTROL in errors[0], (cls.__qualname__, name)
        with app.test_request_context(method="POST", headers={"Accept-Language": "en"}):
            form = cls(formdata=MultiDict({name: "line 1\r\nline\t2"}), meta={"csrf": False})
            form.validate()
            broken = any(CONTROL in e for e in form[name].errors)
            assert broken is not multiline, (cls.__qualname__, name)  # only text areas keep them


def test_the_message_is_translated(app):
    with app.test_request_context(method="POST", headers={"Accept-Language": "zh-CN"}):
        from portal.views.forms import LookupForm

        form = LookupForm(formdata=MultiDict({"order_no": "A\x00"}), meta={"csrf": False})
        assert not form.validate()
        assert "控制字符" in form.order_no.errors[0]


def _rows() -> dict[str, int]:
    return {
        t.name: db.session.scalar(select(func.count()).select_from(t))
        for t in db.metadata.sorted_tables
    }


@pytest.mark.parametrize("value", ["T\x00", "T\x85"])
def test_public_lookup_with_a_control_character_is_refused_plainly(app, browser, value):
    before = _rows()
    r = browser.submit("/", "/lookup", {"order_no": value, "contact": "x\x00", "password": "p\x00"})
    assert r.status_code == 422
    assert CONTROL in r.get_data(as_text=True)
    db.session.rollback()
    assert _rows() == before


def test_application_with_a_nul_writes_nothing_and_says_why(app, browser, clock):
    order = f.order(clock())
    login_order(browser, order)
    url = f"/orders/{order.order_no}/apply"
    before = _rows()
    r = browser.submit(
        url,
        url,
        {"kind": "refund_only", "reason": "unusable", "amount": "1", "explanation": "x\x00y"},
    )
    assert r.status_code == 422 and CONTROL in r.get_data(as_text=True)
    db.session.rollback()
    assert _rows() == before


def test_webhook_address_with_a_nul_is_refused(app, browser):
    f.merchant("shop")
    db.session.commit()
    f.staff("shop1", "merchant", "shop")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "shop1", "password": "password-123"}
    )
    r = browser.submit("/merchant/webhooks", "/merchant/webhooks", {"url": "https://x.test/\x00"})
    assert r.status_code == 422 and CONTROL in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


# --- URLs: every route's parameters and the query string ------------------------------------


def _string_routes(app) -> list[tuple[str, str, list[str]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        names = [
            n for n, conv in rule._converters.items() if type(conv).__name__ == "UnicodeConverter"
        ]
        if names and rule.endpoint != "static":
            method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"OPTIONS"})[0]
            routes.append((rule.rule, method, names))
    return routes


def test_every_string_parameter_in_every_route_refuses_control_characters(app, client):
    routes = _string_routes(app)
    assert len(routes) > 10
    for rule, method, names in routes:
        path = rule
        for name in names:
            path = re.sub(rf"<(?:string:)?{name}>", "A%00B", path)
        path = re.sub(r"<int:\w+>", "1", path)
        r = client.open(path, method=method)
        assert r.status_code in (400, 404), (rule, r.status_code)  # 404: no such route shape
        if r.status_code == 400:
            body = r.get_data(as_text=True)
            assert "control character" in body, rule


def test_query_strings_are_checked_too(app, client):
    r = client.get("/?next=%00")
    assert r.status_code == 400 and CONTROL in r.get_data(as_text=True)
    r = client.get("/api/v1/cases?order_no=A%C2%85")
    assert r.status_code == 400
    assert r.get_json()["type"] == "/api/v1/problems/control-character"


# --- the API: every string field of every request model --------------------------------------


def _string_paths(model: type[BaseModel], prefix: tuple = ()) -> list[tuple]:
    """JSON paths (tuples of keys; "[]" for a list item, "{}"/"{k}" for a map) to str fields."""
    paths = []
    for name, field in model.model_fields.items():
        paths.extend(_paths_of(field.annotation, (*prefix, name)))
    return paths


def _paths_of(tp: Any, at: tuple) -> list[tuple]:
    origin = get_origin(tp)
    args = [a for a in get_args(tp) if a is not type(None)]
    if tp is str:
        return [at]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _string_paths(tp, at)
    if origin is list:
        return _paths_of(args[0], (*at, "[]"))
    if origin is dict:
        return [(*at, "{k}")] * (get_origin(args[0]) is not None or args[0] is str) + [
            (*at, "{}")
        ] * bool(_paths_of(args[1], ()))
    if args:  # Annotated, Optional, Union, Literal
        if origin is not None and str(origin).endswith("Literal"):
            return []
        found = []
        for a in args:
            if isinstance(a, type) or get_origin(a) is not None:
                found.extend(_paths_of(a, at))
        return found
    return []


def _set(body: dict, path: tuple, value: str) -> None:
    node: Any = body
    for key in path[:-1]:
        if key == "[]":
            node = node[0]
        else:
            node = node.setdefault(key, {})
    last = path[-1]
    if last == "[]":
        node[0] = value
    elif last == "{k}":
        node[value] = "v"
    elif last == "{}":
        node["k"] = value
    else:
        node[last] = value


def _api_cases() -> list[tuple[type[BaseModel], str, tuple]]:
    """(model, endpoint kind, path) for every string field of every request model."""
    models = [
        m
        for m in vars(api_schema).values()
        if isinstance(m, type) and issubclass(m, api_schema.Strict) and m is not api_schema.Strict
    ]
    top = {
        api_schema.OrderIn: "create",
        api_schema.DeliveryIn: "deliver",
        api_schema.CancelIn: "cancel",
        api_schema.UsageIn: "usage",
    }
    nested = {m for m in models if m not in top}
    reached = {m for t in top for m in _nested_models(t)}
    assert nested <= reached, f"request models no endpoint sends: {nested - reached}"
    return [(m, kind, p) for m, kind in top.items() for p in _string_paths(m)]


def _nested_models(model: type[BaseModel]) -> set[type]:
    found = set()
    for field in model.model_fields.values():
        for a in [field.annotation, *get_args(field.annotation)]:
            if isinstance(a, type) and issubclass(a, BaseModel):
                found |= {a, *_nested_models(a)}
    return found


def test_every_api_string_field_refuses_control_characters(app, client):
    cases = _api_cases()
    assert len(cases) > 15
    the_shop, _ = shop(client)
    made = the_shop.post("/orders", order_body("BASE1"))
    assert made.status_code == 201, made.get_json()
    for _model, kind, path in cases:
        for value in ("abcd\x00efgh", "abcd\x85efgh"):
            if kind == "create":
                body = order_body()
                body.pop("query_password_hash", None)
                body["listing"] = {"title": "t"}
                body["payment"]["extra"] = {}
                _set(body, path, value)
                url = "/orders"
            elif kind == "deliver":
                body = {"codes": ["C1"]}
                _set(body, path, value)
                url = "/orders/BASE1/delivery"
            else:
                body = {"reason": "r"}
                _set(body, path, value)
                url = "/orders/BASE1/cancel"
            before = db.session.scalar(select(func.count()).select_from(Order))
            codes = db.session.scalar(select(func.count()).select_from(CardCode))
            r = the_shop.post(url, body)
            assert r.status_code == 422, (path, value, r.status_code, r.get_json())
            problem = r.get_json()
            assert any(
                "Control characters are not allowed" in e["message"] for e in problem["errors"]
            ) or (path[-1] in ("order_no", "channel") or "hash" in path[-1]), (path, problem)
            db.session.rollback()
            assert db.session.scalar(select(func.count()).select_from(Order)) == before
            assert db.session.scalar(select(func.count()).select_from(CardCode)) == codes


def test_the_openapi_document_publishes_the_rule(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    text = json.dumps(doc)
    assert "\\\\x00-\\\\x1f\\\\x7f-\\\\x9f" in text


# --- uploads: limits checked before any decoding --------------------------------------------


def _bomb(side: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("1", side).save(out, "PNG")
    return out.getvalue()


def _apply(browser, order, files):
    url = f"/orders/{order.order_no}/apply"
    return browser.submit(
        url,
        url,
        {
            "kind": "refund_only",
            "reason": "unusable",
            "amount": "12.50",
            "explanation": "Card says already used",
            "files": files,
        },
        content_type="multipart/form-data",
    )


def _never_decoded(monkeypatch) -> list[str]:
    from portal.services.uploads import evidence_images

    decoded: list[str] = []
    monkeypatch.setattr(evidence_images, "clean", lambda data, name: decoded.append(name))
    return decoded


def test_twelve_forty_megapixel_images_are_refused_before_decoding(
    app, browser, clock, tmp_path, monkeypatch
):
    order = f.order(clock())
    login_order(browser, order)
    bomb = _bomb((7300, 5475))  # 40 MP in a few KB
    assert len(bomb) < 60_000
    decoded = _never_decoded(monkeypatch)
    started = time.process_time()
    r = _apply(browser, order, [(io.BytesIO(bomb), f"b{i}.png") for i in range(12)])
    cpu = time.process_time() - started
    assert r.status_code == 422
    assert "12 files were sent; at most 8 more" in r.get_data(as_text=True)
    assert decoded == [] and cpu < 1.0
    assert db.session.scalar(select(func.count()).select_from(RefundCase)) == 0
    assert not list((tmp_path / "evidence").glob("*"))


def test_one_image_over_the_pixel_limit_is_refused_by_its_header(app, browser, clock, monkeypatch):
    order = f.order(clock())
    login_order(browser, order)
    decoded = _never_decoded(monkeypatch)
    r = _apply(browser, order, [(io.BytesIO(_bomb((7300, 5475))), "big.png")])
    assert r.status_code == 422 and "at most 16 megapixels" in r.get_data(as_text=True)
    assert decoded == []


def test_images_allowed_one_by_one_are_refused_together_over_the_budget(
    app, browser, clock, tmp_path, monkeypatch
):
    order = f.order(clock())
    login_order(browser, order)
    decoded = _never_decoded(monkeypatch)
    files = [(io.BytesIO(_bomb((4000, 3000))), f"p{i}.png") for i in range(2)]  # 12 MP each
    r = _apply(browser, order, files)
    assert r.status_code == 422
    assert "Together these images have 24.0 megapixels" in r.get_data(as_text=True)
    assert decoded == []
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert not list((tmp_path / "evidence").glob("*"))


def test_pixels_are_read_from_the_header_without_decoding():
    from portal.services.uploads import evidence_images

    started = time.process_time()
    assert evidence_images.measure(_bomb((4000, 3000)), "x.png") == (4000, 3000)
    assert time.process_time() - started < 0.05
