"""Alipay public-key certificate mode (公钥证书): loading certificates and their serial numbers.

Alipay names a certificate by an "SN": the MD5 (hex) of the certificate's issuer, written
as RFC 2253/4514 names are (most specific first: ``CN=...,OU=...,O=...,C=...``), followed by
the serial number in decimal. Requests carry ``app_cert_sn`` (the app's certificate) and
``alipay_root_cert_sn`` (the SNs of the RSA-signed certificates in Alipay's root file,
joined with ``_``: the root file also holds certificates signed otherwise, e.g. SM2, which
are left out); answers carry ``alipay_cert_sn``, naming the Alipay certificate whose key
signed them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

#: signature algorithms of the root certificates that count towards ``alipay_root_cert_sn``
RSA_SIGNATURES = {
    "1.2.840.113549.1.1.1",  # rsaEncryption
    "1.2.840.113549.1.1.2",  # md2WithRSAEncryption
    "1.2.840.113549.1.1.4",  # md5WithRSAEncryption
    "1.2.840.113549.1.1.5",  # sha1WithRSAEncryption
    "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
    "1.2.840.113549.1.1.12",  # sha384WithRSAEncryption
    "1.2.840.113549.1.1.13",  # sha512WithRSAEncryption
}
_BEGIN = "-----BEGIN CERTIFICATE-----"


def read_pem(value: str) -> str:
    """PEM text from a setting: the text itself, or the file(s) it names.

    A value without ``-----BEGIN`` is one path, or several joined by ``os.pathsep``
    (``/etc/alipay/a.crt:/etc/alipay/b.crt``), whose contents are concatenated.
    """
    text = value.strip()
    if "-----BEGIN" in text:
        return text
    parts = []
    for path in (p.strip() for p in text.split(os.pathsep)):
        if not path:
            continue
        try:
            with open(path, encoding="ascii") as fh:
                parts.append(fh.read())
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read certificate file {path!r}: {exc}") from None
    return "\n".join(parts)


def load_certs(value: str) -> list[x509.Certificate]:
    """Every certificate in a setting (PEM text or file paths), in order; ValueError if none."""
    from cryptography import x509  # heavy: OpenSSL bindings

    text = read_pem(value)
    if _BEGIN not in text:
        raise ValueError("no PEM certificate found")
    try:
        certs = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValueError("not a PEM certificate") from None
    return certs


def cert_sn(cert: x509.Certificate) -> str:
    """Alipay's SN of one certificate: md5(issuer RFC 4514 string + decimal serial)."""
    issuer = cert.issuer.rfc4514_string()
    return hashlib.md5((issuer + str(cert.serial_number)).encode("utf-8")).hexdigest()  # noqa: S324


def root_cert_sn(certs: Sequence[x509.Certificate]) -> str:
    """``alipay_root_cert_sn``: the SNs of the RSA-signed certificates, joined with ``_``."""
    sns = [cert_sn(c) for c in certs if c.signature_algorithm_oid.dotted_string in RSA_SIGNATURES]
    if not sns:
        raise ValueError("the root certificate file holds no RSA-signed certificate")
    return "_".join(sns)


def is_ca(cert: x509.Certificate) -> bool:
    """Whether the certificate is a CA's (an issuer in the chain, not a key to verify with)."""
    from cryptography import x509  # heavy: OpenSSL bindings

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def rsa_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    """The certificate's RSA public key; ValueError for another kind of key."""
    from cryptography.hazmat.primitives.asymmetric import rsa  # heavy: OpenSSL bindings

    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the certificate's key is not an RSA key")
    return key


def issued_by_one_of(cert: x509.Certificate, issuers: Sequence[x509.Certificate]) -> bool:
    """Whether one of ``issuers`` signed ``cert`` (name and signature both checked)."""
    from cryptography.exceptions import InvalidSignature  # heavy: OpenSSL bindings

    for issuer in issuers:
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            pass  # another issuer, or not a signature this one made
        else:
            return True
    return False


def alipay_keys(
    public_certs: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]
) -> dict[str, rsa.RSAPublicKey]:
    """Alipay's verification keys by SN, from the public certificate setting.

    Every non-CA certificate in it is one of Alipay's public-key certificates (several while
    Alipay rotates); CA certificates in it are intermediates. Each must chain to the root
    file through them, or the configuration is refused.
    """
    intermediates = [c for c in public_certs if is_ca(c)]
    leaves = [c for c in public_certs if not is_ca(c)]
    if not leaves:
        raise ValueError("the Alipay public certificate setting holds no end certificate")
    trusted = [i for i in intermediates if issued_by_one_of(i, roots)] + list(roots)
    keys = {}
    for leaf in leaves:
        if not issued_by_one_of(leaf, trusted):
            raise ValueError(
                f"Alipay certificate {cert_sn(leaf)} does not chain to the root certificates"
            )
        keys[cert_sn(leaf)] = rsa_key(leaf)
    return keys


class KeySet:
    """Alipay's keys for verifying, and the SNs our requests carry in certificate mode.

    Plain public-key mode: one key, no SNs. Certificate mode: the keys of every configured
    Alipay certificate by SN (two while Alipay rotates), ``app_cert_sn`` and
    ``alipay_root_cert_sn``.
    """

    def __init__(
        self,
        keys: dict[str, rsa.RSAPublicKey],
        app_cert_sn: str = "",
        root_cert_sn: str = "",
        anchors: Sequence[x509.Certificate] = (),
    ) -> None:
        self.keys = keys
        self.app_cert_sn = app_cert_sn
        self.root_cert_sn = root_cert_sn
        self.anchors = list(anchors)  # the roots and the intermediates they signed

    @property
    def cert_mode(self) -> bool:
        """Whether requests carry certificate SNs and answers are verified by SN."""
        return bool(self.app_cert_sn)

    def request_params(self) -> dict[str, str]:
        """The common request parameters of the mode (none in plain public-key mode)."""
        if not self.cert_mode:
            return {}
        return {"app_cert_sn": self.app_cert_sn, "alipay_root_cert_sn": self.root_cert_sn}

    def for_answer(self, alipay_cert_sn: object) -> rsa.RSAPublicKey | None:
        """The key to verify an answer with: by its ``alipay_cert_sn`` in certificate mode."""
        if not self.cert_mode:
            return self.keys[""]
        return self.keys.get(str(alipay_cert_sn or ""))

    def learn(self, pem: str, sn: str) -> rsa.RSAPublicKey | None:
        """Add Alipay's certificate ``sn`` from ``pem`` (downloaded) if it chains to the
        configured roots; its key, or None (nothing added) when it does not."""
        if not self.cert_mode:
            return None
        found = load_certs(pem)
        trusted = self.anchors + [
            c for c in found if is_ca(c) and issued_by_one_of(c, self.anchors)
        ]
        for leaf in found:
            if not is_ca(leaf) and cert_sn(leaf) == sn and issued_by_one_of(leaf, trusted):
                self.keys[sn] = rsa_key(leaf)
                return self.keys[sn]
        return None

    @classmethod
    def plain(cls, alipay_public_key: rsa.RSAPublicKey) -> KeySet:
        """Plain public-key mode."""
        return cls({"": alipay_public_key})

    @classmethod
    def from_certificates(
        cls, app_cert: str, alipay_public_cert: str, root_cert: str, app_public: object
    ) -> KeySet:
        """Certificate mode from the three settings (PEM text or paths); ValueError if wrong.

        ``app_public`` is the public half of the app's private key: the app certificate must
        be for that key, or Alipay would refuse every request.
        """
        from cryptography.hazmat.primitives import serialization  # heavy: OpenSSL bindings

        app = load_certs(app_cert)
        roots = load_certs(root_cert)
        public = load_certs(alipay_public_cert)
        der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if rsa_key(app[0]).public_bytes(*der) != app_public.public_bytes(*der):  # type: ignore[attr-defined]
            raise ValueError("the app certificate is not for the app's private key")
        anchors = list(roots) + [c for c in public if is_ca(c) and issued_by_one_of(c, roots)]
        return cls(alipay_keys(public, roots), cert_sn(app[0]), root_cert_sn(roots), anchors)
