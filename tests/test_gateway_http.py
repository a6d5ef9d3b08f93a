"""The channels' HTTP transport against real sockets: plain HTTP, TLS, and gateways that
refuse, hang, break off or answer too much."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bench.stack import free_port
from portal.infra import gateway_http
from portal.infra.gateway_http import (
    GatewayHTTP,
    GatewayNoAnswer,
    GatewayTimeout,
    GatewayUnreachable,
)


@contextmanager
def raw_server(
    handle: Callable[[socket.socket, bytes], None], wrap: ssl.SSLContext | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """A one-thread TCP server: reads a request's head, then lets ``handle`` answer.
    Yields its port and the request heads it received."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                if wrap is not None:
                    conn = wrap.wrap_socket(conn, server_side=True)
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                seen.append(data)
                handle(conn, rest)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, seen
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def answer(status: str, body: bytes, extra: bytes = b"") -> Callable[[socket.socket, bytes], None]:
    def handle(conn: socket.socket, _body: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 "
            + status.encode()
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nX-Gateway-Sign: abc\r\n"
            + extra
            + b"\r\n"
            + body
        )

    return handle


def test_sends_method_path_headers_and_body_and_reads_the_answer() -> None:
    received: list[bytes] = []

    def handle(conn: socket.socket, body: bytes) -> None:
        received.append(body)
        answer("201 Created", b'{"ok":true}')(conn, body)

    with raw_server(handle) as (port, seen):
        http = GatewayHTTP(f"http://127.0.0.1:{port}/base/", timeout=5)
        resp = http.request("POST", "/v3/refunds", b'{"a":1}', {"Authorization": "sig"})
    head = seen[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"POST /base/v3/refunds HTTP/1.1"
    assert b"Authorization: sig" in head and b"Content-Length: 7" in head
    assert received == [b'{"a":1}']
    assert (resp.status, resp.reason, resp.body) == (201, "Created", b'{"ok":true}')
    assert resp.headers.get("x-gateway-sign") == "abc"  # any case


def test_an_empty_path_requests_the_base_urls_path() -> None:
    with raw_server(answer("200 OK", b"x")) as (port, seen):
        GatewayHTTP(f"http://127.0.0.1:{port}/gateway.do", timeout=5).request("POST", "", b"", {})
        GatewayHTTP(f"http://127.0.0.1:{port}", timeout=5).request("GET", "", None, {})
    assert seen[0].startswith(b"POST /gateway.do HTTP/1.1")
    assert seen[1].startswith(b"GET / HTTP/1.1")


def test_nothing_listening_is_unreachable() -> None:
    http = GatewayHTTP(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(GatewayUnreachable, match="cannot connect"):
        http.request("GET", "/", None, {})


def test_a_gateway_that_takes_the_request_and_never_answers_is_a_timeout() -> None:
    hold = threading.Event()
    with raw_server(lambda conn, body: hold.wait(5)) as (port, seen):
        http = GatewayHTTP(f"http://127.0.0.1:{port}", timeout=0.3)
        with pytest.raises(GatewayTimeout):
            http.request("POST", "/refund", b"{}", {})
        hold.set()
    assert len(seen) == 1  # it was sent: the outcome is open, not "nothing happened"


def test_an_answer_cut_short_is_no_answer_but_not_a_timeout() -> None:
    def handle(conn: socket.socket, _body: bytes) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"status":')

    with raw_server(handle) as (port, _):
        with pytest.raises(GatewayNoAnswer, match="broke off") as caught:
            GatewayHTTP(f"http://127.0.0.1:{port}", timeout=5).request("GET", "/", None, {})
    assert not isinstance(caught.value, GatewayTimeout)


def test_an_answer_that_is_not_http_is_no_answer() -> None:
    with raw_server(lambda conn, body: conn.sendall(b"SSH-2.0-OpenSSH\r\n")) as (port, _):
        with pytest.raises(GatewayNoAnswer):
            GatewayHTTP(f"http://127.0.0.1:{port}", timeout=5).request("GET", "/", None, {})


def test_an_answer_over_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_http, "MAX_ANSWER_BYTES", 1000)
    with raw_server(answer("200 OK", b"x" * 1001)) as (port, _):
        with pytest.raises(GatewayNoAnswer, match="over 1000 bytes"):
            GatewayHTTP(f"http://127.0.0.1:{port}", timeout=5).request("GET", "/", None, {})

    def unsized(conn: socket.socket, _body: bytes) -> None:  # no length: ends when it closes
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 1001)

    with raw_server(unsized) as (port, _):
        with pytest.raises(GatewayNoAnswer, match="over 1000 bytes"):
            GatewayHTTP(f"http://127.0.0.1:{port}", timeout=5).request("GET", "/", None, {})
    with raw_server(answer("200 OK", b"x" * 1000)) as (port, _):
        resp = GatewayHTTP(f"http://127.0.0.1:{port}", timeout=5).request("GET", "/", None, {})
    assert len(resp.body) == 1000


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_checks_the_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    with raw_server(answer("200 OK", b"secure"), wrap=server_ctx) as (port, seen):
        # the system's trust store does not know this certificate: no request is sent
        with pytest.raises(GatewayUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
            GatewayHTTP(f"https://127.0.0.1:{port}", timeout=5).request("GET", "/", None, {})
        trusting = ssl.create_default_context(cafile=str(cert))
        http = GatewayHTTP(f"https://127.0.0.1:{port}/api", timeout=5, ssl_context=trusting)
        resp = http.request("POST", "/refund", b"{}", {})
    assert resp.body == b"secure"
    assert [s.split(b"\r\n")[0] for s in seen] == [b"POST /api/refund HTTP/1.1"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://gateway.example/",
        "http://",
        "gateway.example/refund",
        "https://gateway.example/gateway.do?charset=utf-8",
        "https://gateway.example/#x",
        "https://gateway.example:https/",
    ],
)
def test_a_bad_gateway_url_is_refused_when_the_channel_is_built(url: str) -> None:
    with pytest.raises(ValueError, match="gateway URL"):
        GatewayHTTP(url, timeout=5)


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        GatewayHTTP("https://gateway.example", timeout=0)
