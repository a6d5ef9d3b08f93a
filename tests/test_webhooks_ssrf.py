"""Webhooks cannot be turned against the portal's own network (SSRF), tested as an attacker
would: a resolver that answers with internal addresses (every non-public IPv4/IPv6 form),
a name that resolves to a public address once and to an internal one the next time, redirects
to internal addresses, and real local HTTP(S) servers that answer hugely or slowly."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, WebhookDelivery
from portal.services.errors import DomainError
from portal.services.integration import outbound, webhooks
from tests import factories as f
from tests.api_helpers import order_body, shop

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.0.1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "233.252.0.1",  # multicast that ipaddress calls global
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.10",
    "198.18.0.1",
    "192.0.0.8",  # IETF protocol assignments (ipaddress calls some of them global)
    "192.0.0.9",
    "192.88.99.1",  # 6to4 relay anycast
    "3fff::1",  # documentation (RFC 9637)
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",  # global-scope multicast
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:8.8.8.8",  # mapped forms are refused whatever they carry
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:808:808::1",  # 6to4 of a public address: a tunnel, refused too
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::200e"]
PUBLIC_IP = ipaddress.ip_address("93.184.216.34")
HOOK = "https://hooks.shop.example/refunds"


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_every_non_public_address_form_is_named(address):
    assert outbound.not_public(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert outbound.not_public(ipaddress.ip_address(address)) is None


@pytest.fixture
def no_connect(monkeypatch):
    """Fail the test if any socket is opened."""

    def refuse(ip, port, timeout):
        raise AssertionError(f"connected to {ip}:{port}")

    monkeypatch.setattr(outbound, "open_socket", refuse)


def _resolver(monkeypatch, *answers: list[str]) -> list[str]:
    """Resolve to each list of addresses in turn (the last one again after that)."""
    asked: list[str] = []

    def resolve(host, port):
        asked.append(host)
        got = answers[min(len(asked), len(answers)) - 1]
        return [ipaddress.ip_address(a) for a in got]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return asked


def _delivery(client, url: str = HOOK) -> WebhookDelivery:
    s, mid = shop(client)
    webhooks.add_endpoint(mid, url)
    s.post("/orders", order_body("SSRF1"))
    s.post("/orders/SSRF1/cancel", {"reason": "out of stock"})
    return db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id))


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_a_name_resolving_to_an_internal_address_is_not_contacted(
    app, client, monkeypatch, no_connect, address
):
    _resolver(monkeypatch, [address])
    d = _delivery(client)
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    assert d.attempts == 1 and d.last_status is None and d.last_error == "refused"
    assert address not in d.last_error  # the merchant is not told internal addresses


def test_one_internal_address_among_public_ones_refuses_the_delivery(
    app, client, monkeypatch, no_connect
):
    _resolver(monkeypatch, ["93.184.216.34", "2606:4700:4700::1111", "10.1.2.3"])
    d = _delivery(client)
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    assert d.last_error == "refused"


def test_the_checked_address_is_the_one_connected_to(app, client, monkeypatch):
    """DNS rebinding: public on the check, loopback a moment later; only one resolution is made
    and the connection goes to the address that was checked."""
    asked = _resolver(monkeypatch, ["93.184.216.34"], ["127.0.0.1"])
    connected: list[tuple[str, int]] = []

    def record(ip, port, timeout):
        connected.append((str(ip), port))
        raise ConnectionRefusedError("test: nothing listens here")

    monkeypatch.setattr(outbound, "open_socket", record)
    d = _delivery(client)
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    assert asked == ["hooks.shop.example"]
    assert connected == [("93.184.216.34", 443)]
    assert d.last_error == "connect"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.shop.example/x", "https://"),
        ("HTTP://hooks.shop.example/x", "https://"),
        ("ftp://hooks.shop.example/x", "https://"),
        ("file:///etc/passwd", "https://"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "https://"),
        ("https://127.0.0.1/x", "public address"),
        ("https://169.254.169.254/latest/meta-data/", "public address"),
        ("https://[::1]:8080/x", "public address"),
        ("https://[::ffff:7f00:1]/x", "public address"),
        ("https://0.0.0.0/x", "public address"),
        ("https://localhost/x", "public address"),
        ("https://api.localhost/x", "public address"),
        ("https://user:pw@hooks.shop.example/x", "user name"),
        ("https://hooks.shop.example\x00.evil/x", "not a valid"),
        ("https://hooks.shop.example/a b", "not a valid"),
        ("https://hooks.shop.example:99999/x", "not a valid"),
        ("https:///x", "not a valid"),
        ("https://" + "a" * 500 + ".example/", "not a valid"),
    ],
)
def test_registration_refuses_what_could_never_be_delivered(app, url, why):
    m = f.merchant()
    db.session.commit()
    with pytest.raises(DomainError) as exc:
        webhooks.add_endpoint(m.id, url)
    assert why in exc.value.message


def test_registration_accepts_a_public_https_name(app):
    m = f.merchant()
    db.session.commit()
    assert webhooks.add_endpoint(m.id, " https://hooks.shop.example:8443/refunds?x=1 ").active


def test_the_development_setting_lets_local_receivers_through(app):
    m = f.merchant()
    db.session.commit()
    with pytest.raises(DomainError):
        webhooks.add_endpoint(m.id, "http://127.0.0.1:9000/hooks")
    app.config["WEBHOOKS_ALLOW_LOCAL"] = True
    assert webhooks.add_endpoint(m.id, "http://127.0.0.1:9000/hooks").active


def test_an_endpoint_stored_before_the_rules_is_checked_again_at_delivery(app, client, no_connect):
    d = _delivery(client)
    d.endpoint.url = "http://127.0.0.1:6379/"  # e.g. registered by an older version
    db.session.commit()
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    assert d.last_error == "refused"


# --- real local servers (the development setting on: they listen on 127.0.0.1) -------------


class Server:
    """A local HTTP(S) server whose answer each test chooses; records what reaches it."""

    def __init__(self, answer, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stop = threading.Event()
        self.sent = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, dict(self.headers)))
                try:
                    answer(self, outer)
                except OSError:
                    pass  # the client hung up, as it should

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers(app):
    app.config["WEBHOOKS_ALLOW_LOCAL"] = True
    made: list[Server] = []

    def make(answer, tls=None) -> Server:
        made.append(Server(answer, tls))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _status(code: int, body: bytes = b"", extra: dict[str, str] | None = None):
    def answer(h, server):
        h.send_response(code)
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return answer


def test_the_name_is_kept_in_the_host_header_while_the_checked_address_is_used(
    app, client, servers, monkeypatch
):
    srv = servers(_status(204))
    asked = _resolver(monkeypatch, ["127.0.0.1"])
    d = _delivery(client, f"http://hooks.shop.test:{srv.port}/in?shop=1")
    assert webhooks.deliver(d.id) == "delivered"
    assert asked == ["hooks.shop.test"]  # a name no system resolver knows: ours was used
    path, headers = srv.requests[0]
    assert path == "/in?shop=1" and headers["Host"] == f"hooks.shop.test:{srv.port}"


def test_redirects_are_not_followed(app, client, servers):
    internal = servers(_status(200, b"secret internal answer"))
    outer = servers(
        _status(307, b"", {"Location": f"http://127.0.0.1:{internal.port}/admin/flush"})
    )
    d = _delivery(client, f"http://127.0.0.1:{outer.port}/hook")
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    assert len(outer.requests) == 1 and internal.requests == []
    assert d.last_status == 307 and d.delivered_at is None


def _huge(h, server):
    h.send_response(500)
    h.send_header("Content-Length", str(200 * 1024 * 1024))
    h.end_headers()
    chunk = b"<script>alert(1)</script>" + b"x" * 65510
    while not server.stop.is_set():
        h.wfile.write(chunk)
        server.sent += len(chunk)


def test_a_huge_answer_is_read_only_up_to_the_cap(app, client, servers):
    srv = servers(_huge)
    d = _delivery(client, f"http://127.0.0.1:{srv.port}/hook")
    started = time.monotonic()
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    assert time.monotonic() - started < 5
    assert d.last_status == 500
    excerpt = d.last_error.removeprefix("http: ")
    assert excerpt.startswith("<script>alert(1)</script>xxx")
    assert len(excerpt) == outbound.EXCERPT_CHARS
    assert srv.sent < 200 * 1024 * 1024  # the portal hung up long before the end


def test_the_page_shows_the_status_and_a_short_escaped_excerpt(app, client, servers, browser):
    srv = servers(_huge)
    d = _delivery(client, f"http://127.0.0.1:{srv.port}/hook")
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    merchant = db.session.get(Merchant, d.endpoint.merchant_id)
    user = f.staff("hookstaff", "merchant", merchant.slug)
    browser.submit(
        "/staff/login", "/staff/login", {"username": user.username, "password": "password-123"}
    )
    page = browser.get("/merchant/webhooks").get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "x" * 121 not in page  # at most 120 characters of the answer


def _drip_body(h, server):
    h.send_response(200)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    while not server.stop.wait(0.05):
        h.wfile.write(b"x")
        h.wfile.flush()


def _drip_headers(h, server):
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    while not server.stop.wait(0.05):
        h.wfile.write(b"X-Slow: 1\r\n")
        h.wfile.flush()


@pytest.mark.parametrize("answer", [_drip_body, _drip_headers], ids=["body", "headers"])
def test_a_slow_drip_is_cut_at_the_deadline(app, client, servers, answer):
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 1
    srv = servers(answer)
    d = _delivery(client, f"http://127.0.0.1:{srv.port}/hook")
    started = time.monotonic()
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    took = time.monotonic() - started
    assert 0.9 < took < 3, took  # every read was quick: only the deadline stops it
    assert d.last_error == "timeout" and d.delivered_at is None


def test_a_silent_receiver_is_cut_at_the_deadline(app, client, servers):
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 1
    srv = servers(lambda h, server: server.stop.wait(30))
    d = _delivery(client, f"http://127.0.0.1:{srv.port}/hook")
    started = time.monotonic()
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    assert time.monotonic() - started < 3 and d.last_error == "timeout"


# --- TLS: SNI and the certificate are checked against the name, not the address ------------


def _tls_pair(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for ``name`` and the CA file that trusts it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, str(cert_file)


def _post(url: str, cafile: str) -> outbound.Answer:
    return outbound.post(url, b"{}", {}, allow_local=True, timeout=5, max_bytes=1024, cafile=cafile)


def test_tls_is_checked_against_the_name_while_connecting_to_the_checked_address(
    app, servers, monkeypatch, tmp_path
):
    ctx, ca = _tls_pair(tmp_path, "hooks.shop.test")
    srv = servers(_status(200, b"ok"), tls=ctx)
    _resolver(monkeypatch, ["127.0.0.1"])
    assert _post(f"https://hooks.shop.test:{srv.port}/in", ca) == outbound.Answer(200, "ok")
    assert srv.requests[0][1]["Host"] == f"hooks.shop.test:{srv.port}"
    # another name resolving to the same address does not match the certificate
    with pytest.raises(outbound.OutboundError) as exc:
        _post(f"https://other.shop.test:{srv.port}/in", ca)
    assert exc.value.code == "tls"
    assert len(srv.requests) == 1


def test_an_untrusted_certificate_is_refused(app, servers, monkeypatch, tmp_path):
    ctx, _ = _tls_pair(tmp_path, "hooks.shop.test")
    _, other_ca = _tls_pair(tmp_path, "elsewhere.test")
    srv = servers(_status(200, b"ok"), tls=ctx)
    _resolver(monkeypatch, ["127.0.0.1"])
    with pytest.raises(outbound.OutboundError) as exc:
        _post(f"https://hooks.shop.test:{srv.port}/in", other_ca)
    assert exc.value.code == "tls" and srv.requests == []


def test_the_real_resolver_reads_the_system_answer():
    assert ipaddress.ip_address("127.0.0.1") in outbound.resolve("localhost", 80) or (
        ipaddress.ip_address("::1") in outbound.resolve("localhost", 80)
    )
    with pytest.raises(socket.gaierror):
        outbound.resolve("name.invalid", 80)
