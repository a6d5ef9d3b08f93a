"""The portal's seal key (Ed25519): from the configuration, or made once for development.

``AUDIT_SEAL_KEY`` holds the private key as base64 of its 32 raw bytes. Outside development a
missing key is an error when a seal is made; in development (and tests) one is generated and
kept in the instance folder (``audit-seal.key``), so the demo's seals stay checkable.

cryptography's OpenSSL bindings load in the functions that sign or check, not with the module:
the CLI and the pages that name seals import it in every web worker.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING

from portal.config import is_development
from portal.services import context

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

DEV_KEY_FILE = "audit-seal.key"


class SealKeyMissing(RuntimeError):
    """No seal key configured where one is required."""


def _decode(text: str) -> Ed25519PrivateKey:
    # heavy: cryptography's OpenSSL bindings (see the module's text)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise SealKeyMissing(
            "AUDIT_SEAL_KEY is not base64 of a 32-byte Ed25519 private key"
        ) from exc


def new_key_text() -> str:
    """A new private key, as ``AUDIT_SEAL_KEY`` takes it."""
    # heavy: cryptography's OpenSSL bindings (see the module's text)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return base64.b64encode(Ed25519PrivateKey.generate().private_bytes_raw()).decode()


def private_key() -> Ed25519PrivateKey:
    """The key seals are signed with; SealKeyMissing if there is none to use."""
    configured = context.setting("AUDIT_SEAL_KEY", None)
    if configured:
        return _decode(str(configured))
    mode = {name: context.setting(name, None) for name in ("TESTING", "ENVIRONMENT")}
    if not is_development(mode):
        raise SealKeyMissing(
            "no AUDIT_SEAL_KEY is set: make one with `refund-portal audit new-key` and set it "
            "as PORTAL_AUDIT_SEAL_KEY, kept secret, the same on every worker"
        )
    path = context.instance_path() / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # two processes starting together: one writes the key, the other reads it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(new_key_text())
    return _decode(path.read_text())


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A public key as seals carry it: base64 of its 32 raw bytes."""
    # heavy: cryptography's OpenSSL bindings (see the module's text)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (  # heavy: as above
        Encoding,
        PublicFormat,
    )

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def have_key() -> bool:
    """Whether seals can be signed here (a key configured, or development's own)."""
    try:
        private_key()
    except SealKeyMissing:
        return False
    return True


def trusted_public_keys() -> set[str]:
    """The public keys a seal may be signed with: the current key's and any listed in
    ``AUDIT_TRUSTED_KEYS`` (keys used before a rotation)."""
    trusted = {str(k).strip() for k in context.setting("AUDIT_TRUSTED_KEYS", None) or []}
    try:
        trusted.add(public_key_text(private_key()))
    except SealKeyMissing:
        pass
    return trusted


def signature_valid(public_key: str, signature: str, payload: bytes) -> bool:
    """Whether ``signature`` (base64) is ``public_key``'s over ``payload``."""
    # heavy: cryptography's OpenSSL bindings (see the module's text)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # heavy: as above
        Ed25519PublicKey,
    )

    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), payload)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def sign(payload: bytes) -> tuple[str, str]:
    """The signature (base64) over ``payload`` and the public key (base64) that checks it."""
    key = private_key()
    return base64.b64encode(key.sign(payload)).decode(), public_key_text(key)
