"""RSA2 (SHA256withRSA, PKCS#1 v1.5, base64) signing as the Alipay open platform does it.

Requests: every parameter except ``sign``, sorted by key, joined ``k=v`` with ``&``
(values not URL-encoded; ``biz_content`` as compact JSON). Notifications: the same,
without ``sign`` and ``sign_type``. Responses: the raw JSON text of the
``<method>_response`` object.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa


def load_private(pem: str) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM text."""
    from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public(pem: str) -> rsa.RSAPublicKey:
    """Load an RSA public key from PEM text (a bare base64 body is accepted too)."""
    from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    text = pem.strip()
    if "BEGIN" not in text:
        text = "-----BEGIN PUBLIC KEY-----\n" + text + "\n-----END PUBLIC KEY-----"
    key = serialization.load_pem_public_key(text.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def string_to_sign(params: Mapping[str, Any], exclude: tuple[str, ...] = ("sign",)) -> str:
    """The canonical ``k=v&...`` string of the parameters, sorted by key."""
    items = []
    for key in sorted(params):
        if key in exclude:
            continue
        value = params[key]
        if value is None or value == "":
            continue
        if isinstance(value, dict):
            value = json.dumps(value, separators=(",", ":"))
        items.append(f"{key}={value}")
    return "&".join(items)


def sign(content: str, key: rsa.RSAPrivateKey) -> str:
    """Base64 RSA2 signature of ``content``."""
    from cryptography.hazmat.primitives import hashes  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import padding  # heavy: OpenSSL bindings

    raw = key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def verify(content: str, signature: str, key: rsa.RSAPublicKey) -> bool:
    """Whether ``signature`` is a valid RSA2 signature of ``content``."""
    from cryptography.exceptions import InvalidSignature  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives import hashes  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import padding  # heavy: OpenSSL bindings

    try:
        raw = base64.b64decode(signature, validate=False)
        key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def response_content(raw: str, response_key: str) -> str | None:
    """The raw JSON text of ``response_key``'s object inside a gateway response (for verifying).

    The signature covers the bytes Alipay wrote, so the object is cut out of the text as it
    is (never re-serialised); ``None`` when the text holds no such object.
    """
    decoder = json.JSONDecoder()
    at = raw.find(f'"{response_key}"')
    while at >= 0:
        colon = at + len(response_key) + 2
        while colon < len(raw) and raw[colon] in " \t\r\n":
            colon += 1
        if colon < len(raw) and raw[colon] == ":":
            start = colon + 1
            while start < len(raw) and raw[start] in " \t\r\n":
                start += 1
            try:
                value, end = decoder.raw_decode(raw, start)
            except ValueError:
                return None
            return raw[start:end] if isinstance(value, dict) else None
        at = raw.find(f'"{response_key}"', at + 1)
    return None
