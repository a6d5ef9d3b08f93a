"""One HTTP(S) request to a payment gateway, for payout channels, on the standard library.

A settlement runs in an RQ work-horse forked for that one job: no connection or pool can
outlive it, and every object a library touches there is paid for again by the next job
(copy-on-write pages). ``http.client`` is the layer urllib3 and requests are built on;
used directly, one request costs about half the CPU it costs through urllib3 in a
work-horse (``bench/gateway_http.py``).

What a channel needs and gets: certificates verified against the system's trust store
(one ``ssl.SSLContext`` per :class:`GatewayHTTP`, built in the parent and shared by the
work-horses it forks), a timeout on connecting and on each read, a cap on the answer's
size, case-insensitive response headers, and two errors that say whether the request can
have reached the gateway:

- :class:`GatewayUnreachable`: no connection was made; nothing was sent.
- :class:`GatewayNoAnswer`: the request may have been sent and applied, but no complete
  answer came; :class:`GatewayTimeout`, a kind of it, when the time ran out. The channel
  must report ``unknown``, and the core resolves it by query with the same key.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

#: the most a gateway's answer may be; a refund answer is a few kilobytes
MAX_ANSWER_BYTES = 1 << 20


class GatewayError(Exception):
    """The gateway could not be asked, or did not answer in full."""


class GatewayUnreachable(GatewayError):
    """No connection to the gateway: the request was not sent."""


class GatewayNoAnswer(GatewayError):
    """The request may have reached the gateway, but no complete answer came back."""


class GatewayTimeout(GatewayNoAnswer):
    """The request may have reached the gateway, but the answer did not come in time."""


@dataclass(frozen=True)
class GatewayResponse:
    """A gateway's answer: status, reason phrase, headers (case-insensitive ``get``), body."""

    status: int
    reason: str
    headers: Message
    body: bytes


class GatewayHTTP:
    """Requests to one gateway base URL, e.g. ``https://api.mch.weixin.qq.com``."""

    def __init__(self, base_url: str, timeout: float, ssl_context: ssl.SSLContext | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"gateway URL must be http(s)://host[:port][/path], not {base_url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"gateway URL must have no ?query or #fragment: {base_url!r}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"gateway URL has a port that is not a number: {base_url!r}") from None
        if timeout <= 0:
            raise ValueError("timeout must be greater than 0")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = port
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._ssl = (ssl_context or ssl.create_default_context()) if self.https else None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        max_bytes: int | None = None,
    ) -> GatewayResponse:
        """Send one request to the base URL's path + ``path`` on a new connection; read the answer
        (at most ``max_bytes``, by default ``MAX_ANSWER_BYTES``: a daily bill may be larger than
        any refund answer).

        Raises :class:`GatewayUnreachable`, or :class:`GatewayNoAnswer` (:class:`GatewayTimeout`
        when the time ran out): see the module.
        """
        if max_bytes is None:
            max_bytes = MAX_ANSWER_BYTES
        conn = self._connection()
        try:
            try:
                conn.connect()
            except (OSError, ssl.SSLError) as exc:  # refused, no route, DNS, TLS handshake
                raise GatewayUnreachable(f"cannot connect to {self.host}: {exc}") from exc
            try:
                target = self.prefix + path or "/"
                conn.request(method, target, body=body, headers=dict(headers))
                resp = conn.getresponse()
                if resp.length is not None and resp.length > max_bytes:
                    raise GatewayNoAnswer(f"the answer from {self.host} is over {max_bytes} bytes")
                data = resp.read(max_bytes + 1)
                if resp.length:  # (a read with a limit does not raise IncompleteRead)
                    raise http.client.IncompleteRead(data, resp.length)
            except TimeoutError as exc:
                raise GatewayTimeout(f"no answer from {self.host} within {self.timeout}s") from exc
            except (OSError, http.client.HTTPException) as exc:  # reset, cut short, garbled
                raise GatewayNoAnswer(f"the answer from {self.host} broke off: {exc!r}") from exc
            if len(data) > max_bytes:
                raise GatewayNoAnswer(f"the answer from {self.host} is over {max_bytes} bytes")
            return GatewayResponse(resp.status, resp.reason, resp.msg, data)
        finally:
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        if self._ssl is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self._ssl
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
