"""Development key set: the app's key pair and the simulated gateway's ("Alipay's") key pair.

Generated once under ``<dir>/alipay`` and reused; the channel and the simulator load
their halves from the same directory. Never for production.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

DEV_APP_ID = "2021000000000001"
_FILES = ("app_private.pem", "app_public.pem", "alipay_private.pem", "alipay_public.pem")


def _pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def ensure_dev_keys(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Load (or create) the dev keys; returns channel settings plus the simulator's keys.

    Keys: ``ALIPAY_APP_ID``, ``ALIPAY_APP_PRIVATE_KEY``, ``ALIPAY_APP_PUBLIC_KEY``,
    ``ALIPAY_PUBLIC_KEY`` (the gateway's public key) and ``ALIPAY_GATEWAY_PRIVATE_KEY``.
    """
    base = Path(directory) / "alipay"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not all((base / name).exists() for name in _FILES):
                app_private, app_public = _pair()
                gw_private, gw_public = _pair()
                for name, text in zip(
                    _FILES, (app_private, app_public, gw_private, gw_public), strict=True
                ):
                    (base / name).write_text(text)
            texts = [(base / name).read_text() for name in _FILES]
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return {
        "ALIPAY_APP_ID": DEV_APP_ID,
        "ALIPAY_APP_PRIVATE_KEY": texts[0],
        "ALIPAY_APP_PUBLIC_KEY": texts[1],
        "ALIPAY_GATEWAY_PRIVATE_KEY": texts[2],
        "ALIPAY_PUBLIC_KEY": texts[3],
    }


_CERT_DIR = "cert"
_CERT_FILES = (
    "alipayRootCert.crt",
    "appCertPublicKey.crt",
    "alipayCertPublicKey_RSA2.crt",
    "alipayCertPublicKey_RSA2_next.crt",
    "alipay_private_next.pem",
)


def _name(common_name: str) -> object:
    from cryptography import x509  # heavy: OpenSSL bindings
    from cryptography.x509.oid import NameOID  # heavy: OpenSSL bindings

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Refund Portal Dev"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _cert(subject: str, key: object, issuer: str, issuer_key: object, ca: bool) -> str:
    """One PEM certificate for ``key``'s public half, signed by ``issuer_key``."""
    import secrets
    from datetime import UTC, datetime, timedelta

    from cryptography import x509  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives import hashes, serialization  # heavy: OpenSSL bindings

    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))  # type: ignore[arg-type]
        .issuer_name(_name(issuer))  # type: ignore[arg-type]
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(secrets.randbits(64) | 1 << 63)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def ensure_dev_certs(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Load (or create) a simulated public-key certificate set under ``<dir>/alipay/cert``.

    A root file with an RSA root and an EC root (standing for Alipay's SM2 root, which the
    root SN leaves out), an intermediate CA, the app's certificate for the dev app key,
    and two Alipay certificates, the current one (the dev "Alipay" key) and the next one
    (a second key), each followed by the intermediate as Alipay's files are. Keys:
    ``ALIPAY_ROOT_CERT``, ``ALIPAY_APP_CERT``, ``ALIPAY_PUBLIC_CERT``,
    ``ALIPAY_PUBLIC_CERT_NEXT``, ``ALIPAY_GATEWAY_PRIVATE_KEY_NEXT``. Never for production.
    """
    keys = ensure_dev_keys(directory)
    base = Path(directory) / "alipay" / _CERT_DIR
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not all((base / name).exists() for name in _CERT_FILES):
                for name, text in zip(_CERT_FILES, _make_certs(keys), strict=True):
                    (base / name).write_text(text)
            texts = [(base / name).read_text() for name in _CERT_FILES]
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return {
        "ALIPAY_ROOT_CERT": texts[0],
        "ALIPAY_APP_CERT": texts[1],
        "ALIPAY_PUBLIC_CERT": texts[2],
        "ALIPAY_PUBLIC_CERT_NEXT": texts[3],
        "ALIPAY_GATEWAY_PRIVATE_KEY_NEXT": texts[4],
    }


def _make_certs(keys: dict[str, str]) -> tuple[str, ...]:
    from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import ec, rsa  # heavy: OpenSSL bindings

    def load(pem: str) -> object:
        return serialization.load_pem_private_key(pem.encode(), password=None)

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    next_private, _ = _pair()
    root, inter = "Simulated Alipay Root R1", "Simulated Alipay Class 2 R1"
    ec_root = "Simulated Alipay Root E1"
    root_file = _cert(root, root_key, root, root_key, True) + "\n"
    root_file += _cert(ec_root, ec_root_key, ec_root, ec_root_key, True)
    inter_pem = _cert(inter, inter_key, root, root_key, True)
    app = _cert(
        "2021000000000001 app", load(keys["ALIPAY_APP_PRIVATE_KEY"]), inter, inter_key, False
    )
    current = _cert(
        "Simulated Alipay", load(keys["ALIPAY_GATEWAY_PRIVATE_KEY"]), inter, inter_key, False
    )
    upcoming = _cert("Simulated Alipay next", load(next_private), inter, inter_key, False)
    return root_file, app, current + inter_pem, upcoming + inter_pem, next_private
