"""A development key set shared by the WeChat channel and its simulator.

``ensure_dev_keys(directory)`` generates, once, everything both sides of the
protocol need (merchant RSA key + certificate serial, WeChat Pay public key + its
id, APIv3 key, merchant id, and for platform-certificate mode a dev root CA standing
in for "Tenpay.com Root CA" with a first platform certificate it issued) and writes
it under ``directory/wechat/``; later
calls, from any process, load the same files. The returned dict uses the
portal's settings names, so a dev configuration is just these values.
Never use these keys against the real gateway.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import string
from pathlib import Path

DEV_MCHID = "1900000109"
_SUBDIR = "wechat"
_META = "meta.json"
#: certificate-mode material, added to a key set made before it existed
_CERT_FILES = {
    "WECHAT_PLATFORM_CA_PRIVATE_KEY": "platform_ca_private_key.pem",
    "WECHAT_PLATFORM_CERT_PRIVATE_KEY": "platform_cert_private_key.pem",
    "WECHAT_PLATFORM_CERT": "platform_cert.pem",
    "WECHAT_PLATFORM_CERT_CA": "platform_ca_cert.pem",  # written last: marks it complete
}
DEV_CA_NAME = "Dev Tenpay Root CA (refund-portal simulator)"
#: platform certificates are issued for five years, as WeChat Pay's are
CERT_LIFETIME_S = 5 * 365 * 86400
_FILES = {
    "WECHAT_PRIVATE_KEY": "merchant_private_key.pem",
    "WECHAT_MERCHANT_PUBLIC_KEY": "merchant_public_key.pem",
    "WECHAT_PLATFORM_PRIVATE_KEY": "platform_private_key.pem",
    "WECHAT_PLATFORM_PUBLIC_KEY": "platform_public_key.pem",
}


def _new_key_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,  # wechatpayv3 insists on PKCS#8
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private_pem, public_pem


def issue_certificate(
    ca_private_pem: str,
    ca_cert_pem: str,
    public_pem: str,
    *,
    not_before: float,
    not_after: float,
    serial: int | None = None,
) -> str:
    """A platform certificate for ``public_pem`` signed by the dev CA (PEM)."""
    from datetime import UTC, datetime

    from cryptography import x509  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives import hashes, serialization  # heavy: OpenSSL
    from cryptography.x509.oid import NameOID

    ca_key = serialization.load_pem_private_key(ca_private_pem.encode("ascii"), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode("ascii"))
    public = serialization.load_pem_public_key(public_pem.encode("ascii"))
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Dev Tenpay (refund-portal simulator)"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Dev WeChat Pay platform certificate"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(datetime.fromtimestamp(not_before, UTC))
        .not_valid_after(datetime.fromtimestamp(not_after, UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def new_ca(name: str = DEV_CA_NAME) -> tuple[str, str]:
    """A self-signed root CA (private key PEM, certificate PEM), valid for 20 years."""
    import time
    from datetime import UTC, datetime

    from cryptography import x509  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives import hashes, serialization  # heavy: OpenSSL
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = time.time()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.fromtimestamp(now - 86400, UTC))
        .not_valid_after(datetime.fromtimestamp(now + 20 * 365 * 86400, UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return private_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _generate_certificate_mode(base: Path) -> None:
    import time

    ca_private, ca_cert = new_ca()
    cert_private, cert_public = _new_key_pair()
    now = time.time()
    cert = issue_certificate(
        ca_private, ca_cert, cert_public, not_before=now - 86400, not_after=now + CERT_LIFETIME_S
    )
    pems = {
        "WECHAT_PLATFORM_CA_PRIVATE_KEY": ca_private,
        "WECHAT_PLATFORM_CERT_PRIVATE_KEY": cert_private,
        "WECHAT_PLATFORM_CERT": cert,
        "WECHAT_PLATFORM_CERT_CA": ca_cert,
    }
    for name, filename in _CERT_FILES.items():
        _write(base / filename, pems[name], private="PRIVATE" in name)


def _write(path: Path, text: str, private: bool) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _generate(base: Path) -> None:
    merchant_private, merchant_public = _new_key_pair()
    platform_private, platform_public = _new_key_pair()
    alphabet = string.ascii_letters + string.digits
    meta = {
        "WECHAT_MCHID": DEV_MCHID,
        "WECHAT_CERT_SERIAL": secrets.token_hex(20).upper(),
        "WECHAT_PLATFORM_PUBLIC_KEY_ID": "PUB_KEY_ID_01"
        + "".join(secrets.choice(string.digits) for _ in range(26)),
        "WECHAT_APIV3_KEY": "".join(secrets.choice(alphabet) for _ in range(32)),
    }
    pems = {
        "WECHAT_PRIVATE_KEY": merchant_private,
        "WECHAT_MERCHANT_PUBLIC_KEY": merchant_public,
        "WECHAT_PLATFORM_PRIVATE_KEY": platform_private,
        "WECHAT_PLATFORM_PUBLIC_KEY": platform_public,
    }
    for name, filename in _FILES.items():
        _write(base / filename, pems[name], private="PRIVATE" in name)
    # meta.json last: its presence marks a complete key set
    _write(base / _META, json.dumps(meta, indent=2) + "\n", private=True)


def ensure_dev_keys(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Load the dev key set under ``directory``, generating it the first time.

    Returns ``WECHAT_MCHID``, ``WECHAT_CERT_SERIAL``, ``WECHAT_PRIVATE_KEY`` (PKCS#8
    PEM), ``WECHAT_MERCHANT_PUBLIC_KEY``, ``WECHAT_APIV3_KEY`` (32 characters),
    ``WECHAT_PLATFORM_PRIVATE_KEY``, ``WECHAT_PLATFORM_PUBLIC_KEY`` and
    ``WECHAT_PLATFORM_PUBLIC_KEY_ID``; for certificate mode ``WECHAT_PLATFORM_CERT_CA`` (the
    dev root CA's certificate: the trust chain), ``WECHAT_PLATFORM_CA_PRIVATE_KEY``,
    ``WECHAT_PLATFORM_CERT`` and ``WECHAT_PLATFORM_CERT_PRIVATE_KEY`` (the first platform
    certificate, valid five years). Safe to call from several processes at once.
    """
    base = Path(directory) / _SUBDIR
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (base / _META).exists():
                _generate(base)
            if not (base / _CERT_FILES["WECHAT_PLATFORM_CERT_CA"]).exists():
                _generate_certificate_mode(base)
            keys: dict[str, str] = json.loads((base / _META).read_text(encoding="ascii"))
            for name, filename in {**_FILES, **_CERT_FILES}.items():
                keys[name] = (base / filename).read_text(encoding="ascii")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return keys
