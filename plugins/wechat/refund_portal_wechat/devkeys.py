"""A development key set shared by the WeChat channel and its simulator.

``ensure_dev_keys(directory)`` generates, once, everything both sides of the
protocol need (merchant RSA key + certificate serial, platform RSA key + public
key id, APIv3 key, merchant id) and writes it under ``directory/wechat/``; later
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
    ``WECHAT_PLATFORM_PUBLIC_KEY_ID``. Safe to call from several processes at once.
    """
    base = Path(directory) / _SUBDIR
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (base / _META).exists():
                _generate(base)
            keys: dict[str, str] = json.loads((base / _META).read_text(encoding="ascii"))
            for name, filename in _FILES.items():
                keys[name] = (base / filename).read_text(encoding="ascii")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return keys
