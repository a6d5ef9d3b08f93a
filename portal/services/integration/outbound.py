"""Outbound HTTP to an address a merchant chose (webhooks): public addresses only, pinned.

The host is resolved once, at delivery time; every address it resolves to must be public
(``ipaddress`` properties, and IPv6 forms that embed or tunnel to an IPv4 address are
refused outright: IPv4-mapped, 6to4, NAT64, Teredo). The connection goes to the first
checked address, never to a second resolution; the Host header, TLS SNI and the
certificate check use the name. Redirects are not followed (``http.client`` never follows
them), the answer is read only up to a byte cap, and the whole exchange is cut at a deadline
(a timer shuts the socket, so a slow drip cannot hold a worker). The development setting
``allow_local`` lets ``http`` and non-public receivers through (local test receivers).
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: NAT64 well-known and local-use prefixes: the IPv4 address inside may be anything
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: special-purpose blocks that Python 3.11's ``ipaddress`` still calls global
_SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.0.0/24", "192.88.99.0/24", "3fff::/20", "5f00::/16", "2001:20::/28")
)
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
#: characters of the answer shown to the merchant
EXCERPT_CHARS = 200


class OutboundError(Exception):
    """The request was refused before sending (``refused``, ``dns``) or failed (``connect``,
    ``tls``, ``timeout``, ``protocol``); ``detail`` is for the log, not for the merchant."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class Answer:
    """The receiver's status code and a short, cleaned excerpt of its answer."""

    status: int
    excerpt: str


def not_public(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address (a short name), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "ipv4-mapped"
        if ip.sixtofour is not None:
            return "6to4"
        if ip.teredo is not None:
            return "teredo"
        if any(ip in net for net in _NAT64):
            return "nat64"
        if ip.is_site_local:
            return "site-local"
    for name in (
        "is_unspecified",
        "is_loopback",
        "is_link_local",
        "is_multicast",
        "is_private",
        "is_reserved",
    ):
        if getattr(ip, name):
            return name.removeprefix("is_").replace("_", "-")
    if any(ip in net for net in _SPECIAL if net.version == ip.version):
        return "special-purpose"
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT)
        return "not-global"
    return None


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def url_problem(url: str, allow_local: bool) -> str | None:
    """Why ``url`` may not be a receiver (``scheme``, ``form``, ``credentials``, ``address``),
    or None. Names are checked when a delivery resolves them, not here."""
    if _UNSAFE_CHARS.search(url) or len(url) > 500:
        return "form"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "form"
    allowed = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in allowed:
        return "scheme"
    host = parts.hostname or ""
    if not host or (port is not None and not 0 < port < 65536):
        return "form"
    if parts.username is not None or parts.password is not None:
        return "credentials"
    if allow_local:
        return None
    ip = _literal_ip(host)
    if ip is not None and not_public(ip):
        return "address"
    if host.rstrip(".").lower() in _LOCAL_NAMES or host.rstrip(".").lower().endswith(".localhost"):
        return "address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order (tests replace this)."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return found


def open_socket(ip: IPAddress, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to exactly this address (tests replace this to watch it)."""
    return socket.create_connection((str(ip), port), timeout=timeout)


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to a checked address; ``host`` stays the name (Host header)."""

    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned_ip = ip

    def connect(self) -> None:
        self.sock = open_socket(self.pinned_ip, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address; SNI and the certificate check use the name."""

    def __init__(
        self, host: str, port: int, ip: IPAddress, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.pinned_ip, self.tls = ip, context

    def connect(self) -> None:
        sock = self.sock = open_socket(self.pinned_ip, self.port, self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def _target(url: str, allow_local: bool) -> tuple[SplitResult, str, int]:
    problem = url_problem(url, allow_local)
    if problem:
        raise OutboundError("refused", problem)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts, host, port


def checked_address(host: str, port: int, allow_local: bool) -> IPAddress:
    """Resolve once; refuse if any address is not public; the address to connect to."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise OutboundError("dns", type(exc).__name__) from None
    if not addresses:
        raise OutboundError("dns", "no address")
    if not allow_local:
        for ip in addresses:
            why = not_public(ip)
            if why:
                raise OutboundError("refused", f"{host} resolves to {ip} ({why})")
    return addresses[0]


def excerpt(data: bytes) -> str:
    """A short one-line text of an answer (control characters become spaces)."""
    text = data[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())[:EXCERPT_CHARS]


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_local: bool,
    timeout: float,
    max_bytes: int,
    cafile: str | None = None,
) -> Answer:
    """POST ``body`` to ``url`` under the rules above; at most ``max_bytes`` of the answer are
    read and the whole exchange takes at most about ``timeout`` seconds."""
    parts, host, port = _target(url, allow_local)
    ip = checked_address(host, port, allow_local)
    deadline = time.monotonic() + timeout
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = _PinnedHTTPS(host, port, ip, timeout, ssl.create_default_context(cafile=cafile))
    else:
        conn = _PinnedHTTP(host, port, ip, timeout)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.daemon = True
    timer.start()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read(max_bytes)
        if expired.is_set():
            raise OutboundError("timeout", f"more than {timeout:g} s")
        return Answer(resp.status, excerpt(data))
    except OutboundError:
        raise
    except (ssl.SSLCertVerificationError, ssl.CertificateError) as exc:
        raise OutboundError("tls", exc.__class__.__name__) from None
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise OutboundError("timeout", f"more than {timeout:g} s") from None
        if isinstance(exc, ssl.SSLError):
            raise OutboundError("tls", exc.__class__.__name__) from None
        if isinstance(exc, http.client.HTTPException):
            raise OutboundError("protocol", exc.__class__.__name__) from None
        raise OutboundError("connect", exc.__class__.__name__) from None
    finally:
        timer.cancel()
        conn.close()
