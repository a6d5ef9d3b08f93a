"""``AlipayChannel``: refunds through ``alipay.trade.refund``, resolved by the refund query.

Speaks the open platform's protocol over HTTP: RSA2-signed requests (with the certificate
SNs in public-key certificate mode), signature-verified responses (over the raw JSON of
``<method>_response``) and notifications. ``out_request_no`` is the payout's idempotency
key, so a retry never refunds twice. Amounts are read only from documented fields: the
refund answer's ``refund_fee`` is the trade's running total, so a refund's own amount
comes from the refund query's ``refund_amount``; notifications carry no per-refund
amount at all, so each one is confirmed by a refund query before it settles anything.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from portal.infra.gateway_http import GatewayError, GatewayHTTP, GatewayTimeout
from portal.plugins.channels import (
    ArrivalWindow,
    BillMissing,
    BillProvider,
    BillRefused,
    BillRow,
    ConnectionCheck,
    ConnectionChecker,
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
from refund_portal_alipay import bill, connection, signing
from refund_portal_alipay.amounts import fen_to_yuan, yuan_to_fen
from refund_portal_alipay.certs import KeySet

CHINA = ZoneInfo("Asia/Shanghai")
REFUND = "alipay.trade.refund"
QUERY = "alipay.trade.fastpay.refund.query"
DEPOSIT_BACK = "alipay.trade.refund.depositback.completed"
CERT_DOWNLOAD = "alipay.open.app.alipaycert.download"
BILL_URL = "alipay.data.dataservice.bill.downloadurl.query"
#: Alipay's answer when the day's bill is not there (yet)
BILL_NOT_READY = {"isp.bill_not_exist"}
#: the largest bill archive downloaded
MAX_BILL_BYTES = 64 << 20
#: what the refund query asks Alipay to add to its answer (``query_options``)
QUERY_OPTIONS = ["gmt_refund_pay", "deposit_back_info"]
#: outcome unknown: retry with the same out_request_no, or query
UNKNOWN_SUB_CODES = {"ACQ.SYSTEM_ERROR", "ACQ.SELLER_BALANCE_NOT_ENOUGH", "isp.unknow-error"}
#: Alipay retries a notification for about 25 hours; older ones are refused as stale
DEFAULT_NOTIFY_MAX_AGE = timedelta(hours=24)
#: how long a notify_id is remembered: longer than any notification stays fresh
REPLAY_TTL = timedelta(hours=48)


class AlipayChannel(PayoutChannel, ConnectionChecker, BillProvider):
    """Refunds to the Alipay account (or card) the buyer paid with."""

    id = "alipay"
    label = Words(zh="支付宝", en="Alipay")

    def __init__(
        self,
        *,
        app_id: str,
        gateway_url: str,
        app_private_key: str,
        alipay_public_key: str = "",
        keys: KeySet | None = None,
        timeout: float = 10.0,
        notify_max_age: timedelta = DEFAULT_NOTIFY_MAX_AGE,
        replay_guard: ReplayGuard | None = None,
        deposit_back: bool = False,
    ) -> None:
        self.app_id = app_id
        self.gateway_url = gateway_url
        self._private = signing.load_private(app_private_key)
        if keys is None:
            keys = KeySet.plain(signing.load_public(alipay_public_key))
        self.keys = keys
        self.deposit_back = deposit_back
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

    def _params(self, method: str, biz: dict[str, Any]) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **self.keys.request_params(),
        }
        params["sign"] = signing.sign(signing.string_to_sign(params), self._private)
        return params

    def _post(
        self, method: str, biz: dict[str, Any]
    ) -> tuple[str, dict[str, Any], str] | RefundResult:
        """POST a signed request: (raw text, outer object, raw ``<method>_response`` text),
        or an UNKNOWN result when no readable answer came back. Nothing verified yet."""
        form = urlencode(self._params(method, biz)).encode("ascii")
        try:
            resp = self._http.request(
                "POST",
                "",
                form,
                {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            )
        except GatewayTimeout:
            return RefundResult(
                ResultStatus.UNKNOWN, code="TIMEOUT", message="no answer from Alipay in time"
            )
        except GatewayError as exc:
            return RefundResult(
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
            return RefundResult(
                ResultStatus.UNKNOWN,
                code=f"HTTP_{resp.status}",
                message="unreadable or unsigned answer from Alipay" + detail,
                raw=raw[:2000],
            )
        return raw, outer, content

    def _call(
        self, method: str, biz: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, RefundResult | None]:
        """POST a signed request; (verified response object, None) or (None, UNKNOWN result)."""
        posted = self._post(method, biz)
        if isinstance(posted, RefundResult):
            return None, posted
        return self._verified(*posted)

    def _verified(
        self, raw: str, outer: dict[str, Any], content: str
    ) -> tuple[dict[str, Any] | None, RefundResult | None]:
        """The answer's object once its signature verifies; else (None, UNKNOWN result)."""
        sn = str(outer.get("alipay_cert_sn") or "")
        public = self.keys.for_answer(sn)
        if public is None and sn:
            public = self._download_cert(sn)
        if public is None:
            return None, RefundResult(
                ResultStatus.UNKNOWN,
                code="UNKNOWN_ALIPAY_CERT_SN",
                message=(
                    f"Alipay signed with certificate {sn!r}, which is not configured and could "
                    "not be downloaded and checked against the root certificates: add it to "
                    "ALIPAY_PUBLIC_CERT (Alipay is rotating its certificate)"
                ),
                raw=raw[:2000],
            )
        sign = outer.get("sign")
        if not sign or not signing.verify(content, sign, public):
            return None, RefundResult(
                ResultStatus.UNKNOWN,
                code="BAD_SIGNATURE",
                message="Alipay's answer failed signature verification",
                raw=raw[:2000],
            )
        return json.loads(content), None

    def _download_cert(self, sn: str) -> Any:
        """Alipay's new certificate ``sn`` through ``alipay.open.app.alipaycert.download``, as
        Alipay's own SDKs do when an answer names a certificate they lack; trusted only if
        it chains to the configured root certificates (and signed that answer). The key,
        or None."""
        posted = self._post(CERT_DOWNLOAD, {"alipay_cert_sn": sn})
        if isinstance(posted, RefundResult):
            return None
        body = json.loads(posted[2])
        try:
            pem = base64.b64decode(str(body.get("alipay_cert_content", "")), validate=True)
            return self.keys.learn(pem.decode("ascii"), sn)
        except (ValueError, UnicodeDecodeError):
            return None

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
        """The business fields of a refund: identical on every retry of the same request.

        No ``notify_url``: Alipay notifies a refund to the *payment's* notify_url (the
        shop's). With ``deposit_back`` on, ``query_options`` asks for the
        ``alipay.trade.refund.depositback.completed`` message of bank-card refunds.
        """
        biz: dict[str, Any] = {
            "out_request_no": request.idempotency_key,
            "refund_amount": fen_to_yuan(request.amount_fen),
            "refund_reason": request.reason[:256],
        }
        if request.payment.gateway_trade_id:
            biz["trade_no"] = request.payment.gateway_trade_id
        if request.payment.merchant_trade_no:
            biz["out_trade_no"] = request.payment.merchant_trade_no
        if self.deposit_back:
            biz["query_options"] = ["deposit_back_info"]
        return biz

    def execute_refund(self, request: RefundRequest) -> RefundResult:
        body, unknown = self._call(REFUND, self.refund_biz(request))
        if unknown is not None:
            return unknown
        assert body is not None
        if str(body.get("code")) != "10000":
            return self._error(body)
        # refund_fee is what the whole trade has had back so far, this refund included: with
        # fund_change=Y it is at least this refund's amount. Anything else (fund_change N, a
        # repeat or a refund under way, or a running total too small to hold this refund) is
        # confirmed by the refund query, which names this refund's own amount.
        total = _fen_or_none(body.get("refund_fee"))
        if body.get("fund_change") == "Y" and total is not None and total >= request.amount_fen:
            return RefundResult(
                ResultStatus.SUCCEEDED,
                gateway_reference=str(body.get("trade_no", "")),
                message="refunded",
                code="Y",
                raw=body,
                amount_fen=request.amount_fen,
            )
        confirmed = self.query_refund(request)
        if confirmed.status is ResultStatus.SUCCEEDED:
            return RefundResult(
                ResultStatus.SUCCEEDED,
                gateway_reference=str(body.get("trade_no", "")) or confirmed.gateway_reference,
                message="refunded (confirmed by query)",
                code="N" if body.get("fund_change") != "Y" else "Y",
                raw={"refund": body, "query": confirmed.raw},
                amount_fen=confirmed.amount_fen,
            )
        if confirmed.status is ResultStatus.UNKNOWN:
            return RefundResult(
                ResultStatus.UNKNOWN,
                gateway_reference=str(body.get("trade_no", "")),
                message=confirmed.message,
                code=confirmed.code,
                raw={"refund": body, "query": confirmed.raw},
            )
        return RefundResult(
            ResultStatus.PENDING,
            gateway_reference=str(body.get("trade_no", "")),
            message="Alipay accepted the refund; not confirmed yet",
            code="FUND_CHANGE_N" if body.get("fund_change") != "Y" else "NOT_CONFIRMED",
            raw={"refund": body, "query": confirmed.raw},
        )

    def fetch_bill(self, day: date) -> Iterator[BillRow]:
        """The refunds of the trade bill (``bill_type=trade``) for the Beijing ``day``: the
        signed answer's ``bill_download_url``, its ZIP downloaded and read (``bill``)."""
        body, unknown = self._call(BILL_URL, {"bill_type": "trade", "bill_date": f"{day:%Y-%m-%d}"})
        if unknown is not None:
            raise BillMissing(f"{unknown.code}: {unknown.message}")
        assert body is not None
        if str(body.get("code")) != "10000":
            sub = str(body.get("sub_code", ""))
            said = f"{sub or body.get('code')}: {body.get('sub_msg') or body.get('msg') or ''}"
            if sub in BILL_NOT_READY or sub in UNKNOWN_SUB_CODES:
                raise BillMissing(said)
            raise BillRefused(said)
        data = self._download(str(body.get("bill_download_url") or ""))
        return bill.refund_rows(data, day)

    def _download(self, url: str) -> bytes:
        """The file at the (signed answer's) download address; BillMissing if it cannot be had."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BillRefused(f"the bill's address is not a web address: {url[:200]!r}")
        http = GatewayHTTP(f"{parts.scheme}://{parts.netloc}", self.timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            resp = http.request("GET", target, None, {}, max_bytes=MAX_BILL_BYTES)
        except GatewayError as exc:
            raise BillMissing(f"the bill could not be downloaded: {exc}") from None
        if resp.status != 200:
            raise BillMissing(f"the bill's download answered HTTP {resp.status}")
        return resp.body

    def check_connection(self) -> ConnectionCheck:
        """One signed refund query for a refund that does not exist (see ``connection``)."""
        return connection.check(self)

    def query_refund(self, request: RefundRequest) -> RefundResult:
        result = self.query(
            request.idempotency_key,
            request.payment.gateway_trade_id,
            request.payment.merchant_trade_no,
        )
        if result.status is ResultStatus.SUCCEEDED and result.amount_fen != request.amount_fen:
            # money moved under our key, but not the amount we asked: never settle from it
            return RefundResult(
                ResultStatus.UNKNOWN,
                gateway_reference=result.gateway_reference,
                code="AMOUNT_MISMATCH",
                message=(
                    f"Alipay reports {result.amount_fen} fen refunded under this key, "
                    f"not {request.amount_fen}"
                ),
                raw=result.raw,
                amount_fen=result.amount_fen,
            )
        return result

    def query(
        self, out_request_no: str, trade_no: str = "", out_trade_no: str = ""
    ) -> RefundResult:
        """What ``alipay.trade.fastpay.refund.query`` says of one refund, amount included.

        ``query_options`` asks for ``gmt_refund_pay`` (and ``deposit_back_info``): a success
        must say ``refund_status=REFUND_SUCCESS`` with the refund's time and amount; an
        answer without ``refund_status`` is a refund Alipay does not have (documented: not
        received, or failed), never a success.
        """
        biz: dict[str, Any] = {"out_request_no": out_request_no}
        if trade_no:
            biz["trade_no"] = trade_no
        if out_trade_no:
            biz["out_trade_no"] = out_trade_no
        biz["query_options"] = QUERY_OPTIONS
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
        status = body.get("refund_status")
        reference = str(body.get("trade_no", ""))
        if status == "REFUND_SUCCESS":
            amount = _fen_or_none(body.get("refund_amount"))
            if amount is None or not body.get("gmt_refund_pay"):
                return RefundResult(
                    ResultStatus.UNKNOWN,
                    reference,
                    code="INCOMPLETE_ANSWER",
                    message="Alipay's query answer lacks refund_amount or gmt_refund_pay",
                    raw=body,
                )
            return RefundResult(
                ResultStatus.SUCCEEDED,
                gateway_reference=reference,
                message="refund confirmed by query",
                raw=body,
                amount_fen=amount,
            )
        if status:
            return RefundResult(
                ResultStatus.PENDING,
                reference,
                code=str(status),
                message="refund under way",
                raw=body,
            )
        # a successful query without refund_status: this refund does not exist (yet)
        return RefundResult(
            ResultStatus.PENDING, code="NOT_FOUND", message="Alipay has no such refund", raw=body
        )

    # -- notifications ----------------------------------------------------------------------

    def _fresh(self, sent: datetime, label: str) -> None:
        age = datetime.now(CHINA) - sent
        if age > self.notify_max_age:
            raise NotificationRejected(f"stale notification (sent {label})")
        if age < -timedelta(minutes=5):
            raise NotificationRejected(f"notification from the future ({label})")

    def _refund_named(self, params: Mapping[str, str]) -> tuple[str, str, str]:
        """(out_request_no, trade_no, out_trade_no) of a fresh payment-address notification or
        a fresh ``alipay.trade.refund.depositback.completed`` message."""
        if "msg_method" in params:  # a message of Alipay's message service
            if params["msg_method"] != DEPOSIT_BACK:
                raise NotificationRejected(f"not a refund message: {params['msg_method']}")
            try:
                sent = datetime.fromtimestamp(int(params.get("utc_timestamp", "")) / 1000, CHINA)
                biz = json.loads(params.get("biz_content", ""))
            except (ValueError, OverflowError):
                raise NotificationRejected("malformed utc_timestamp or biz_content") from None
            if not isinstance(biz, dict):
                raise NotificationRejected("malformed biz_content")
            self._fresh(sent, params["utc_timestamp"])
            names = (biz.get("out_request_no"), biz.get("trade_no"), biz.get("out_trade_no"))
        else:  # trade_status_sync to the payment's notify_url, forwarded by the shop
            try:
                sent = datetime.strptime(
                    params.get("notify_time", ""), "%Y-%m-%d %H:%M:%S"
                ).replace(tzinfo=CHINA)
            except ValueError:
                raise NotificationRejected("missing or malformed notify_time") from None
            self._fresh(sent, params["notify_time"])
            names = (params.get("out_biz_no"), params.get("trade_no"), params.get("out_trade_no"))
        key, trade_no, out_trade_no = (str(n or "") for n in names)
        if not key or not trade_no:
            raise NotificationRejected("notification names no refund")
        return key, trade_no, out_trade_no

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[Notification, NotificationReply]:
        """A refund notification (forwarded from the payment's notify_url) or message.

        Verified (Alipay's signature, our app_id, fresh), then confirmed by a refund query:
        its status and ``refund_amount`` are what the core applies, since no documented
        notification field holds the refund's own amount. A notify_id seen before is
        answered ``success`` as a duplicate with nothing to apply.
        """
        try:
            params = dict(
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
            )
        except (UnicodeDecodeError, ValueError):
            raise NotificationRejected("malformed notification body") from None
        sign = params.get("sign", "")
        if params.get("sign_type", "RSA2").upper() != "RSA2" or not sign:
            raise NotificationRejected("unsigned notification or unknown sign_type")
        content = signing.string_to_sign(params, ("sign", "sign_type"))
        if not any(signing.verify(content, sign, key) for key in self.keys.keys.values()):
            raise NotificationRejected("bad signature")
        if params.get("app_id") != self.app_id:
            raise NotificationRejected("notification for another app_id")
        key, trade_no, out_trade_no = self._refund_named(params)
        notify_id = params.get("notify_id", "")
        if not notify_id:
            raise NotificationRejected("notification has no notify_id")
        confirmed = self.query(key, trade_no, out_trade_no)
        if confirmed.status is ResultStatus.UNKNOWN:
            # nothing recorded, the notify_id not used up: the sender tries again later
            raise NotificationRejected(f"not confirmed by a refund query ({confirmed.code})")
        raw = {"notification": params, "query": confirmed.raw}
        status = confirmed.status
        amount = confirmed.amount_fen
        if not self._replay.first_seen("alipay", notify_id, int(self.replay_ttl.total_seconds())):
            status, amount = ResultStatus.PENDING, None  # a duplicate: acknowledged, not applied
            raw["duplicate_notify_id"] = notify_id
        note = Notification(
            idempotency_key=key,
            status=status,
            amount_fen=amount,
            gateway_reference=trade_no,
            gateway_trade_id=trade_no,
            raw=raw,
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
