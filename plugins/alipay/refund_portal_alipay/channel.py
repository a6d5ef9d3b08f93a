"""``AlipayChannel``: refunds through ``alipay.trade.refund``, resolved by the refund query.

Speaks the open platform's protocol over HTTP: RSA2-signed requests, signature-verified
responses (over the raw JSON of ``<method>_response``) and notifications.
``out_request_no`` is the payout's idempotency key, so a retry never refunds twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from portal.infra.gateway_http import GatewayError, GatewayHTTP, GatewayTimeout
from portal.plugins.channels import (
    ArrivalWindow,
    MemoryReplayGuard,
    Notification,
    NotificationRejected,
    NotificationReply,
    PaymentRef,
    PayoutChannel,
    RefundRequest,
    RefundResult,
    ReplayGuard,
    ResultStatus,
)
from portal.plugins.words import Note, Words
from refund_portal_alipay import signing
from refund_portal_alipay.amounts import fen_to_yuan, yuan_to_fen

CHINA = ZoneInfo("Asia/Shanghai")
REFUND = "alipay.trade.refund"
QUERY = "alipay.trade.fastpay.refund.query"
#: outcome unknown: retry with the same out_request_no, or query
UNKNOWN_SUB_CODES = {"ACQ.SYSTEM_ERROR", "ACQ.SELLER_BALANCE_NOT_ENOUGH", "isp.unknow-error"}
#: Alipay retries a notification for about 25 hours; older ones are refused as stale
DEFAULT_NOTIFY_MAX_AGE = timedelta(hours=24)
#: how long a notify_id is remembered: longer than any notification stays fresh
REPLAY_TTL = timedelta(hours=48)


class AlipayChannel(PayoutChannel):
    """Refunds to the Alipay account (or card) the buyer paid with."""

    id = "alipay"
    label = Words(zh="支付宝", en="Alipay")

    def __init__(
        self,
        *,
        app_id: str,
        gateway_url: str,
        app_private_key: str,
        alipay_public_key: str,
        timeout: float = 10.0,
        notify_max_age: timedelta = DEFAULT_NOTIFY_MAX_AGE,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self.app_id = app_id
        self.gateway_url = gateway_url
        self._private = signing.load_private(app_private_key)
        self._alipay_public = signing.load_public(alipay_public_key)
        self.notify_max_age = notify_max_age
        self.replay_ttl = max(REPLAY_TTL, 2 * notify_max_age)
        self._replay = replay_guard or MemoryReplayGuard()
        self._http = GatewayHTTP(gateway_url, timeout)

    @property
    def timeout(self) -> float:
        """Seconds to wait for the gateway (to connect, and for each read of its answer)."""
        return self._http.timeout

    def arrival(self, payment: PaymentRef) -> ArrivalWindow:
        return ArrivalWindow("working_days", 0, 2)  # at once; some banks behind it 1-2 days

    # -- requests ---------------------------------------------------------------------------

    def _params(self, method: str, biz: dict[str, Any], notify_url: str = "") -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        if notify_url:
            params["notify_url"] = notify_url
        params["sign"] = signing.sign(signing.string_to_sign(params), self._private)
        return params

    def _call(
        self, method: str, biz: dict[str, Any], notify_url: str = ""
    ) -> tuple[dict[str, Any] | None, RefundResult | None]:
        """POST a signed request; (verified response object, None) or (None, UNKNOWN result)."""
        form = urlencode(self._params(method, biz, notify_url)).encode("ascii")
        try:
            resp = self._http.request(
                "POST",
                "",
                form,
                {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            )
        except GatewayTimeout:
            return None, RefundResult(
                ResultStatus.UNKNOWN, code="TIMEOUT", message="no answer from Alipay in time"
            )
        except GatewayError as exc:
            return None, RefundResult(
                ResultStatus.UNKNOWN, code="NETWORK", message=f"could not reach Alipay: {exc}"
            )
        raw = resp.body.decode("utf-8", errors="replace")
        key = method.replace(".", "_") + "_response"
        content = signing.response_content(raw, key)
        try:
            outer = json.loads(raw)
        except ValueError:
            outer = None
        if resp.status != 200 or content is None or not isinstance(outer, dict):
            # e.g. an unsigned "error_response" (bad app_id or signature): nothing to trust
            err = outer.get("error_response") if isinstance(outer, dict) else None
            detail = f": {err.get('sub_code') or err.get('code')}" if isinstance(err, dict) else ""
            return None, RefundResult(
                ResultStatus.UNKNOWN,
                code=f"HTTP_{resp.status}",
                message="unreadable or unsigned answer from Alipay" + detail,
                raw=raw[:2000],
            )
        sign = outer.get("sign")
        if not sign or not signing.verify(content, sign, self._alipay_public):
            return None, RefundResult(
                ResultStatus.UNKNOWN,
                code="BAD_SIGNATURE",
                message="Alipay's answer failed signature verification",
                raw=raw[:2000],
            )
        return json.loads(content), None

    @staticmethod
    def _error(body: dict[str, Any]) -> RefundResult:
        code, sub = str(body.get("code", "")), str(body.get("sub_code", ""))
        message = str(body.get("sub_msg") or body.get("msg") or "")
        if code == "20000" or sub in UNKNOWN_SUB_CODES:
            return RefundResult(ResultStatus.UNKNOWN, code=sub or code, message=message, raw=body)
        return RefundResult(
            ResultStatus.FAILED,
            code=sub or code,
            message=message,
            raw=body,
            note=Note("gateway_refused"),
        )

    def refund_biz(self, request: RefundRequest) -> dict[str, Any]:
        """The business fields of a refund: identical on every retry of the same request."""
        biz: dict[str, Any] = {
            "out_request_no": request.idempotency_key,
            "refund_amount": fen_to_yuan(request.amount_fen),
            "refund_reason": request.reason[:256],
        }
        if request.payment.gateway_trade_id:
            biz["trade_no"] = request.payment.gateway_trade_id
        if request.payment.merchant_trade_no:
            biz["out_trade_no"] = request.payment.merchant_trade_no
        return biz

    def execute_refund(self, request: RefundRequest) -> RefundResult:
        body, unknown = self._call(REFUND, self.refund_biz(request), request.notify_url)
        if unknown is not None:
            return unknown
        assert body is not None
        if str(body.get("code")) != "10000":
            return self._error(body)
        # refund_fee is what the whole trade has had back so far, not this refund: the amount
        # of this refund is the one Alipay accepted under this out_request_no
        if body.get("fund_change") == "Y":
            return RefundResult(
                ResultStatus.SUCCEEDED,
                gateway_reference=str(body.get("trade_no", "")),
                message="refunded",
                code="Y",
                raw=body,
                amount_fen=request.amount_fen,
            )
        # fund_change N (or none): a repeat of a refund done before, or one still under way.
        # Alipay's guidance is to confirm with the refund query before calling it done.
        confirmed = self.query_refund(request)
        if confirmed.status is ResultStatus.SUCCEEDED:
            return RefundResult(
                ResultStatus.SUCCEEDED,
                gateway_reference=str(body.get("trade_no", "")) or confirmed.gateway_reference,
                message="refunded (already done before; confirmed by query)",
                code="N",
                raw={"refund": body, "query": confirmed.raw},
                amount_fen=confirmed.amount_fen or request.amount_fen,
            )
        return RefundResult(
            ResultStatus.PENDING,
            gateway_reference=str(body.get("trade_no", "")),
            message="Alipay accepted the refund (fund_change N); not confirmed yet",
            code="FUND_CHANGE_N",
            raw={"refund": body, "query": confirmed.raw},
        )

    def query_refund(self, request: RefundRequest) -> RefundResult:
        biz = {"out_request_no": request.idempotency_key}
        if request.payment.gateway_trade_id:
            biz["trade_no"] = request.payment.gateway_trade_id
        if request.payment.merchant_trade_no:
            biz["out_trade_no"] = request.payment.merchant_trade_no
        body, unknown = self._call(QUERY, biz)
        if unknown is not None:
            return unknown
        assert body is not None
        if str(body.get("code")) != "10000":
            # a failed query says nothing about the refund itself: never final from here
            error = self._error(body)
            return RefundResult(
                ResultStatus.UNKNOWN, code=error.code, message=error.message, raw=body
            )
        if body.get("refund_status") == "REFUND_SUCCESS":
            return RefundResult(
                ResultStatus.SUCCEEDED,
                gateway_reference=str(body.get("trade_no", "")),
                message="refund confirmed by query",
                raw=body,
                amount_fen=_fen_or_none(body.get("refund_amount")),
            )
        # a successful query without refund_status: this refund does not exist (yet)
        return RefundResult(
            ResultStatus.PENDING, code="NOT_FOUND", message="Alipay has no such refund", raw=body
        )

    # -- notifications ----------------------------------------------------------------------

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[Notification, NotificationReply]:
        try:
            params = dict(
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
            )
        except (UnicodeDecodeError, ValueError):
            raise NotificationRejected("malformed notification body") from None
        sign = params.get("sign", "")
        if params.get("sign_type", "RSA2") != "RSA2" or not sign:
            raise NotificationRejected("unsigned notification or unknown sign_type")
        if not signing.verify(
            signing.string_to_sign(params, ("sign", "sign_type")), sign, self._alipay_public
        ):
            raise NotificationRejected("bad signature")
        if params.get("app_id") != self.app_id:
            raise NotificationRejected("notification for another app_id")
        try:
            sent = datetime.strptime(params.get("notify_time", ""), "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=CHINA
            )
        except ValueError:
            raise NotificationRejected("missing or malformed notify_time") from None
        age = datetime.now(CHINA) - sent
        if age > self.notify_max_age:
            raise NotificationRejected(f"stale notification (sent {params['notify_time']})")
        if age < -timedelta(minutes=5):
            raise NotificationRejected(f"notification from the future ({params['notify_time']})")
        key = params.get("out_biz_no", "")
        if not key or not params.get("trade_no"):
            raise NotificationRejected("notification names no refund")
        try:
            amount = yuan_to_fen(params["send_back_fee"]) if params.get("send_back_fee") else None
        except ValueError:
            raise NotificationRejected("malformed amount") from None
        notify_id = params.get("notify_id", "")
        if not notify_id:
            raise NotificationRejected("notification has no notify_id")
        ttl = int(self.replay_ttl.total_seconds())
        if not self._replay.first_seen("alipay", notify_id, ttl):
            raise NotificationRejected("replayed notify_id")
        status = ResultStatus.SUCCEEDED if params.get("gmt_refund") else ResultStatus.PENDING
        note = Notification(
            idempotency_key=key,
            status=status,
            amount_fen=amount,
            gateway_reference=params["trade_no"],
            gateway_trade_id=params["trade_no"],
            raw=params,
        )
        return note, NotificationReply(200, b"success")


def _fen_or_none(text: object) -> int | None:
    """An amount Alipay reported, in fen; None when it gave none (or none we can read)."""
    if not text:
        return None
    try:
        return yuan_to_fen(str(text))
    except ValueError:
        return None
