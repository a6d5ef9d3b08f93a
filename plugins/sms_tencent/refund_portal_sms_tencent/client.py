"""One SendSms call to Tencent Cloud API 3.0, signed with TC3-HMAC-SHA256.

CanonicalRequest = "POST\\n/\\n\\n" + "content-type:...\\nhost:...\\n" + "\\n" +
"content-type;host" + "\\n" + hex(sha256(body)); the key is derived
HMAC("TC3"+SecretKey, date) -> service -> "tc3_request"; the signature is the hex HMAC of
"TC3-HMAC-SHA256\\n<timestamp>\\n<date>/sms/tc3_request\\n<hex sha256 of the request>".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

ACTION, VERSION, SERVICE = "SendSms", "2021-01-11", "sms"
CONTENT_TYPE = "application/json; charset=utf-8"
#: codes meaning "try later": the delivery is retried
TRANSIENT = frozenset(
    {"RequestLimitExceeded", "InternalError", "FailedOperation.FailResolvePacket"}
)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider's answer for our one number: ``code`` "Ok" on success."""

    code: str
    message: str
    serial_no: str = ""
    request_id: str = ""

    @property
    def ok(self) -> bool:
        """Whether the SMS was accepted."""
        return self.code == "Ok"

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed."""
        return self.code in TRANSIENT or self.code.startswith("RequestLimitExceeded")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class TencentSmsClient:
    """Signs and sends ``SendSms`` to ``endpoint`` (``https://sms.tencentcloudapi.com/``)."""

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        endpoint: str,
        region: str = "ap-guangzhou",
        timeout: float = 5.0,
    ) -> None:
        self.secret_id, self.secret_key, self.endpoint = secret_id, secret_key, endpoint
        self.region, self.timeout = region, timeout

    def signed_headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The headers of a signed POST of ``body``."""
        ts = int(time.time()) if timestamp is None else timestamp
        host = urlsplit(self.endpoint).netloc
        day = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        canonical = "\n".join(
            [
                "POST",
                "/",
                "",
                f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
                "content-type;host",
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{day}/{SERVICE}/tc3_request"
        to_sign = "\n".join(
            ["TC3-HMAC-SHA256", str(ts), scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = _hmac(_hmac(_hmac(("TC3" + self.secret_key).encode(), day), SERVICE), "tc3_request")
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Authorization": f"TC3-HMAC-SHA256 Credential={self.secret_id}/{scope}, "
            f"SignedHeaders=content-type;host, Signature={sig}",
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(ts),
            "X-TC-Region": self.region,
        }

    def send(
        self, phone: str, app_id: str, sign_name: str, template: str, params: list[str]
    ) -> SendResult:
        """Send one templated SMS; raises ``requests.RequestException`` on network trouble."""
        payload = {
            "PhoneNumberSet": [phone],
            "SmsSdkAppId": app_id,
            "SignName": sign_name,
            "TemplateId": template,
            "TemplateParamSet": params,
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        url = self.endpoint.rstrip("/") + "/"
        response = requests.post(
            url, data=body, headers=self.signed_headers(body), timeout=self.timeout
        )
        try:
            answer = response.json()["Response"]
        except (ValueError, KeyError, TypeError):
            return SendResult(f"HTTP{response.status_code}", response.text[:200])
        request_id = str(answer.get("RequestId", ""))
        if "Error" in answer:
            error = answer["Error"]
            return SendResult(str(error.get("Code")), str(error.get("Message")), "", request_id)
        status = (answer.get("SendStatusSet") or [{}])[0]
        return SendResult(
            str(status.get("Code", "")),
            str(status.get("Message", "")),
            str(status.get("SerialNo", "")),
            request_id,
        )
