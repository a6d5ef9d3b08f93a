"""A local Tencent Cloud SMS endpoint (SendSms 2021-01-11) for tests and the demo.

Built from Tencent Cloud's published pages, not from this plugin's client: "SendSms"
(cloud.tencent.com/document/api/382/55981: PhoneNumberSet in E.164, SmsSdkAppId,
TemplateId, SignName, TemplateParamSet; the answer's SendStatusSet with a Code per number,
"Ok" on success, e.g. LimitExceeded.PhoneNumberDailyLimit), "Signature v3"
(TC3-HMAC-SHA256: canonical request over method, path, query, the signed headers with
lower-cased names and values, hex SHA-256 of the body; key derived from "TC3"+SecretKey,
the UTC date, the service and "tc3_request"; timestamps older than 5 minutes expire) and
the common error codes (document/api/382/52075: AuthFailure.SignatureFailure,
AuthFailure.SignatureExpire, AuthFailure.SecretIdNotFound), all answered HTTP 200 with
``{"Response": {"Error": {...}, "RequestId": ...}}``.
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
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from portal.plugins import sms_simulation

_AUTH = re.compile(
    r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/(\w+)/tc3_request,\s*"
    r"SignedHeaders=([^,]+),\s*Signature=(\w+)"
)
_E164_CN = re.compile(r"(?:\+86|0086|86)?1\d{10}")


@dataclass
class Sent:
    """One accepted SMS."""

    phone: str
    app_id: str
    sign_name: str
    template: str
    params: list[str]


@dataclass
class TencentSmsSimulator(sms_simulation.SimulatorServer):
    """Runs on a free loopback port while used as a context manager; ``url`` is its endpoint."""

    secret_id: str = "AKIDsim"  # noqa: S105 - an id, not a secret
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    app_id: str = "1400006666"
    daily_limited: set[str] = field(default_factory=set)  # answered PhoneNumberDailyLimit
    throttled: bool = False  # answer RequestLimitExceeded
    hang_s: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    rejected: int = 0
    now: float | None = None  # the provider's clock (None: real time)

    #: called with each accepted SMS (the demo prints it: its "log")
    on_sent: Callable[[Sent], None] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def _reply(self, content: dict[str, Any]) -> Response:
        content["RequestId"] = str(uuid.uuid4())
        body = json.dumps({"Response": content}, ensure_ascii=False)
        return Response(body, 200, mimetype="application/json")

    def _error(self, code: str, message: str) -> Response:
        return self._reply({"Error": {"Code": code, "Message": message}})

    def _auth_problem(self, request: Request, body: bytes) -> str:
        match = _AUTH.fullmatch(request.headers.get("Authorization", ""))
        if not match:
            return "AuthFailure.InvalidAuthorization"
        secret_id, day, service, signed, sig = match.groups()
        if secret_id != self.secret_id:
            return "AuthFailure.SecretIdNotFound"
        try:
            ts = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return "AuthFailure.InvalidAuthorization"
        now = time.time() if self.now is None else self.now
        if abs(now - ts) > 300:
            return "AuthFailure.SignatureExpire"
        if datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d") != day or service != "sms":
            return "AuthFailure.SignatureFailure"
        names = signed.split(";")
        if "content-type" not in names or "host" not in names:
            return "AuthFailure.SignatureFailure"
        headers = "".join(f"{n}:{request.headers.get(n, '').strip().lower()}\n" for n in names)
        canonical = "\n".join(
            [
                request.method,
                request.path,
                request.query_string.decode(),
                headers,
                signed,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        to_sign = "\n".join(
            [
                "TC3-HMAC-SHA256",
                str(ts),
                f"{day}/{service}/tc3_request",
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = ("TC3" + self.secret_key).encode()
        for part in (day, service, "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return "" if hmac.compare_digest(want, sig) else "AuthFailure.SignatureFailure"

    def _answer(self, request: Request) -> Response:
        body = request.get_data()
        problem = self._auth_problem(request, body)
        if problem:
            self.rejected += 1
            return self._error(problem, "The provided credentials could not be validated.")
        if request.headers.get("X-TC-Action") != "SendSms":
            return self._error("InvalidAction", "no such action")
        if request.headers.get("X-TC-Version") != "2021-01-11":
            return self._error("NoSuchVersion", "no such version")
        if self.throttled:
            return self._error("RequestLimitExceeded", "request limit exceeded")
        try:
            data = json.loads(body)
            phones, app_id = list(data["PhoneNumberSet"]), str(data["SmsSdkAppId"])
            template, params = str(data["TemplateId"]), list(data.get("TemplateParamSet") or [])
        except (ValueError, KeyError, TypeError):
            return self._error("MissingParameter", "missing or malformed parameter")
        if app_id != self.app_id:
            return self._error("FailedOperation.SmsSdkAppIdNotExist", "SdkAppId not found")
        statuses = []
        for phone in phones:
            code, message = "Ok", "send success"
            if not isinstance(phone, str) or not _E164_CN.fullmatch(phone):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "bad number"
            elif phone in self.daily_limited:
                code, message = "LimitExceeded.PhoneNumberDailyLimit", "daily limit"
            else:
                sent = Sent(phone, app_id, str(data.get("SignName", "")), template, params)
                with self._lock:
                    self.sent.append(sent)
                if self.on_sent:
                    self.on_sent(sent)
            serial = f"5000:{uuid.uuid4().int % 10**18}"
            statuses.append(
                {"SerialNo": serial if code == "Ok" else "", "PhoneNumber": str(phone),
                 "Fee": 1 if code == "Ok" else 0, "SessionContext": "", "Code": code,
                 "Message": message, "IsoCode": "CN"}
            )  # fmt: skip
        return self._reply({"SendStatusSet": statuses})


def main(argv: list[str] | None = None) -> None:
    """``python -m refund_portal_sms_tencent.simulator --port N``: the demo's SMS endpoint,
    printing every SMS it accepts; its secret comes from ``SMS_SIMULATOR_SECRET``."""
    sms_simulation.main(
        "sms_tencent",
        "secret-id",
        TencentSmsSimulator.secret_id,
        lambda ident, secret, on_sent: TencentSmsSimulator(
            secret_id=ident, secret_key=secret, on_sent=on_sent
        ),
        argv,
    )


if __name__ == "__main__":
    main()
