"""A local Alibaba Cloud SMS endpoint (SendSms, dysmsapi 2017-05-25) for tests and the demo.

Built from Alibaba Cloud's published pages, not from this plugin's client:
"SendSms - 发送短信" (help.aliyun.com/document_detail/55284: parameters PhoneNumbers,
SignName, TemplateCode, TemplateParam as a JSON object of strings; answer Code/Message/
BizId/RequestId, Code "OK" on success; error codes such as isv.BUSINESS_LIMIT_CONTROL,
isv.MOBILE_NUMBER_ILLEGAL, isv.INVALID_JSON_PARAM) and "Request syntax and signature method
V3" (ACS3-HMAC-SHA256: canonical request over method, path, sorted RFC 3986 query, the
signed headers, hex SHA-256 of the body in x-acs-content-sha256; hex HMAC-SHA256 with the
AccessKey secret). A bad signature is answered HTTP 400 SignatureDoesNotMatch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from werkzeug.wrappers import Request, Response

from portal.plugins import sms_simulation

_AUTH = re.compile(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=(\w+)")
_PHONE = re.compile(r"(?:\+|\+86|0086|86)?1\d{10}")


@dataclass
class Sent:
    """One accepted SMS."""

    phone: str
    sign_name: str
    template: str
    params: dict[str, str]


@dataclass
class AliyunSmsSimulator(sms_simulation.SimulatorServer):
    """Runs on a free loopback port while used as a context manager; ``url`` is its endpoint."""

    key_id: str = "LTAI-sim"
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    sent: list[Sent] = field(default_factory=list)
    throttled: set[str] = field(default_factory=set)  # numbers answered BUSINESS_LIMIT_CONTROL
    hang_s: float = 0.0  # delay every answer (timeouts)
    rejected: int = 0  # requests refused for their signature

    #: called with each accepted SMS (the demo prints it: its "log")
    on_sent: Callable[[Sent], None] | None = None

    def __post_init__(self) -> None:
        self._nonces: set[str] = set()
        self._lock = threading.Lock()

    def _json(self, body: dict[str, Any], status: int = 200) -> Response:
        body.setdefault("RequestId", str(uuid.uuid4()).upper())
        return Response(json.dumps(body, ensure_ascii=False), status, mimetype="application/json")

    def _signature_ok(self, request: Request, body: bytes) -> str:
        """'' when the V3 signature verifies, else the documented error code."""
        match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
        if not match:
            return "IncompleteSignature"
        key_id, signed, sig = match.groups()
        if key_id != self.key_id:
            return "InvalidAccessKeyId.NotFound"
        names = signed.split(";")
        payload = request.headers.get("x-acs-content-sha256", "")
        if payload != hashlib.sha256(body).hexdigest() or "host" not in names:
            return "SignatureDoesNotMatch"
        enc = sorted(
            (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
            for k, v in parse_qsl(request.query_string.decode(), keep_blank_values=True)
        )
        canonical = "\n".join(
            [
                request.method,
                request.path or "/",
                "&".join(f"{k}={v}" for k, v in enc),
                "".join(f"{n}:{request.headers.get(n, '').strip()}\n" for n in names),
                signed,
                payload,
            ]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        want = hmac.new(self.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            return "SignatureDoesNotMatch"
        nonce = request.headers.get("x-acs-signature-nonce", "")
        with self._lock:
            if not nonce or nonce in self._nonces:
                return "SignatureNonceUsed"
            self._nonces.add(nonce)
        return ""

    def _answer(self, request: Request) -> Response:
        body = request.get_data()
        problem = self._signature_ok(request, body)
        if problem:
            self.rejected += 1
            message = "Specified signature does not match our calculation."
            return self._json({"Code": problem, "Message": message}, 400)
        if request.headers.get("x-acs-action") != "SendSms":
            return self._json({"Code": "InvalidAction.NotFound", "Message": "no such action"}, 404)
        params = dict(parse_qsl(request.query_string.decode()))
        params.update(parse_qsl(body.decode(errors="replace")))
        phone = params.get("PhoneNumbers", "")
        if not _PHONE.fullmatch(phone):
            return self._json({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"})
        if not params.get("SignName") or not params.get("TemplateCode"):
            return self._json({"Code": "MissingParameter", "Message": "缺少参数"}, 400)
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            values = None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return self._json({"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法"})
        if phone in self.throttled:
            return self._json({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "业务限流"})
        with self._lock:
            sent = Sent(phone, params["SignName"], params["TemplateCode"], values)
            self.sent.append(sent)
        if self.on_sent:
            self.on_sent(sent)
        biz = f"{int(time.time() * 1000)}^0"
        return self._json({"Code": "OK", "Message": "OK", "BizId": biz})


def main(argv: list[str] | None = None) -> None:
    """``python -m refund_portal_sms_aliyun.simulator --port N``: the demo's SMS endpoint,
    printing every SMS it accepts; its secret comes from ``SMS_SIMULATOR_SECRET``."""
    sms_simulation.main(
        "sms_aliyun",
        "key-id",
        AliyunSmsSimulator.key_id,
        lambda ident, secret, on_sent: AliyunSmsSimulator(
            key_id=ident, secret=secret, on_sent=on_sent
        ),
        argv,
    )


if __name__ == "__main__":
    main()
