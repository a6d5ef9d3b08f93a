"""The OpenAPI document is kept true: schemathesis fuzzes every operation of the running API
(over real HTTP, signed like a shop would sign) and checks each answer against the document."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from portal.extensions import db
from portal.services import context
from portal.services.integration import api_keys, signing
from tests import factories as f
from tests.live import serve

pytestmark = pytest.mark.slow  # hundreds of generated requests: CI's `make test-slow`

_skew = itertools.count()


class ShopSigning(requests.auth.AuthBase):
    """Signs every write sent with the shop's key, as the shop would (schemathesis fills the
    signature headers with random values; a probe that strips or forges the key, or leaves
    out a signature header, is left unsigned, and must be refused)."""

    def __init__(self, key: str) -> None:
        self.bearer = f"Bearer {key}"
        self.secret = api_keys.hash_key(key)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        signed = all(h in r.headers for h in (signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER))
        if r.method == "POST" and r.headers.get("Authorization") == self.bearer and signed:
            body = r.body or b""
            body = body.encode() if isinstance(body, str) else body
            ts = int(context.now().timestamp()) - next(_skew) % 250
            url = urlsplit(r.url or "")
            path = url.path + (f"?{url.query}" if url.query else "")
            idem = r.headers.get("Idempotency-Key", "")
            r.headers.update(signing.request_headers(self.secret, "POST", path, idem, body, ts))
        return r


@pytest.fixture
def live_api(app):
    m = f.merchant("fuzzshop")
    db.session.commit()
    _, key = api_keys.create(m.id)
    with serve(app) as base:
        schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
        yield schema, base, key


#: per generation mode, spread over every operation (CI may raise it)
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "250"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_matches_its_openapi_document(live_api, mode):
    schema, base, key = live_api
    session = requests.Session()
    session.auth = ShopSigning(key)
    seen: Counter = Counter()
    session.hooks["response"].append(
        lambda r, *a, **kw: seen.update([f"{r.request.method} {r.status_code}"])
    )

    @given(case=schema.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.call_and_validate(
            base_url=f"{base}/api/v1",
            session=session,
            headers={"Authorization": f"Bearer {key}"},
        )

    check()
    if mode == GenerationMode.POSITIVE:
        assert seen["POST 201"] > 0  # orders really went in, not only refusals
    else:
        # invalid bodies and headers were really sent, and refused as invalid
        assert seen["POST 422"] + seen["POST 400"] > 0
