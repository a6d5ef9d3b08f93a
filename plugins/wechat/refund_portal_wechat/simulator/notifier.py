"""Refund notifications sent by the simulated gateway.

Builds the v3 notification (``resource`` encrypted with AEAD_AES_256_GCM under the
APIv3 key, body signed with the platform key) and POSTs it to the refund's
``notify_url`` in a background thread, re-signing every attempt and retrying until
the merchant answers 200/204, as WeChat Pay does (on a much faster schedule).
Misbehaviours: deliver twice, deliver late, or send a forged copy first.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from cryptography.hazmat.primitives.asymmetric import rsa

from refund_portal_wechat import crypto
from refund_portal_wechat.simulator.keys import GatewayKeys, Signer
from refund_portal_wechat.simulator.ledger import Refund, wechat_time

SUMMARIES = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}
DEFAULT_RETRY_DELAYS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class PlatformSigner:
    """The platform side of the keys: who signs and encrypts notifications.

    Which key signs is the :class:`GatewayKeys`' choice (the public key, the current
    platform certificate, or either while switching); ``serial`` and ``private_key`` are the
    default identity (the public key in public-key mode, else the current certificate).
    """

    def __init__(self, mchid: str, keys: GatewayKeys, apiv3_key: str) -> None:
        self.mchid = mchid
        self.keys = keys
        self.apiv3_key = apiv3_key

    def default(self) -> Signer:
        """The identity that signs when nothing says otherwise."""
        if self.keys.mode == "public_key":
            return self.keys.public_key
        return self.keys.current_certificate.signer

    @property
    def serial(self) -> str:
        return self.default().serial

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return self.default().private_key

    def headers(self, body: bytes, signer: Signer | None = None) -> dict[str, str]:
        """Fresh ``Wechatpay-*`` headers (new timestamp and nonce) for ``body``, signed by
        ``signer`` or, by default, by the key the next notification is signed with."""
        chosen = signer or self.keys.notification_signer()
        return crypto.signed_headers(chosen.private_key, chosen.serial, body)


def notification_plaintext(mchid: str, refund: Refund) -> dict[str, Any]:
    """The decrypted ``resource`` of a refund notification."""
    data: dict[str, Any] = {
        "mchid": mchid,
        "out_trade_no": refund.out_trade_no,
        "transaction_id": refund.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status,
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": refund.total_fen,
            "refund": refund.refund_fen,
            "payer_total": refund.total_fen,
            "payer_refund": refund.refund_fen,
        },
    }
    if refund.success_at is not None:
        data["success_time"] = wechat_time(refund.success_at)
    return data


def build_notification(signer: PlatformSigner, refund: Refund) -> bytes:
    """The JSON body of the ``REFUND.<status>`` notification for a settled refund."""
    plain = json.dumps(notification_plaintext(signer.mchid, refund), ensure_ascii=False)
    nonce = crypto.make_nonce(12)
    associated = "refund"
    envelope = {
        "id": str(uuid.uuid4()),
        "create_time": wechat_time(time.time()),
        "resource_type": "encrypt-resource",
        "event_type": f"REFUND.{refund.status}",
        "summary": SUMMARIES.get(refund.status, refund.status),
        "resource": {
            "original_type": "refund",
            "algorithm": crypto.AEAD_ALGORITHM,
            "ciphertext": crypto.aes_gcm_encrypt(
                signer.apiv3_key, nonce, associated, plain.encode("utf-8")
            ),
            "associated_data": associated,
            "nonce": nonce,
        },
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Plan:
    """How one notification is to be delivered."""

    twice: bool = False
    late: bool = False
    forged: bool = False


class Notifier:
    """Delivers notifications in background threads and records every attempt."""

    def __init__(
        self,
        signer: PlatformSigner,
        stop: threading.Event,
        retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
        late_delay_s: float = 1.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.signer = signer
        self.retry_delays_s = tuple(retry_delays_s)
        self.late_delay_s = late_delay_s
        self.timeout_s = timeout_s
        self._stop = stop
        self._lock = threading.Lock()
        self._http = urllib3.PoolManager(retries=False)  # keep-alive to the merchant
        self._generation = 0
        self._log: list[dict[str, Any]] = []
        self._forger: rsa.RSAPrivateKey | None = None

    def schedule(self, refund: Refund, plan: Plan) -> None:
        """Start delivering the notification for ``refund`` (no-op without notify_url)."""
        if not refund.notify_url:
            return
        body = build_notification(self.signer, refund)
        with self._lock:
            generation = self._generation
        thread = threading.Thread(
            target=self._deliver,
            args=(refund.notify_url, refund.out_refund_no, body, plan, generation),
            name=f"wechat-sim-notify-{refund.out_refund_no}",
            daemon=True,
        )
        thread.start()

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def reset(self) -> None:
        """Forget the log and abandon deliveries still in flight."""
        with self._lock:
            self._generation += 1
            self._log.clear()

    def _cancelled(self, generation: int) -> bool:
        with self._lock:
            return self._stop.is_set() or generation != self._generation

    def _forged_headers(self, body: bytes) -> dict[str, str]:
        with self._lock:
            if self._forger is None:
                self._forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            forger = self._forger
        return crypto.signed_headers(forger, self.signer.serial, body)

    def _post(
        self, url: str, key: str, body: bytes, headers: dict[str, str], attempt: int, forged: bool
    ) -> bool:
        entry: dict[str, Any] = {
            "out_refund_no": key,
            "event_type": json.loads(body)["event_type"],
            "attempt": attempt,
            "forged": forged,
            "status_code": None,
            "error": "",
            "at": time.time(),
        }
        try:
            resp = self._http.request(
                "POST",
                url,
                body=body,
                headers={**headers, "Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout_s,
            )
            entry["status_code"] = resp.status
        except urllib3.exceptions.HTTPError as exc:
            entry["error"] = str(exc)
        with self._lock:
            self._log.append(entry)
        return entry["status_code"] in (200, 204)

    def _deliver(self, url: str, key: str, body: bytes, plan: Plan, generation: int) -> None:
        if plan.late and self._stop.wait(self.late_delay_s):
            return
        if plan.forged and not self._cancelled(generation):
            self._post(url, key, body, self._forged_headers(body), 0, forged=True)
        wanted = 2 if plan.twice else 1
        accepted = attempt = 0
        delays = iter(self.retry_delays_s)
        while accepted < wanted and not self._cancelled(generation):
            attempt += 1
            if self._post(url, key, body, self.signer.headers(body), attempt, forged=False):
                accepted += 1
                continue
            delay = next(delays, None)
            if delay is None or self._stop.wait(delay):
                return
