"""The simulated gateway's signing keys, in each of the three modes a merchant can be in.

- ``public_key``: a merchant with a WeChat Pay public key (``PUB_KEY_ID_...``) only; every
  answer and notification is signed with it; ``GET /v3/certificates`` finds no certificate.
- ``platform_cert``: a merchant on platform certificates; answers and notifications are signed
  with the current platform certificate's key; ``GET /v3/certificates`` lists every
  certificate in use (a new one is listed before WeChat Pay starts signing with it).
- ``cert_and_public_key``: both live, as while a merchant moves from certificates to the public key.
  An answer is signed with the public key when the request's ``Wechatpay-Serial`` names it,
  otherwise with the platform certificate (the merchant steers answers); notifications are
  signed with one or the other as WeChat Pay's gradual switch decides (``notify_with``).

A request's ``Wechatpay-Serial`` that names no key of the merchant's is refused with 400
``INVALID_REQUEST``, as the documentation says. ``rotate_certificate`` issues a new
certificate from the dev CA and signs with it from then on (the old one stays listed until
``retire_certificates``); ``rotate_public_key`` replaces the public key.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from refund_portal_wechat import crypto
from refund_portal_wechat.certificates import PUBLIC_KEY_PREFIX, serial_key
from refund_portal_wechat.devkeys import CERT_LIFETIME_S, issue_certificate

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

KEY_MODES = ("public_key", "platform_cert", "cert_and_public_key")
NOTIFY_CHOICES = ("alternate", "platform_cert", "public_key")


@dataclass(frozen=True)
class Signer:
    """One signing identity: the serial answers name in ``Wechatpay-Serial``, and its key."""

    serial: str
    private_key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class IssuedCertificate:
    """A platform certificate the gateway holds (and its private key)."""

    signer: Signer
    pem: str
    not_before: float
    not_after: float


def _new_private_key() -> rsa.RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings

    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _validity(pem: str) -> tuple[float, float]:
    from cryptography import x509  # heavy: OpenSSL bindings

    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()


def _certificate_serial(pem: str) -> str:
    from cryptography import x509  # heavy: OpenSSL bindings

    return f"{x509.load_pem_x509_certificate(pem.encode('ascii')).serial_number:X}"


class GatewayKeys:
    """Which key signs each answer and notification; thread-safe."""

    def __init__(self, keys: dict[str, str], mode: str = "public_key") -> None:
        if mode not in KEY_MODES:
            raise ValueError(f"unknown key mode {mode!r}; expected one of {', '.join(KEY_MODES)}")
        self.mode = mode
        self._lock = threading.Lock()
        self._ca_private = keys["WECHAT_PLATFORM_CA_PRIVATE_KEY"]
        self.ca_pem = keys["WECHAT_PLATFORM_CERT_CA"]
        self._public = Signer(
            keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"],
            crypto.load_private_key(keys["WECHAT_PLATFORM_PRIVATE_KEY"]),
        )
        pem = keys["WECHAT_PLATFORM_CERT"]
        first = IssuedCertificate(
            Signer(
                _certificate_serial(pem),
                crypto.load_private_key(keys["WECHAT_PLATFORM_CERT_PRIVATE_KEY"]),
            ),
            pem,
            *_validity(pem),
        )
        self._certificates: list[IssuedCertificate] = [first]
        self._current = first
        self._notify_with = "alternate"
        self._alternation = itertools.cycle(("platform_cert", "public_key"))

    # -- what the gateway holds ---------------------------------------------------------

    @property
    def has_public_key(self) -> bool:
        return self.mode in ("public_key", "cert_and_public_key")

    @property
    def has_certificates(self) -> bool:
        return self.mode in ("platform_cert", "cert_and_public_key")

    @property
    def public_key(self) -> Signer:
        """The WeChat Pay public key's signer (its id and private key)."""
        with self._lock:
            return self._public

    @property
    def current_certificate(self) -> IssuedCertificate:
        with self._lock:
            return self._current

    def certificates(self) -> list[IssuedCertificate]:
        """The certificates ``GET /v3/certificates`` lists (none in public-key mode)."""
        if not self.has_certificates:
            return []
        with self._lock:
            return list(self._certificates)

    def private_key_for(self, serial: str) -> rsa.RSAPrivateKey | None:
        """The private key behind a serial the merchant may name (to decrypt a sensitive field
        encrypted under it), or None."""
        with self._lock:
            if self.has_public_key and serial == self._public.serial:
                return self._public.private_key
            if self.has_certificates:
                for cert in self._certificates:
                    if serial_key(cert.signer.serial) == serial_key(serial):
                        return cert.signer.private_key
        return None

    # -- who signs ------------------------------------------------------------------------

    def response_signer(self, requested: str) -> Signer | None:
        """The signer of an answer to a request whose ``Wechatpay-Serial`` is ``requested``
        ('' when absent); None when it names no key of the merchant's (400)."""
        with self._lock:
            if requested:
                if requested.startswith(PUBLIC_KEY_PREFIX):
                    return (
                        self._public
                        if self.has_public_key and requested == self._public.serial
                        else None
                    )
                known = self.has_certificates and any(
                    serial_key(c.signer.serial) == serial_key(requested) for c in self._certificates
                )
                return self._current.signer if known else None
            if self.mode == "public_key":
                return self._public
            return self._current.signer

    def notification_signer(self) -> Signer:
        """The signer of the next notification."""
        with self._lock:
            if self.mode == "public_key":
                return self._public
            if self.mode == "platform_cert":
                return self._current.signer
            choice = self._notify_with
            if choice == "alternate":
                choice = next(self._alternation)
            return self._public if choice == "public_key" else self._current.signer

    def notify_with(self, choice: str) -> None:
        """While switching: sign notifications with ``platform_cert``, ``public_key``, or
        ``alternate`` between them (the default)."""
        if choice not in NOTIFY_CHOICES:
            raise ValueError(f"expected one of {', '.join(NOTIFY_CHOICES)}")
        with self._lock:
            self._notify_with = choice

    # -- rotation ---------------------------------------------------------------------------

    def issue_certificate(self, *, not_before: float, not_after: float) -> IssuedCertificate:
        """A new certificate from the dev CA (not listed, not used: see rotate/add)."""
        key = _new_private_key()
        pem = issue_certificate(
            self._ca_private,
            self.ca_pem,
            _public_pem(key),
            not_before=not_before,
            not_after=not_after,
        )
        return IssuedCertificate(Signer(_certificate_serial(pem), key), pem, not_before, not_after)

    @staticmethod
    def issue_with(ca_private_pem: str, ca_pem: str) -> IssuedCertificate:
        """A valid certificate from another CA (a stranger's: for tests of the trust chain)."""
        now = time.time()
        key = _new_private_key()
        pem = issue_certificate(
            ca_private_pem, ca_pem, _public_pem(key), not_before=now - 60, not_after=now + 86400
        )
        return IssuedCertificate(Signer(_certificate_serial(pem), key), pem, now - 60, now + 86400)

    def add_certificate(self, cert: IssuedCertificate, *, sign_with: bool) -> None:
        """List ``cert``; with ``sign_with``, sign with it from now on."""
        with self._lock:
            self._certificates.append(cert)
            if sign_with:
                self._current = cert

    def rotate_certificate(self) -> str:
        """Issue a new platform certificate, list it and sign with it from now on; the old
        ones stay listed. Returns the new serial."""
        now = time.time()
        cert = self.issue_certificate(not_before=now - 60, not_after=now + CERT_LIFETIME_S)
        self.add_certificate(cert, sign_with=True)
        return cert.signer.serial

    def retire_certificates(self) -> list[str]:
        """Stop listing every certificate but the current one; returns the retired serials."""
        with self._lock:
            retired = [c.signer.serial for c in self._certificates if c is not self._current]
            self._certificates = [self._current]
        return retired

    def rotate_public_key(self) -> str:
        """Replace the WeChat Pay public key (a new id); returns the new id."""
        import secrets
        import string

        new_id = (
            PUBLIC_KEY_PREFIX + "01" + "".join(secrets.choice(string.digits) for _ in range(30))
        )
        with self._lock:
            self._public = Signer(new_id, _new_private_key())
        return new_id

    def public_key_pem(self) -> str:
        """The current WeChat Pay public key, PEM (what the merchant downloads)."""
        with self._lock:
            return _public_pem(self._public.private_key)
