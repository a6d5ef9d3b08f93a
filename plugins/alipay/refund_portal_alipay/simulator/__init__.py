"""A local Alipay gateway for tests and the demo: same protocol, same RSA2 signatures.

Keeps its own ledger of refunds per trade (so a test can count real money movements),
honours ``out_request_no`` like Alipay, notifies where Alipay would (the payment's
notify_url; the app's gateway address for bank-card completion messages), runs in plain
public-key or certificate mode, and can be told to misbehave: time out after moving money,
answer SYSTEM_ERROR, notify twice, late, forged, answer a query without ``refund_status``.
Publishes each day's trade bill (the ZIP of GBK CSVs) from its ledger, editable per refund
(``bill_drop``, ``bill_amount``, ``bill_next_day``, ``bill_twice``, ``bill_extra``) and
damaged on request (``misbehave("bill_bad_zip")``...).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.serving import make_server

from refund_portal_alipay.devkeys import ensure_dev_certs, ensure_dev_keys
from refund_portal_alipay.simulator.app import create_app

CHINA = ZoneInfo("Asia/Shanghai")


class AlipaySimulator:
    """The simulated gateway, served on 127.0.0.1 from a background thread."""

    def __init__(
        self,
        keys_dir: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        hang_s: float = 15.0,
        late_s: float = 2.0,
        cert_mode: bool = False,
    ) -> None:
        self.keys = ensure_dev_keys(keys_dir)
        cert_keys = ensure_dev_certs(keys_dir) if cert_mode else None
        self.keys.update(cert_keys or {})
        self._stop = threading.Event()
        self.app = create_app(
            self.keys, hang_s=hang_s, late_s=late_s, stop=self._stop, cert_keys=cert_keys
        )
        self._server = make_server(host, port, self.app, threaded=True)
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_port}/gateway.do"

    @property
    def _sim(self) -> dict[str, Any]:
        return self.app.extensions["sim"]

    def start(self) -> AlipaySimulator:
        """Serve from a background thread (a threaded server: one thread per request)."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until Ctrl-C (KeyboardInterrupt), then stop cleanly."""
        if on_ready:
            on_ready(self.url)
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving; hanging answers and pending notifications give up at once."""
        self._stop.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> AlipaySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_trade(
        self,
        trade_no: str,
        out_trade_no: str,
        total_fen: int,
        notify_url: str = "",
        bank_card: bool = False,
    ) -> None:
        """A paid trade of ``total_fen`` that refunds can then go back to.

        ``notify_url`` is the address the shop gave when the buyer paid: Alipay sends the
        trade's refund notifications there. ``bank_card``: paid by bank card, so a refund
        asking for ``deposit_back_info`` gets a completion message later.
        """
        self._sim["ledger"].add_trade(trade_no, out_trade_no, total_fen, notify_url, bank_card)

    def set_app_gateway(self, url: str) -> None:
        """The app's gateway address (应用网关), where Alipay's messages go."""
        self._sim["state"]["app_gateway_url"] = url

    def rotate(self) -> str:
        """Certificate mode: sign with the next Alipay certificate from now on; its SN."""
        return str(self._sim["rotate"]())

    def misbehave(self, mode: str, times: int = 1) -> None:
        """Misbehave ``times`` times; ``mode`` is one of ``app.MODES``."""
        self._sim["behaviour"].set(mode, times)

    def movements(self, trade_no: str | None = None) -> list[dict[str, Any]]:
        """Every real movement of money (one per refund), optionally of one trade."""
        return [
            m
            for m in self._sim["ledger"].movements
            if trade_no is None or m["trade_no"] == trade_no
        ]

    def notifications(self) -> list[dict[str, Any]]:
        """Every notification delivery attempt: out_biz_no, attempt, status, answer."""
        return list(self._sim["notifications"])

    def set_clock(self, clock: Callable[[], datetime]) -> None:
        """The gateway's clock from now on (aware): when refunds happen, which bills exist."""
        self._sim["ledger"].clock = clock

    def bill_drop(self, out_request_no: str) -> None:
        """Leave this refund off the bills (money moved, the bill does not show it)."""
        with self._sim["bill_edits"].lock:
            self._sim["bill_edits"].drop.add(out_request_no)

    def bill_amount(self, out_request_no: str, amount_fen: int) -> None:
        """Show this refund on its bill with another amount."""
        with self._sim["bill_edits"].lock:
            self._sim["bill_edits"].amount[out_request_no] = amount_fen

    def bill_next_day(self, out_request_no: str) -> None:
        """Show this refund on the next day's bill (a cut-off question)."""
        with self._sim["bill_edits"].lock:
            self._sim["bill_edits"].next_day.add(out_request_no)

    def bill_twice(self, out_request_no: str) -> None:
        """Show this refund twice on its bill."""
        with self._sim["bill_edits"].lock:
            self._sim["bill_edits"].twice.add(out_request_no)

    def bill_extra(self, out_request_no: str, amount_fen: int, at: datetime) -> None:
        """Show a refund the portal never asked for (``at``: aware) on its day's bill."""
        local = at.astimezone(CHINA).replace(tzinfo=None)
        row = {
            "trade_no": "2088" + out_request_no[-12:],
            "out_trade_no": "OTHER-" + out_request_no,
            "out_request_no": out_request_no,
            "total_fen": amount_fen,
            "amount_fen": amount_fen,
            "at": local,
            "created": local.strftime("%Y-%m-%d %H:%M:%S"),
        }
        with self._sim["bill_edits"].lock:
            self._sim["bill_edits"].extra.append(row)

    def reset(self) -> None:
        """Forget every trade, movement, notification and queued misbehaviour."""
        self._sim["bill_edits"].clear()
        self._sim["ledger"].clear()
        self._sim["behaviour"].clear()
        self._sim["notifications"].clear()
