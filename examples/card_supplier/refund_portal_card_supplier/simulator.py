"""A card supplier's code-status API on a local port, speaking ``protocol``, that can be told
to misbehave: answer slowly, answer garbage, or fail."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from refund_portal_card_supplier import protocol

MISBEHAVIOURS = ("slow", "garbage", "wrong_status", "error")


class SupplierSimulator:
    """The supplier: codes it issued (redeemed when, or None), keyed by code text."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.codes: dict[str, datetime | None] = {}
        self.mode: str | None = None
        self.requests: list[dict[str, str]] = []
        self.release = threading.Event()  # lets a "slow" answer finish (set on stop)
        self._server: ThreadingHTTPServer | None = None

    def issue(self, code: str, redeemed_at: datetime | None = None) -> None:
        """A code the supplier knows, redeemed at ``redeemed_at`` (None: unused)."""
        self.codes[code] = redeemed_at

    def misbehave(self, mode: str | None) -> None:
        """Answer in one of MISBEHAVIOURS from now on (None: behave)."""
        assert mode is None or mode in MISBEHAVIOURS, mode
        self.mode = mode

    def start(self) -> str:
        """Serve on a free local port; the base URL."""
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 65536)
                body = self.rfile.read(length)
                status, answer = sim.answer(
                    self.path,
                    self.headers.get("X-Timestamp", ""),
                    self.headers.get("X-Signature", ""),
                    body,
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up waiting

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving (and let any slow answer finish)."""
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def answer(self, path: str, stamp: str, sig: str, body: bytes) -> tuple[int, bytes]:
        """The status and body for one request."""
        if self.mode == "slow":
            self.release.wait(30)
        if self.mode == "garbage":
            return 200, b"<html>502 Bad Gateway</html>"
        if self.mode == "wrong_status":
            return 200, b'{"status": "probably"}'
        if self.mode == "error":
            return 500, b'{"error": "internal"}'
        if path != protocol.PATH:
            return 404, b'{"error": "no such path"}'
        try:
            fresh = abs(time.time() - int(stamp)) <= protocol.MAX_SKEW_SECONDS
        except ValueError:
            fresh = False
        if not fresh or sig != protocol.signature(self.key, stamp, body):
            return 401, b'{"error": "bad signature"}'
        try:
            data = json.loads(body)
            code = str(data["code"])
        except (ValueError, KeyError, TypeError):
            return 400, b'{"error": "bad request"}'
        self.requests.append({"code": code, "order_no": str(data.get("order_no", ""))})
        if code not in self.codes:
            return 404, b'{"status": "unknown_code"}'
        at = self.codes[code]
        out = {
            "status": "redeemed" if at else "unused",
            "redeemed_at": at.isoformat() if at else None,
        }
        return 200, json.dumps(out).encode()
