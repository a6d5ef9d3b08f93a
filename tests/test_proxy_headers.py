"""X-Forwarded-For / X-Forwarded-Proto count only from the proxies the operator says are there."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, request

from portal import create_app
from tests.conftest import base_config


def _app(tmp_path: Path, redis_url: str, hops: int) -> Flask:
    config = base_config(tmp_path, f"sqlite:///{tmp_path}/p.sqlite3", redis_url)
    app = create_app({**config, "TRUSTED_PROXY_HOPS": hops})

    @app.get("/_probe")
    def probe() -> str:  # what the limiter and url_for see
        return f"{request.remote_addr} {request.scheme}"

    return app


FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
PROXY = {"REMOTE_ADDR": "10.0.0.2"}


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(tmp_path, redis_url):
    client = _app(tmp_path, redis_url, 0).test_client()
    r = client.get("/_probe", headers=FORWARDED, environ_base=PROXY)
    assert r.get_data(as_text=True) == "10.0.0.2 http"  # a client cannot pick its address


def test_behind_one_proxy_the_clients_address_and_scheme_count(tmp_path, redis_url):
    client = _app(tmp_path, redis_url, 1).test_client()
    r = client.get("/_probe", headers=FORWARDED, environ_base=PROXY)
    assert r.get_data(as_text=True) == "203.0.113.9 https"


@pytest.mark.parametrize("hops", [1, 2])
def test_an_address_the_client_prepends_is_not_believed(tmp_path, redis_url, hops):
    client = _app(tmp_path, redis_url, hops).test_client()
    # the client 203.0.113.9 sends a forged X-Forwarded-For; each proxy appends what it saw
    chain = ["198.51.100.66", "203.0.113.9", "10.0.0.1"][: hops + 1]
    r = client.get("/_probe", headers={"X-Forwarded-For": ", ".join(chain)}, environ_base=PROXY)
    assert r.get_data(as_text=True).split()[0] == "203.0.113.9"
