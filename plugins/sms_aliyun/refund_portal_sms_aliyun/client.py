"""One SendSms call to Alibaba Cloud (RPC style, parameters in the query), signed with V3."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

from refund_portal_sms_aliyun import signing

ACTION, VERSION = "SendSms", "2017-05-25"
#: codes meaning "try later" (throttled, system trouble): the delivery is retried
TRANSIENT = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "Throttling"})


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider's answer: ``code`` "OK" on success, else its error code."""

    code: str
    message: str
    biz_id: str = ""
    request_id: str = ""

    @property
    def ok(self) -> bool:
        """Whether the SMS was accepted."""
        return self.code == "OK"

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed."""
        return self.code in TRANSIENT


class AliyunSmsClient:
    """Signs and sends ``SendSms`` to ``endpoint`` (``https://dysmsapi.aliyuncs.com/``)."""

    def __init__(self, key_id: str, secret: str, endpoint: str, timeout: float = 5.0) -> None:
        self.key_id, self.secret, self.endpoint, self.timeout = key_id, secret, endpoint, timeout

    def signed_request(
        self, params: dict[str, str], now: datetime | None = None
    ) -> tuple[str, dict[str, str]]:
        """The URL and headers of a signed POST carrying ``params`` in the query."""
        parts = urlsplit(self.endpoint)
        body_hash = signing.sha256_hex(b"")
        headers = {
            "host": parts.netloc,
            "x-acs-action": ACTION,
            "x-acs-version": VERSION,
            "x-acs-date": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": body_hash,
        }
        signed = sorted(headers)
        path = parts.path or "/"
        request = signing.canonical_request(
            "POST", path, params.items(), headers, signed, body_hash
        )
        sig = signing.signature(self.secret, request)
        headers["Authorization"] = (
            f"{signing.ALGORITHM} Credential={self.key_id},"
            f"SignedHeaders={';'.join(signed)},Signature={sig}"
        )
        url = f"{parts.scheme}://{parts.netloc}{path}?{signing.canonical_query(params.items())}"
        return url, headers

    def send(self, phone: str, sign_name: str, template: str, params: dict[str, str]) -> SendResult:
        """Send one templated SMS; raises ``requests.RequestException`` on network trouble."""
        query = {
            "PhoneNumbers": phone,
            "SignName": sign_name,
            "TemplateCode": template,
            "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
        }
        url, headers = self.signed_request(query)
        response = requests.post(url, headers=headers, timeout=self.timeout)
        try:
            body = response.json()
        except ValueError:
            return SendResult(f"HTTP{response.status_code}", response.text[:200])
        return SendResult(
            str(body.get("Code", f"HTTP{response.status_code}")),
            str(body.get("Message", "")),
            str(body.get("BizId", "")),
            str(body.get("RequestId", "")),
        )
