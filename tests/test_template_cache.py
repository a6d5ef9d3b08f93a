"""Compiled templates kept on disk: a second app loads them instead of compiling, an empty
setting keeps none, and a cache that cannot be written costs the compile, not the page."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from flask import Flask

from portal import create_app
from portal.infra import template_cache
from tests.conftest import base_config


def _app(tmp_path: Path, template_db: str, redis_url: str, folder: str) -> Flask:
    config = base_config(tmp_path, template_db, redis_url)
    config["TEMPLATE_CACHE_DIR"] = folder
    return create_app(config)


def _home(app: Flask) -> str:
    resp = app.test_client().get("/", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_a_second_app_loads_the_compiled_templates_instead_of_compiling(
    tmp_path: Path, template_db: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "compiled"
    first = _home(_app(tmp_path, template_db, redis_url, str(folder)))
    kept = sorted(p.name for p in folder.iterdir())
    assert kept and all(name.endswith(".cache") for name in kept)

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("a template was compiled although its code was kept")

    monkeypatch.setattr(jinja2.Environment, "compile", no_compiling)
    second = _home(_app(tmp_path, template_db, redis_url, str(folder)))
    # the pages differ only in their per-request tokens
    assert second.count("<form") == first.count("<form") and "<html" in second


def test_an_empty_setting_keeps_no_compiled_template(
    tmp_path: Path, template_db: str, redis_url: str
) -> None:
    app = _app(tmp_path, template_db, redis_url, "")
    assert app.jinja_env.bytecode_cache is None
    assert template_cache.directory(app) is None
    _home(app)


def test_the_default_folder_is_in_the_instance_folder(
    tmp_path: Path, template_db: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    config = base_config(tmp_path, template_db, redis_url)
    app = create_app(config)
    assert template_cache.directory(app) == str(tmp_path / "instance" / "template-cache")
    assert (tmp_path / "instance" / "template-cache").is_dir()


def test_a_cache_that_cannot_be_written_costs_the_compile_not_the_page(
    tmp_path: Path, template_db: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "compiled"
    app = _app(tmp_path, template_db, redis_url, str(folder))
    folder.rmdir()
    folder.write_text("not a folder")  # every write under it fails (even for root)
    assert "<html" in _home(app)
    assert "compiled template not kept" in caplog.text
