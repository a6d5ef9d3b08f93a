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
