"""A local WeChat Pay API v3 gateway that speaks the real refund protocol.

``WechatSimulator(keys_dir).start()`` serves ``POST /v3/refund/domestic/refunds`` and
``GET /v3/refund/domestic/refunds/{out_refund_no}`` (and, for a refund that went
``ABNORMAL``, ``POST .../{refund_id}/apply-abnormal-refund``) on 127.0.0.1 with real
signatures (merchant requests verified, answers signed with the platform key),
keeps a ledger of refunds per trade, sends encrypted, signed refund notifications,
publishes each day's refund bill (``GET /v3/bill/tradebill``, the file behind its signed
``download_url``, checked by ``hash_value``) from its ledger, editable per refund and
damaged on request, and misbehaves on request. The keys come from
:func:`refund_portal_wechat.devkeys.ensure_dev_keys` on the same directory the
portal uses (``DEV_KEYS_DIR``). Run it alone with
``python -m refund_portal_wechat.simulator --keys-dir DIR --port 9102``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from refund_portal_wechat import crypto
from refund_portal_wechat.devkeys import ensure_dev_keys
from refund_portal_wechat.simulator.app import create_app
from refund_portal_wechat.simulator.bills import BillEdits
from refund_portal_wechat.simulator.keys import KEY_MODES, GatewayKeys
from refund_portal_wechat.simulator.ledger import CHINA_TZ, Ledger, Refund
from refund_portal_wechat.simulator.notifier import (
    DEFAULT_RETRY_DELAYS_S,
    Notifier,
    Plan,
    PlatformSigner,
    build_notification,
)

__all__ = ["KEY_MODES", "MODES", "WechatSimulator", "build_notification"]

#: what ``misbehave(mode)`` accepts
MODES = (
    "timeout_after_move",  # move the money, then hang instead of answering
    "system_error",  # answer the next /v3 call 500 SYSTEM_ERROR, moving nothing
    "notify_twice",  # deliver the next notification twice
    "notify_late",  # deliver the next notification after notify_late_delay_s
    "notify_forged",  # send a copy signed with a wrong key before the genuine one
    "abnormal",  # the next new refund ends ABNORMAL (until apply-abnormal-refund sends it on)
    "abnormal_then_success",  # the next new refund ends ABNORMAL, then SUCCESS by itself
    # GET /v3/certificates, tampered with (each for the next download):
    "certificates_bad_signature",  # the answer's signature is not the platform's
    "certificates_bad_tag",  # a certificate's ciphertext altered (the GCM tag fails)
    "certificates_untrusted",  # a certificate from a CA that is not WeChat Pay's, signing
    "certificates_expired",  # only a certificate that has expired, signing
    # GET /v3/bill/tradebill (each for the next bill):
    "bill_missing",  # 400 NO_STATEMENT_EXIST, as before the bill is made
    "bill_bad_hash",  # hash_value is not the file's
    "bill_bad_gzip",  # the (gzip) file is cut short
    "bill_wrong_encoding",  # the file is GBK, not UTF-8
    "bill_other_day",  # the rows are the day before's
)


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        """Say nothing about each request."""


class WechatSimulator:
    """The simulated gateway: a threaded HTTP server in a background thread."""

    def __init__(
        self,
        keys_dir: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        settle_delay_s: float = 0.0,
        *,
        min_refund_interval_s: float = 0.0,
        mchid: str | None = None,
        hang_s: float = 30.0,
        notify_retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
        notify_late_delay_s: float = 1.0,
        abnormal_recover_delay_s: float = 0.2,
        quiet: bool = True,
        key_mode: str = "public_key",
    ) -> None:
        keys = ensure_dev_keys(keys_dir)
        self.gateway_keys = GatewayKeys(keys, key_mode)
        self.keys = keys
        self.host = host
        self.port = port
        self.hang_s = hang_s
        self.quiet = quiet
        self.mchid = mchid or keys["WECHAT_MCHID"]
        self.merchant_serial = keys["WECHAT_CERT_SERIAL"]
        self.merchant_public_key = crypto.load_public_key(keys["WECHAT_MERCHANT_PUBLIC_KEY"])
        self.signer = PlatformSigner(self.mchid, self.gateway_keys, keys["WECHAT_APIV3_KEY"])
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._misbehaviour: dict[str, int] = {}
        self._certificate_downloads = 0
        self._requests: list[dict[str, str]] = []
        self.ledger = Ledger(
            settle_delay_s=settle_delay_s,
            min_refund_interval_s=min_refund_interval_s,
            recover_delay_s=abnormal_recover_delay_s,
            on_settled=self._on_settled,
        )
        self.notifier = Notifier(
            self.signer,
            self._stop,
            retry_delays_s=notify_retry_delays_s,
            late_delay_s=notify_late_delay_s,
        )
        self.bill_edits = BillEdits()
        self.app = create_app(self)
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> WechatSimulator:
        """Start serving in background threads; returns self."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stop.clear()
        self._server = make_server(
            self.host,
            self.port,
            self.app,
            threaded=True,
            request_handler=_QuietHandler if self.quiet else None,
        )
        self.port = self._server.server_port
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # quick shutdown
                name="wechat-sim",
                daemon=True,
            ),
            threading.Thread(target=self._tick, name="wechat-sim-settle", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests and pending notifications are abandoned."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Start, call ``on_ready(url)``, then block until interrupted (command line)."""
        self.start()
        if on_ready is not None:
            on_ready(self.url)
        try:
            self._stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> WechatSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:9102`` (the port is known after start())."""
        return f"http://{self.host}:{self.port}"

    def _tick(self) -> None:
        while not self._stop.wait(0.05):
            self.ledger.settle_all_due()

    def hang(self) -> None:
        """Block the calling request for ``hang_s`` (or until stop())."""
        self._stop.wait(self.hang_s)

    # -- control ------------------------------------------------------------------

    def add_trade(self, transaction_id: str, out_trade_no: str, total_fen: int) -> None:
        """Register a captured payment that refunds can go back to."""
        self.ledger.add_trade(transaction_id, out_trade_no, total_fen)

    def misbehave(self, mode: str, times: int = 1) -> None:
        """Misbehave in ``mode`` (see MODES) for the next ``times`` occasions."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._misbehaviour[mode] = self._misbehaviour.get(mode, 0) + times

    def take(self, mode: str) -> bool:
        """Consume one pending occasion of ``mode``; True if there was one."""
        with self._lock:
            left = self._misbehaviour.get(mode, 0)
            if left <= 0:
                return False
            self._misbehaviour[mode] = left - 1
            return True

    def next_outcome(self) -> str:
        """How the next new refund ends: SUCCESS, ABNORMAL or ABNORMAL_THEN_SUCCESS."""
        if self.take("abnormal"):
            return "ABNORMAL"
        if self.take("abnormal_then_success"):
            return "ABNORMAL_THEN_SUCCESS"
        return "SUCCESS"

    # -- keys -----------------------------------------------------------------------

    @property
    def key_mode(self) -> str:
        """``public_key``, ``platform_cert`` or ``cert_and_public_key``."""
        return self.gateway_keys.mode

    def rotate_certificate(self) -> str:
        """Issue a new platform certificate and sign with it from now on (the old one stays
        listed by ``GET /v3/certificates`` until ``retire_certificates``); its serial."""
        return self.gateway_keys.rotate_certificate()

    def retire_certificates(self) -> list[str]:
        """List only the current platform certificate; the serials no longer listed."""
        return self.gateway_keys.retire_certificates()

    def rotate_public_key(self) -> str:
        """Replace the WeChat Pay public key; its new id (``public_key_pem()`` gives it)."""
        return self.gateway_keys.rotate_public_key()

    def public_key_pem(self) -> str:
        """The current WeChat Pay public key, PEM."""
        return self.gateway_keys.public_key_pem()

    def record_request(self, method: str, path: str, wechatpay_serial: str) -> None:
        """Called for every ``/v3`` request: what it asked for and which key it named."""
        with self._lock:
            self._requests.append(
                {"method": method, "path": path, "wechatpay_serial": wechatpay_serial}
            )

    def requests(self) -> list[dict[str, str]]:
        """Every ``/v3`` request so far (method, path, its ``Wechatpay-Serial`` or '')."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def count_certificate_download(self) -> None:
        """Called by ``GET /v3/certificates``."""
        with self._lock:
            self._certificate_downloads += 1

    def certificate_downloads(self) -> int:
        """How many times ``GET /v3/certificates`` was called (since start or reset)."""
        with self._lock:
            return self._certificate_downloads

    def notify_with(self, choice: str) -> None:
        """While switching, sign notifications with ``platform_cert``, ``public_key`` or
        ``alternate`` (the default)."""
        self.gateway_keys.notify_with(choice)

    def recover(self, out_refund_no: str) -> bool:
        """An ABNORMAL refund succeeds now, as when the merchant acts in the WeChat Pay
        console (a REFUND.SUCCESS notification follows); False if there is none."""
        return self.ledger.recover(out_refund_no)

    def pending_misbehaviour(self) -> dict[str, int]:
        """Modes with occasions left."""
        with self._lock:
            return {mode: n for mode, n in self._misbehaviour.items() if n > 0}

    def movements(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        """Money movements (one per refund the gateway created), optionally for one trade."""
        return self.ledger.movements(transaction_id)

    def notifications(self) -> list[dict[str, Any]]:
        """Every notification delivery attempt, with the merchant's HTTP status."""
        return self.notifier.deliveries()

    # -- bills ----------------------------------------------------------------------

    def set_clock(self, clock: Callable[[], float]) -> None:
        """The gateway's clock from now on (epoch seconds): when refunds happen, which
        bills exist."""
        self.ledger.clock = clock

    def bill_drop(self, out_refund_no: str) -> None:
        """Leave this refund off the bills (money moved, the bill does not show it)."""
        with self.bill_edits.lock:
            self.bill_edits.drop.add(out_refund_no)

    def bill_amount(self, out_refund_no: str, refund_fen: int) -> None:
        """Show this refund on its bill with another amount."""
        with self.bill_edits.lock:
            self.bill_edits.amount[out_refund_no] = refund_fen

    def bill_next_day(self, out_refund_no: str) -> None:
        """Show this refund on the next day's bill (a cut-off question)."""
        with self.bill_edits.lock:
            self.bill_edits.next_day.add(out_refund_no)

    def bill_twice(self, out_refund_no: str) -> None:
        """Show this refund twice on its bill."""
        with self.bill_edits.lock:
            self.bill_edits.twice.add(out_refund_no)

    def bill_extra(self, out_refund_no: str, refund_fen: int, at: float) -> None:
        """Show a refund the portal never asked for on the bill of ``at``'s day (epoch)."""
        local = datetime.fromtimestamp(at, CHINA_TZ).replace(tzinfo=None)
        row = {
            "transaction_id": "4200" + out_refund_no[-24:].rjust(24, "0"),
            "out_trade_no": "OTHER-" + out_refund_no,
            "refund_id": "50" + out_refund_no[-27:].rjust(27, "0"),
            "out_refund_no": out_refund_no,
            "total_fen": refund_fen,
            "refund_fen": refund_fen,
            "applied": local,
            "done": local,
            "status": "SUCCESS",
        }
        with self.bill_edits.lock:
            self.bill_edits.extra.append(row)

    def reset(self) -> None:
        """Forget trades, refunds, movements, notifications and pending misbehaviour."""
        self.bill_edits.clear()
        with self._lock:
            self._misbehaviour.clear()
            self._certificate_downloads = 0
            self._requests.clear()
        self.notifier.reset()
        self.ledger.reset()

    def _on_settled(self, refund: Refund) -> None:
        plan = Plan(
            twice=self.take("notify_twice"),
            late=self.take("notify_late"),
            forged=self.take("notify_forged"),
        )
        self.notifier.schedule(refund, plan)
