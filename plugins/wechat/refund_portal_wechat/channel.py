"""The WeChat Pay API v3 payout channel: refund, query and refund notifications.

Every request is signed with the merchant key; every answer is verified before it is
believed, with the key its ``Wechatpay-Serial`` names: the WeChat Pay public key, or a
platform certificate (downloaded, kept and rotated by :mod:`refund_portal_wechat.keyring`),
or either while the merchant switches. Anything that leaves the outcome
open (timeouts, 5xx, SYSTEM_ERROR, FREQUENCY_LIMITED, an answer that does not
verify) is ``UNKNOWN``: the core resolves it by querying, or by re-sending the
byte-identical request with the same ``out_refund_no``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from portal.infra.gateway_http import (
    GatewayError,
    GatewayHTTP,
    GatewayResponse,
    GatewayTimeout,
    GatewayUnreachable,
)
from portal.plugins.channels import (
    AbnormalRedirect,
    ArrivalWindow,
    BillMissing,
    BillProvider,
    BillRefused,
    BillRow,
    ChannelError,
    ConnectionCheck,
    MemoryReplayGuard,
    MemorySharedStore,
    Notification,
    NotificationRejected,
    NotificationReply,
    PaymentRef,
    PayoutChannel,
    RefundRequest,
    RefundResult,
    ReplayGuard,
    ResultStatus,
    SharedStore,
)
from portal.plugins.words import Note, Words
from refund_portal_wechat import bill, connection, crypto
from refund_portal_wechat.certificates import (
    CERTIFICATES_PATH,
    PUBLIC_KEY_PREFIX,
    load_trust_chain,
)
from refund_portal_wechat.keyring import Download, Keyring

REFUNDS_PATH = "/v3/refund/domestic/refunds"
TRADE_BILL_PATH = "/v3/bill/tradebill"
#: WeChat Pay's answers when the day's bill is not there (yet)
BILL_NOT_READY = frozenset({"NO_STATEMENT_EXIST", "STATEMENT_CREATING"})
#: the largest bill file downloaded
MAX_BILL_BYTES = 64 << 20
REPLAY_NAMESPACE = "wechat"
#: nonces are remembered for twice the freshness window, so a replay cannot outlive it
REPLAY_TTL_S = 2 * crypto.MAX_CLOCK_SKEW_S

#: refund ``status`` values -> (our status, code)
_REFUND_STATUS: dict[str, tuple[ResultStatus, str]] = {
    "SUCCESS": (ResultStatus.SUCCEEDED, ""),
    "PROCESSING": (ResultStatus.PENDING, ""),
    "CLOSED": (ResultStatus.FAILED, "CLOSED"),
    # held by WeChat Pay: the buyer's card or account cannot receive it; the merchant
    # redirects it (apply-abnormal-refund, or the console) and a SUCCESS can follow
    "ABNORMAL": (ResultStatus.ABNORMAL, "ABNORMAL"),
}
#: the debit cards apply-abnormal-refund accepts (WeChat Pay bank types, as documented)
REDIRECT_BANKS: tuple[tuple[str, Words], ...] = (
    ("CMB_DEBIT", Words(zh="招商银行借记卡", en="China Merchants Bank debit card")),
    ("COMM_DEBIT", Words(zh="交通银行借记卡", en="Bank of Communications debit card")),
    ("ABC_DEBIT", Words(zh="农业银行借记卡", en="Agricultural Bank of China debit card")),
    ("CCB_DEBIT", Words(zh="建设银行借记卡", en="China Construction Bank debit card")),
    ("ICBC_DEBIT", Words(zh="工商银行借记卡", en="ICBC debit card")),
    ("BOC_DEBIT", Words(zh="中国银行借记卡", en="Bank of China debit card")),
    ("SPA_DEBIT", Words(zh="平安银行借记卡", en="Ping An Bank debit card")),
    ("SPDB_DEBIT", Words(zh="浦发银行借记卡", en="SPD Bank debit card")),
    ("CITIC_DEBIT", Words(zh="中信银行借记卡", en="China CITIC Bank debit card")),
    ("CEB_DEBIT", Words(zh="光大银行借记卡", en="China Everbright Bank debit card")),
    ("CMBC_DEBIT", Words(zh="民生银行借记卡", en="China Minsheng Bank debit card")),
    ("CIB_DEBIT", Words(zh="兴业银行借记卡", en="Industrial Bank debit card")),
    ("GDB_DEBIT", Words(zh="广发银行借记卡", en="China Guangfa Bank debit card")),
    ("PSBC_DEBIT", Words(zh="邮储银行借记卡", en="Postal Savings Bank of China debit card")),
    ("NBCB_DEBIT", Words(zh="宁波银行借记卡", en="Bank of Ningbo debit card")),
)
#: what people read about a refund in each of those codes (the portal's own wording)
_NOTES = {"CLOSED": Note("gateway_refused"), "ABNORMAL": Note("account_unusable")}
#: notification event -> the refund_status its plaintext must carry
_EVENTS = {
    "REFUND.SUCCESS": "SUCCESS",
    "REFUND.CLOSED": "CLOSED",
    "REFUND.ABNORMAL": "ABNORMAL",
}
#: error codes that leave the outcome open, whatever the HTTP status
_OPEN_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED", "BIZERR_NEED_RETRY"})


class WechatChannel(PayoutChannel, BillProvider):
    """Refunds back to the WeChat Pay balance or card the buyer paid with.

    Also an ``AbnormalRedirector``: a refund WeChat Pay reports ``ABNORMAL`` is sent on to the
    buyer's debit card or the merchant's bank account with ``apply-abnormal-refund``.
    """

    id = "wechat"
    label = Words(zh="微信支付", en="WeChat Pay")

    def __init__(
        self,
        *,
        mchid: str,
        gateway_url: str,
        private_key: str | bytes,
        cert_serial: str,
        apiv3_key: str | bytes,
        platform_public_key: str | bytes | None = None,
        platform_public_key_id: str | None = None,
        key_mode: str | None = None,
        public_keys: Mapping[str, str | bytes] | None = None,
        trust_chain: str | bytes | None = None,
        timeout: float = 10.0,
        replay_guard: ReplayGuard | None = None,
        shared_store: SharedStore | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``public_keys`` maps each WeChat Pay public key id to its PEM (several during a
        replacement); ``platform_public_key`` + ``platform_public_key_id`` give one. The
        ``key_mode`` is ``public_key``, ``platform_cert`` (platform certificates, downloaded)
        or ``cert_and_public_key`` (both); by default public_key when a public key is given, else
        certificate. ``trust_chain``: WeChat Pay's certificate trust chain (PEM or PKCS#7),
        which every downloaded certificate must chain to."""
        self.mchid = mchid
        self.gateway_url = gateway_url.rstrip("/")
        self.cert_serial = cert_serial
        self._private_key = crypto.load_private_key(private_key)
        self._apiv3_key = apiv3_key
        crypto.aes_gcm_encrypt(apiv3_key, "0" * 12, "", b"")  # fail fast on a bad key length
        pems: dict[str, str | bytes] = dict(public_keys or {})
        if platform_public_key is not None and platform_public_key_id:
            pems[platform_public_key_id] = platform_public_key
        mode = key_mode or ("public_key" if pems else "platform_cert")
        if mode in ("public_key", "cert_and_public_key") and not pems:
            raise ChannelError(f"WeChat Pay key mode {mode} needs the WeChat Pay public key")
        if mode == "platform_cert" and pems:
            raise ChannelError(
                "WeChat Pay key mode platform_cert takes no public key"
                " (use cert_and_public_key for both)"
            )
        for key_id in pems:
            if not key_id.startswith(PUBLIC_KEY_PREFIX):
                raise ChannelError(f"a WeChat Pay public key id starts with {PUBLIC_KEY_PREFIX}")
        self._replay_guard: ReplayGuard = replay_guard or MemoryReplayGuard()
        self._http = GatewayHTTP(self.gateway_url, timeout)
        self._clock = clock
        try:
            chain = load_trust_chain(trust_chain) if trust_chain else []
        except crypto.SignatureError as exc:
            raise ChannelError(f"WECHAT_PLATFORM_CERT_CA: {exc}") from exc
        self.keyring = Keyring(
            mchid=mchid,
            mode=mode,
            public_keys={kid: crypto.load_public_key(pem) for kid, pem in pems.items()},
            apiv3_key=apiv3_key,
            store=shared_store or MemorySharedStore(),
            download=self._download_certificates,
            trust_chain=chain,
            clock=clock,
            monotonic=monotonic,
        )

    @property
    def key_mode(self) -> str:
        """``public_key``, ``platform_cert`` or ``cert_and_public_key``."""
        return self.keyring.mode

    @property
    def timeout(self) -> float:
        """Seconds to wait for the gateway (to connect, and for each read of its answer)."""
        return self._http.timeout

    # -- contract ---------------------------------------------------------------

    def arrival(self, payment: PaymentRef) -> ArrivalWindow:
        return ArrivalWindow("working_days", 0, 2)

    def execute_refund(self, request: RefundRequest) -> RefundResult:
        body = json.dumps(
            self.refund_body(request), ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        return self._call("POST", REFUNDS_PATH, body, request, query=False)

    def query_refund(self, request: RefundRequest) -> RefundResult:
        path = f"{REFUNDS_PATH}/{quote(request.idempotency_key, safe='')}"
        return self._call("GET", path, b"", request, query=True)

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> tuple[Notification, NotificationReply]:
        try:
            _serial, nonce = crypto.verify_platform_signature(
                headers, body, self.keyring.key_for, now=self._clock()
            )
        except crypto.SignatureError as exc:
            raise NotificationRejected(f"wechat notification: {exc}") from exc
        envelope = _json_object(body, "notification body")
        event = envelope.get("event_type")
        if event not in _EVENTS:
            raise NotificationRejected(f"wechat notification: unexpected event_type {event!r}")
        plain = self._decrypt_resource(envelope.get("resource"))
        notification = self._notification_from(plain, _EVENTS[event])
        if not self._replay_guard.first_seen(REPLAY_NAMESPACE, nonce, REPLAY_TTL_S):
            raise NotificationRejected(f"wechat notification: replayed nonce {nonce!r}")
        return notification, NotificationReply(204, b"")

    def redirect_banks(self) -> tuple[tuple[str, Words], ...]:
        """The debit cards WeChat Pay redirects an abnormal refund to."""
        return REDIRECT_BANKS

    def redirect_abnormal(
        self, request: RefundRequest, gateway_reference: str, redirect: AbnormalRedirect
    ) -> RefundResult:
        """``POST /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund``: the card
        number and the holder's name travel encrypted under the WeChat Pay public key, named
        by the ``Wechatpay-Serial`` request header."""
        if not gateway_reference:
            return RefundResult(
                ResultStatus.FAILED, code="NO_REFUND_ID", message="no WeChat refund_id known"
            )
        path = f"{REFUNDS_PATH}/{quote(gateway_reference, safe='')}/apply-abnormal-refund"
        try:
            serial, _key = self.keyring.encryption_key()
            body = json.dumps(
                self.redirect_body(request, redirect), ensure_ascii=False, separators=(",", ":")
            ).encode("utf-8")
        except ChannelError as exc:
            return _unknown("NO_ENCRYPTION_KEY", f"no WeChat Pay key to encrypt with: {exc}")
        return self._call(
            "POST", path, body, request, query=False, extra_headers={"Wechatpay-Serial": serial}
        )

    def redirect_body(self, request: RefundRequest, redirect: AbnormalRedirect) -> dict[str, Any]:
        """The JSON fields of apply-abnormal-refund, sensitive ones encrypted (under the key
        whose serial the request's ``Wechatpay-Serial`` names)."""
        if not redirect.to_buyer_card:
            return {"out_refund_no": request.idempotency_key, "type": "MERCHANT_BANK_CARD"}
        _serial, key = self.keyring.encryption_key()
        return {
            "out_refund_no": request.idempotency_key,
            "type": "USER_BANK_CARD",
            "bank_type": redirect.bank_code,
            "bank_account": crypto.oaep_encrypt(key, redirect.card_no),
            "real_name": crypto.oaep_encrypt(key, redirect.holder_name),
        }

    def failure_reply(self, status_code: int, message: str) -> NotificationReply:
        """WeChat Pay's failure answer: JSON ``{"code": "FAIL", "message": ...}``, non-2xx."""
        body = json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False)
        return NotificationReply(status_code, body.encode("utf-8"), "application/json")

    # -- request building ---------------------------------------------------------

    @staticmethod
    def refund_body(request: RefundRequest) -> dict[str, Any]:
        """The JSON fields of ``POST /v3/refund/domestic/refunds`` (deterministic order)."""
        payment = request.payment
        body: dict[str, Any] = {}
        if payment.gateway_trade_id:
            body["transaction_id"] = payment.gateway_trade_id
        else:
            body["out_trade_no"] = payment.merchant_trade_no
        body["out_refund_no"] = request.idempotency_key
        if request.reason:
            body["reason"] = request.reason[:80]
        if request.notify_url:
            body["notify_url"] = request.notify_url
        body["amount"] = {
            "refund": request.amount_fen,
            "total": payment.captured_fen,
            "currency": request.currency,
        }
        return body

    def _call(
        self,
        method: str,
        path: str,
        body: bytes,
        request: RefundRequest,
        *,
        query: bool,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RefundResult:
        try:
            resp = self._send(method, path, body, extra_headers)
        except GatewayUnreachable as exc:
            return _unknown("CONNECTION_ERROR", f"cannot reach the gateway: {exc}")
        except GatewayTimeout as exc:
            return _unknown("TIMEOUT", str(exc))
        except GatewayError as exc:
            return _unknown("CONNECTION_ERROR", f"no complete answer from the gateway: {exc}")
        return self._interpret(resp, request, query=query)

    def _send(
        self,
        method: str,
        path: str,
        body: bytes,
        extra_headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> GatewayResponse:
        """One signed request. In public-key and switching modes it names the WeChat Pay
        public key in ``Wechatpay-Serial`` (as the documentation asks: WeChat Pay then signs
        its answer with that key); ``extra_headers`` may name another (an encryption key)."""
        auth = crypto.build_authorization(
            mchid=self.mchid,
            serial_no=self.cert_serial,
            private_key=self._private_key,
            method=method,
            path=path,
            body=body,
            timestamp=int(self._clock()),
        )
        headers = {
            "Authorization": auth,
            "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "refund-portal-wechat/0.1",
        }
        serial = self.keyring.request_serial()
        if serial:
            headers["Wechatpay-Serial"] = serial
        headers.update(extra_headers or {})
        if max_bytes is not None:
            return self._http.request(method, path, body or None, headers, max_bytes=max_bytes)
        return self._http.request(method, path, body or None, headers)

    def _download_certificates(self) -> Download:
        """``GET /v3/certificates``, signed (the keyring checks the answer)."""
        try:
            resp = self._send("GET", CERTIFICATES_PATH, b"")
        except GatewayError as exc:
            raise ChannelError(f"GET /v3/certificates: no answer from the gateway: {exc}") from exc
        return Download(resp.status, dict(resp.headers.items()), resp.body)

    # -- the daily bill (BillProvider) -----------------------------------------------------

    def fetch_bill(self, day: date, gzipped: bool = True) -> Iterator[BillRow]:
        """The refunds of the REFUND trade bill for the Beijing ``day``: the signed answer of
        ``GET /v3/bill/tradebill``, the file behind its ``download_url`` fetched with a signed
        request, checked against its ``hash_value`` (``bill``)."""
        query = {"bill_date": f"{day:%Y-%m-%d}", "bill_type": "REFUND"}
        if gzipped:
            query["tar_type"] = "GZIP"
        path = f"{TRADE_BILL_PATH}?{urlencode(query)}"
        try:
            resp = self._send("GET", path, b"")
        except GatewayError as exc:
            raise BillMissing(f"no answer from the gateway: {exc}") from None
        if resp.status >= 500:
            raise BillMissing(f"HTTP {resp.status} from the gateway")
        try:
            crypto.verify_platform_signature(
                resp.headers, resp.body, self.keyring.key_for, now=self._clock()
            )
        except crypto.SignatureError as exc:
            raise BillMissing(f"the answer does not verify: {exc}") from None
        data = _try_json(resp.body)
        if resp.status != 200:
            said = f"{data.get('code') or resp.status}: {data.get('message') or ''}"
            if data.get("code") in BILL_NOT_READY or data.get("code") in _OPEN_CODES:
                raise BillMissing(said)
            raise BillRefused(said)
        file = self._download_bill(str(data.get("download_url") or ""))
        checked = bill.unpacked(
            file, gzipped, str(data.get("hash_type") or ""), str(data.get("hash_value") or "")
        )
        return bill.refund_rows(checked, day)

    def _download_bill(self, url: str) -> bytes:
        """The file at ``download_url``, fetched with a signed request to the gateway itself."""
        parts, own = urlsplit(url), urlsplit(self.gateway_url)
        if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
            raise BillRefused(f"the bill's address is not on the gateway: {url[:200]!r}")
        path = parts.path[len(own.path) :] if own.path else parts.path
        target = path + (f"?{parts.query}" if parts.query else "")
        try:
            resp = self._send("GET", target, b"", max_bytes=MAX_BILL_BYTES)
        except GatewayError as exc:
            raise BillMissing(f"the bill could not be downloaded: {exc}") from None
        if resp.status != 200:
            raise BillMissing(f"the bill's download answered HTTP {resp.status}")
        return resp.body

    # -- configuration check (ConnectionChecker) ------------------------------------------------

    def check_connection(self) -> ConnectionCheck:
        """One signed call that changes nothing (see :mod:`refund_portal_wechat.connection`)."""
        return connection.check(self)

    # -- key rotation (KeyRefresher) --------------------------------------------------------

    def refresh_due(self) -> bool:
        """Whether the platform certificates should be downloaded again (certificate modes)."""
        return self.keyring.refresh_due()

    def refresh_keys(self) -> str:
        """Download, check and keep the platform certificates (the worker's job)."""
        if not self.keyring.uses_certificates:
            return "public-key mode: nothing to download"
        certs = self.keyring.refresh()
        return "platform certificates kept: " + ", ".join(
            f"{c.serial} (until {time.strftime('%Y-%m-%d', time.gmtime(c.not_after))})"
            for c in certs
        )

    # -- answer interpretation ------------------------------------------------------

    def _interpret(
        self, resp: GatewayResponse, request: RefundRequest, *, query: bool
    ) -> RefundResult:
        raw_body = resp.body
        if resp.status >= 500:
            data = _try_json(raw_body)
            code = str(data.get("code") or f"HTTP_{resp.status}")
            return _unknown(code, str(data.get("message") or "gateway error"), data)
        try:
            crypto.verify_platform_signature(
                resp.headers, raw_body, self.keyring.key_for, now=self._clock()
            )
        except crypto.SignatureError as exc:
            return _unknown("UNVERIFIED_RESPONSE", f"HTTP {resp.status}: {exc}")
        data = _try_json(raw_body)
        if resp.status == 200 and data:
            return self._refund_result(data, request)
        code = str(data.get("code") or f"HTTP_{resp.status}")
        message = str(data.get("message") or resp.reason or "")
        if code in _OPEN_CODES or resp.status == 429:
            return _unknown(code, message, data)
        if query and resp.status == 404:
            # never created (e.g. the refund call failed before moving money):
            # the core may re-send the refund with the same out_refund_no
            return RefundResult(ResultStatus.PENDING, code="NOT_FOUND", message=message, raw=data)
        if 400 <= resp.status < 500:
            return RefundResult(
                ResultStatus.FAILED,
                code=code,
                message=message,
                raw=data,
                note=Note("gateway_refused"),
            )
        return _unknown(code, f"unexpected HTTP {resp.status}", data)

    def _refund_result(self, data: dict[str, Any], request: RefundRequest) -> RefundResult:
        if data.get("out_refund_no") != request.idempotency_key:
            return _unknown(
                "MISMATCHED_RESPONSE",
                f"answer is about out_refund_no {data.get('out_refund_no')!r}",
                data,
            )
        amount = data.get("amount") or {}
        refund_fen = amount.get("refund") if isinstance(amount, dict) else None
        if not isinstance(refund_fen, int) or isinstance(refund_fen, bool):
            refund_fen = None
        status_text = str(data.get("status", ""))
        status, code = _REFUND_STATUS.get(status_text, (ResultStatus.UNKNOWN, "UNKNOWN_STATUS"))
        message = f"refund {status_text}"
        if refund_fen is not None and refund_fen != request.amount_fen:
            message += f" (gateway reports {refund_fen} fen, asked {request.amount_fen})"
        if code == "ABNORMAL":
            message += (
                ": the buyer's account or card cannot receive it; WeChat Pay holds it until"
                " it is redirected (apply-abnormal-refund) or paid another way"
            )
        return RefundResult(
            status,
            gateway_reference=str(data.get("refund_id", "")),
            message=message,
            code=code,
            raw=data,
            amount_fen=refund_fen,
            note=_NOTES.get(code),
        )

    # -- notifications ----------------------------------------------------------------

    def _decrypt_resource(self, resource: Any) -> dict[str, Any]:
        if not isinstance(resource, dict):
            raise NotificationRejected("wechat notification: no resource")
        if resource.get("algorithm") != crypto.AEAD_ALGORITHM:
            raise NotificationRejected(
                f"wechat notification: unsupported algorithm {resource.get('algorithm')!r}"
            )
        nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
        associated = resource.get("associated_data") or ""
        if not (isinstance(nonce, str) and isinstance(ciphertext, str) and nonce):
            raise NotificationRejected("wechat notification: resource lacks nonce/ciphertext")
        try:
            plain = crypto.aes_gcm_decrypt(self._apiv3_key, nonce, str(associated), ciphertext)
        except crypto.SignatureError as exc:
            raise NotificationRejected(f"wechat notification: {exc}") from exc
        return _json_object(plain, "decrypted resource")

    def _notification_from(self, plain: dict[str, Any], expected_status: str) -> Notification:
        if plain.get("mchid") != self.mchid:
            raise NotificationRejected(
                f"wechat notification: for merchant {plain.get('mchid')!r}, not {self.mchid!r}"
            )
        refund_status = plain.get("refund_status")
        if refund_status != expected_status:
            raise NotificationRejected(
                f"wechat notification: refund_status {refund_status!r} contradicts the event"
            )
        out_refund_no = plain.get("out_refund_no")
        amount = plain.get("amount")
        refund_fen = amount.get("refund") if isinstance(amount, dict) else None
        if not isinstance(out_refund_no, str) or not out_refund_no:
            raise NotificationRejected("wechat notification: no out_refund_no")
        if not isinstance(refund_fen, int) or isinstance(refund_fen, bool) or refund_fen <= 0:
            raise NotificationRejected("wechat notification: amount.refund is not a positive int")
        status, _code = _REFUND_STATUS[expected_status]
        return Notification(
            idempotency_key=out_refund_no,
            status=status,
            amount_fen=refund_fen,
            gateway_reference=str(plain.get("refund_id", "")),
            gateway_trade_id=str(plain.get("transaction_id", "")),
            raw=plain,
        )


def _unknown(code: str, message: str, raw: Any = None) -> RefundResult:
    return RefundResult(ResultStatus.UNKNOWN, code=code, message=message, raw=raw)


def _try_json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise NotificationRejected(f"wechat notification: {what} is not JSON") from exc
    if not isinstance(data, dict):
        raise NotificationRejected(f"wechat notification: {what} is not a JSON object")
    return data
