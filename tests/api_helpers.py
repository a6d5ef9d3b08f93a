"""A shop talking to the API the way docs/integration.md says: signed, with idempotency keys."""

from __future__ import annotations

import itertools
import json
from typing import Any

from portal.extensions import db
from portal.services import context
from portal.services.integration import api_keys, signing
from tests import factories as f

_seq = itertools.count(1)


def order_body(order_no: str | None = None, **over: Any) -> dict[str, Any]:
    n = next(_seq)
    body = {
        "order_no": order_no or f"SHOP{n:06d}",
        "buyer_contact": "13800000000",
        "query_password": "pass1234",
        "product": {
            "sku": "STEAM-100",
            "title": "Steam wallet 100",
            "face_value_fen": 10000,
            "price_fen": 9500,
            "delivery_type": "instant",
            "delivery_sla_minutes": 5,
        },
        "amount_fen": 9500,
        "quantity": 1,
        "payment": {
            "channel": "fakepay",
            "gateway_trade_id": f"GW{n:08d}",
            "merchant_trade_no": f"PAY{n:08d}",
            "captured_fen": 9500,
        },
        "paid_at": "2026-03-09T10:00:00+08:00",
    }
    body.update(over)
    return body


class Shop:
    """An API client for one merchant key."""

    def __init__(self, client, key: str) -> None:
        self.client, self.key = client, key
        self._idem = itertools.count(1)
        self._skew = itertools.count(0)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def signed(
        self, raw: bytes, ts: int | None = None, path: str = "", idem: str = "", method="POST"
    ) -> dict[str, str]:
        ts = int(context.now().timestamp()) if ts is None else ts
        return signing.request_headers(api_keys.hash_key(self.key), method, path, idem, raw, ts)

    def post(self, path: str, body: Any, idem: str | None = None, headers=None, raw=None):
        raw = raw if raw is not None else json.dumps(body).encode()
        # the test clock stands still: each request is signed a second earlier than the last,
        # so that resending a body is a new signed request, not a replay
        ts = int(context.now().timestamp()) - next(self._skew) % 250
        idem = idem or f"idem-{next(self._idem)}-{id(self)}"
        idem = (headers or {}).get("Idempotency-Key", idem)  # signed as it is sent
        h = {
            **self.auth(),
            **self.signed(raw, ts, f"/api/v1{path}", idem),
            "Content-Type": "application/json",
            "Idempotency-Key": idem,
        }
        h.update(headers or {})
        return self.client.post(f"/api/v1{path}", data=raw, headers=h)

    def get(self, path: str):
        return self.client.get(f"/api/v1{path}", headers=self.auth())


def shop(client, slug: str | None = None) -> tuple[Shop, int]:
    m = f.merchant(slug)
    db.session.commit()
    _, key = api_keys.create(m.id)
    return Shop(client, key), m.id
