"""WeChat Pay API v3 protocol primitives: request/response signatures and AES-256-GCM.

Shared by the channel (merchant side) and the simulator (gateway side), so both
build the exact same signed messages:

* request signature: SHA256withRSA (PKCS#1 v1.5), base64, over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` with the merchant key,
  sent in ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",...``;
* response / notification signature: same algorithm over
  ``TIMESTAMP\\nNONCE\\nBODY\\n`` with the platform key named by ``Wechatpay-Serial``;
* notification ``resource``: AEAD_AES_256_GCM with the 32-byte APIv3 key.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.asymmetric.padding import OAEP

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
AEAD_ALGORITHM = "AEAD_AES_256_GCM"
#: how far a signed timestamp may be from our clock, either way (seconds)
MAX_CLOCK_SKEW_S = 300

_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


class Headers(Protocol):
    """Headers as ``header`` reads them: a dict, a WSGI environ or ``email.message.Message``."""

    def items(self) -> Iterable[tuple[str, str]]: ...


class SignatureError(Exception):
    """A signature, a key or an Authorization header could not be verified."""


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def make_nonce(length: int = 32) -> str:
    """A random nonce of upper-case letters and digits (base32: 5 random bits a character)."""
    return base64.b32encode(secrets.token_bytes((length * 5 + 7) // 8)).decode("ascii")[:length]


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM (PKCS#8 or PKCS#1)."""
    from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    try:
        key = serialization.load_pem_private_key(_as_bytes(pem), password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"cannot load the RSA private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignatureError("the private key is not an RSA key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from PEM (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    try:
        key = serialization.load_pem_public_key(_as_bytes(pem))
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"cannot load the RSA public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("the public key is not an RSA key")
    return key


def sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5) signature of ``message``, base64."""
    from cryptography.hazmat.primitives import hashes  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import padding  # heavy: OpenSSL bindings

    raw = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is a valid SHA256withRSA signature of ``message``."""
    from cryptography.exceptions import InvalidSignature  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives import hashes  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import padding  # heavy: OpenSSL bindings

    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def request_message(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The bytes a merchant signs for one API request (``path`` includes ``?query``)."""
    head = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode()
    return head + body + b"\n"


def response_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The bytes the platform signs for a response or a notification."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def build_authorization(
    *,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    method: str,
    path: str,
    body: bytes,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The ``Authorization`` header value for one request."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or make_nonce()
    signature = sign(private_key, request_message(method, path, ts, nonce, body))
    return (
        f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",'
        f'signature="{signature}",timestamp="{ts}",serial_no="{serial_no}"'
    )


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parsed parameters of a ``WECHATPAY2-SHA256-RSA2048`` Authorization header."""

    mchid: str
    nonce: str
    signature: str
    timestamp: str
    serial_no: str


def parse_authorization(header: str) -> Authorization:
    """Parse an Authorization header; SignatureError if it is not the v3 scheme."""
    scheme, _, params = header.strip().partition(" ")
    if scheme != AUTH_SCHEME:
        raise SignatureError(f"unsupported authorization scheme {scheme!r}")
    values = dict(_AUTH_PARAM.findall(params))
    try:
        return Authorization(
            mchid=values["mchid"],
            nonce=values["nonce_str"],
            signature=values["signature"],
            timestamp=values["timestamp"],
            serial_no=values["serial_no"],
        )
    except KeyError as exc:
        raise SignatureError(f"authorization header lacks {exc.args[0]}") from None


def is_fresh(timestamp: str, now: float | None = None, skew: int = MAX_CLOCK_SKEW_S) -> bool:
    """Whether a decimal Unix ``timestamp`` lies within ``skew`` seconds of ``now``."""
    if not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= skew


def signed_headers(
    private_key: rsa.RSAPrivateKey,
    serial: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers the platform puts on a response or a notification."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or make_nonce()
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign(private_key, response_message(ts, nonce, body)),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": AUTH_SCHEME,
    }


def header(headers: Headers, name: str) -> str:
    """Case-insensitive header lookup ('' when absent); also accepts WSGI ``HTTP_*`` keys."""
    wanted = name.lower()
    wsgi = "http_" + wanted.replace("-", "_")
    for key, value in headers.items():
        low = key.lower()
        if low in (wanted, wsgi):
            return value
    return ""


def verify_platform_signature(
    headers: Headers,
    body: bytes,
    platform_keys: Mapping[str, rsa.RSAPublicKey] | Callable[[str], rsa.RSAPublicKey],
    now: float | None = None,
    *,
    check_freshness: bool = True,
) -> tuple[str, str]:
    """Verify a platform-signed message; return (serial, nonce) or raise SignatureError.

    ``platform_keys`` maps a ``Wechatpay-Serial`` to its key, or is a function that returns
    the key for a serial and raises SignatureError (saying why) when there is none. Checks,
    in order: all headers present, the signature type, a known serial, the signature itself,
    then the timestamp's freshness (unless ``check_freshness`` is False: a stored answer
    re-checked later).
    """
    signature = header(headers, "Wechatpay-Signature")
    timestamp = header(headers, "Wechatpay-Timestamp")
    nonce = header(headers, "Wechatpay-Nonce")
    serial = header(headers, "Wechatpay-Serial")
    present = {
        "Wechatpay-Signature": signature,
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
    }
    missing = [name for name, value in present.items() if not value]
    if missing:
        raise SignatureError(f"missing header {', '.join(missing)}")
    sig_type = header(headers, "Wechatpay-Signature-Type")
    if sig_type and sig_type != AUTH_SCHEME:
        raise SignatureError(f"unsupported signature type {sig_type!r}")
    if callable(platform_keys):
        key = platform_keys(serial)
    else:
        found = platform_keys.get(serial)
        if found is None:
            raise SignatureError(f"unknown platform key serial {serial!r}")
        key = found
    if not verify(key, response_message(timestamp, nonce, body), signature):
        raise SignatureError(f"bad platform signature (Wechatpay-Serial {serial!r})")
    if check_freshness and not is_fresh(timestamp, now):
        raise SignatureError(f"stale timestamp {timestamp!r} (more than 5 minutes off)")
    return serial, nonce


def aes_gcm_encrypt(
    apiv3_key: str | bytes, nonce: str, associated_data: str, plaintext: bytes
) -> str:
    """AEAD_AES_256_GCM: base64(ciphertext + tag), as in a notification's ``resource``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # heavy: OpenSSL bindings

    sealed = AESGCM(_apiv3_key_bytes(apiv3_key)).encrypt(
        nonce.encode("utf-8"), plaintext, associated_data.encode("utf-8")
    )
    return base64.b64encode(sealed).decode("ascii")


def aes_gcm_decrypt(
    apiv3_key: str | bytes, nonce: str, associated_data: str, ciphertext: str
) -> bytes:
    """Decrypt a notification ``resource``; SignatureError when it does not authenticate."""
    from cryptography.exceptions import InvalidTag  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # heavy: OpenSSL bindings

    try:
        sealed = base64.b64decode(ciphertext, validate=True)
        return AESGCM(_apiv3_key_bytes(apiv3_key)).decrypt(
            nonce.encode("utf-8"), sealed, associated_data.encode("utf-8")
        )
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise SignatureError("resource does not decrypt with the APIv3 key") from exc


def _apiv3_key_bytes(apiv3_key: str | bytes) -> bytes:
    key = _as_bytes(apiv3_key)
    if len(key) != 32:
        raise SignatureError("the APIv3 key must be exactly 32 bytes")
    return key


def oaep_encrypt(public_key: rsa.RSAPublicKey, text: str) -> str:
    """A sensitive request field (a card number, a name) as WeChat Pay wants it: RSAES-OAEP
    (SHA-1, MGF1 with SHA-1) under the WeChat Pay public key, base64."""
    oaep = _oaep()
    return base64.b64encode(public_key.encrypt(text.encode("utf-8"), oaep)).decode("ascii")


def oaep_decrypt(private_key: rsa.RSAPrivateKey, ciphertext: str) -> str:
    """The gateway's side of :func:`oaep_encrypt`; SignatureError when it does not decrypt."""
    oaep = _oaep()
    try:
        raw = private_key.decrypt(base64.b64decode(ciphertext, validate=True), oaep)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise SignatureError("a sensitive field does not decrypt with the platform key") from exc


def _oaep() -> OAEP:
    """OAEP with SHA-1 and MGF1-SHA-1: what WeChat Pay's sensitive-field encryption specifies
    (``RSA/ECB/OAEPWithSHA-1AndMGF1Padding``); OAEP's security does not rest on SHA-1's
    collision resistance."""
    from cryptography.hazmat.primitives import hashes  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import padding  # heavy: OpenSSL bindings

    sha1 = hashes.SHA1()  # noqa: S303 - the gateway's specified padding
    return padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None)
