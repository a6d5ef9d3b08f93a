"""WeChat Pay platform certificates: the ``GET /v3/certificates`` answer, opened and checked.

The answer lists each certificate encrypted with AEAD_AES_256_GCM under the merchant's APIv3
key (``associated_data`` "certificate"). As the documentation and WeChat Pay's certificate
downloader require, a list is believed only when every certificate decrypts (the GCM tag
authenticates it: only WeChat Pay and the merchant hold the APIv3 key), the answer's own
signature verifies with the certificate its ``Wechatpay-Serial`` names (one just decrypted,
or a key already trusted), each certificate is within its validity period, and, when the
merchant configured WeChat Pay's trust chain (``CertTrustChain.p7b``, issuer "Tenpay.com Root
CA"), each certificate's signature chains to it.

Serials are hex; they are compared as numbers (leading zeros and letter case do not matter).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from refund_portal_wechat import crypto

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

CERTIFICATES_PATH = "/v3/certificates"
CERTIFICATE_AAD = "certificate"
PUBLIC_KEY_PREFIX = "PUB_KEY_ID_"


def serial_key(serial: str) -> str:
    """A serial as it is compared: a hex certificate serial as its number (upper-case hex,
    no leading zeros); a public key id (``PUB_KEY_ID_...``) as written."""
    text = serial.strip()
    if text.startswith(PUBLIC_KEY_PREFIX):
        return text
    try:
        return f"{int(text, 16):X}"
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class PlatformCertificate:
    """One platform certificate, decrypted and parsed."""

    serial: str  # upper-case hex, as Wechatpay-Serial names it
    pem: str
    public_key: rsa.RSAPublicKey
    not_before: float  # Unix time
    not_after: float

    def valid_at(self, now: float) -> bool:
        """Whether ``now`` lies within the certificate's validity period."""
        return self.not_before <= now <= self.not_after


def load_certificate(pem: str | bytes) -> tuple[PlatformCertificate, x509.Certificate]:
    """Parse a PEM certificate holding an RSA key; SignatureError otherwise."""
    from cryptography import x509  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    raw = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        cert = x509.load_pem_x509_certificate(raw)
    except ValueError as exc:
        raise crypto.SignatureError(f"not a PEM certificate: {exc}") from exc
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise crypto.SignatureError("the certificate does not hold an RSA key")
    parsed = PlatformCertificate(
        serial=f"{cert.serial_number:X}",
        pem=raw.decode("ascii"),
        public_key=key,
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
    )
    return parsed, cert


def load_trust_chain(text: str | bytes) -> list[x509.Certificate]:
    """The trust chain: PEM certificates one after the other, or a PKCS#7 bundle (PEM or
    DER, as ``CertTrustChain.p7b`` is published). SignatureError when nothing loads."""
    from cryptography import x509  # heavy: OpenSSL bindings
    from cryptography.hazmat.primitives.serialization import pkcs7  # heavy: OpenSSL bindings

    raw = text.encode("latin-1") if isinstance(text, str) else text
    try:
        if b"-----BEGIN CERTIFICATE-----" in raw:
            certs = x509.load_pem_x509_certificates(raw)
        elif b"-----BEGIN PKCS7-----" in raw:
            certs = pkcs7.load_pem_pkcs7_certificates(raw)
        else:
            certs = pkcs7.load_der_pkcs7_certificates(raw)
    except ValueError as exc:
        raise crypto.SignatureError(f"the trust chain does not load: {exc}") from exc
    if not certs:
        raise crypto.SignatureError("the trust chain holds no certificate")
    return list(certs)


def check_chain(cert: x509.Certificate, trust: Sequence[x509.Certificate], now: float) -> None:
    """Check that ``cert`` was signed by a certificate of ``trust``, and that one by the next,
    up to a self-signed one; every link valid at ``now``. SignatureError otherwise."""
    current = cert
    for _ in range(len(trust) + 1):
        issuers = [c for c in trust if c.subject == current.issuer]
        if not issuers:
            raise crypto.SignatureError(
                f"certificate {current.serial_number:X} was not issued by the trust chain"
            )
        issuer = next((c for c in issuers if _issued_by(current, c)), None)
        if issuer is None:
            raise crypto.SignatureError(
                f"certificate {current.serial_number:X}: its signature does not verify with"
                " the trust chain's issuer"
            )
        if not (
            issuer.not_valid_before_utc.timestamp() <= now <= issuer.not_valid_after_utc.timestamp()
        ):
            raise crypto.SignatureError("a certificate of the trust chain has expired")
        if issuer.subject == issuer.issuer:
            return
        current = issuer
    raise crypto.SignatureError("the trust chain does not end in a root")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature  # heavy: OpenSSL bindings

    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def open_certificate_list(
    headers: crypto.Headers,
    body: bytes,
    *,
    apiv3_key: str | bytes,
    trusted: Callable[[str], rsa.RSAPublicKey | None],
    trust_chain: Sequence[x509.Certificate] = (),
    now: float,
    check_freshness: bool = True,
) -> list[PlatformCertificate]:
    """Open a ``GET /v3/certificates`` answer; the certificates valid at ``now``.

    ``trusted(serial)`` gives a key already trusted (a configured public key, a certificate
    held from before). Raises SignatureError when anything is amiss: a certificate that does
    not decrypt or does not chain, an answer whose signature does not verify, or a list with
    no certificate valid now. ``check_freshness`` False re-checks a stored answer.
    """
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise crypto.SignatureError("the certificate list is not JSON") from exc
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise crypto.SignatureError("the certificate list is empty")
    opened = [_open_item(item, apiv3_key) for item in items]
    by_serial = {serial_key(c.serial): c for c, _ in opened}

    def key_for(serial: str) -> rsa.RSAPublicKey:
        known = by_serial.get(serial_key(serial))
        key = known.public_key if known is not None else trusted(serial)
        if key is None:
            raise crypto.SignatureError(
                f"the certificate list is signed by {serial!r}, neither listed nor trusted"
            )
        return key

    crypto.verify_platform_signature(
        headers, body, key_for, now=now, check_freshness=check_freshness
    )
    for _cert, x509_cert in opened:
        if trust_chain:
            check_chain(x509_cert, trust_chain, now)
    valid = [cert for cert, _ in opened if cert.valid_at(now)]
    if not valid:
        raise crypto.SignatureError(
            "every certificate in the list has expired (or is not yet valid)"
        )
    return valid


def _open_item(item: Any, apiv3_key: str | bytes) -> tuple[PlatformCertificate, x509.Certificate]:
    if not isinstance(item, dict):
        raise crypto.SignatureError("a certificate entry is not an object")
    sealed = item.get("encrypt_certificate")
    if not isinstance(sealed, dict) or sealed.get("algorithm") != crypto.AEAD_ALGORITHM:
        raise crypto.SignatureError("a certificate is not AEAD_AES_256_GCM-encrypted")
    nonce, ciphertext = sealed.get("nonce"), sealed.get("ciphertext")
    if not (isinstance(nonce, str) and nonce and isinstance(ciphertext, str)):
        raise crypto.SignatureError("a certificate lacks its nonce or ciphertext")
    try:
        pem = crypto.aes_gcm_decrypt(
            apiv3_key, nonce, str(sealed.get("associated_data") or ""), ciphertext
        )
    except crypto.SignatureError as exc:
        raise crypto.SignatureError(
            f"certificate {item.get('serial_no')!r} does not decrypt with the APIv3 key"
        ) from exc
    cert, x509_cert = load_certificate(pem)
    if serial_key(str(item.get("serial_no", ""))) != serial_key(cert.serial):
        raise crypto.SignatureError(
            f"entry serial_no {item.get('serial_no')!r} is not the certificate's {cert.serial}"
        )
    return cert, x509_cert
