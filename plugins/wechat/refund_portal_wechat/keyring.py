"""The keys WeChat Pay's answers and notifications are verified with, picked by
``Wechatpay-Serial``: WeChat Pay public keys (``PUB_KEY_ID_...``, configured), platform
certificates (downloaded), or both while a merchant switches.

Certificates are downloaded with ``GET /v3/certificates`` and checked as
:mod:`refund_portal_wechat.certificates` says; the signed, still-encrypted answer is kept in
the portal's shared store, so every process (web and worker) uses the same list, and each
re-opens and re-checks it with the APIv3 key itself (a store that anybody altered does not
decrypt). A serial nobody knows triggers one download (at most one a minute, across every
process) before the message is refused. The worker's sweep downloads again every few hours
(the documentation asks for less than 12), so a new certificate is held before WeChat Pay
signs with it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.plugins.channels import ChannelError, SharedStore
from refund_portal_wechat import crypto
from refund_portal_wechat.certificates import (
    PUBLIC_KEY_PREFIX,
    PlatformCertificate,
    open_certificate_list,
    serial_key,
)

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

#: download the certificates again this often (WeChat Pay: "定时调用，间隔应小于12小时")
REFRESH_EVERY_S = 6 * 3600
#: after a failed scheduled download, wait this long before the next
RETRY_AFTER_FAILURE_S = 300
#: an unknown serial triggers at most one download this often (per process, and shared)
UNKNOWN_SERIAL_GAP_S = 60
KEY_MODES = ("public_key", "platform_cert", "cert_and_public_key")
#: the answer headers kept with a stored download (what its signature needs)
_SIGNED_HEADERS = (
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)


@dataclass(frozen=True, slots=True)
class Download:
    """A ``GET /v3/certificates`` answer as it came: status, headers, body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Keyring:
    """The verification keys of one merchant, in one of the three key modes."""

    def __init__(
        self,
        *,
        mchid: str,
        mode: str,
        public_keys: Mapping[str, rsa.RSAPublicKey],
        apiv3_key: str | bytes,
        store: SharedStore,
        download: Callable[[], Download],
        trust_chain: Sequence[x509.Certificate] = (),
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in KEY_MODES:
            raise ChannelError(f"unknown WeChat Pay key mode {mode!r}")
        self.mode = mode
        self._public = dict(public_keys)
        self._apiv3_key = apiv3_key
        self._store = store
        self._download = download
        self._trust_chain = list(trust_chain)
        self._clock = clock
        self._monotonic = monotonic
        self._prefix = f"wechat:{mchid}:"
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._certs: dict[str, PlatformCertificate] = {}
        self._last_unknown_refresh: float | None = None

    # -- what requests carry ------------------------------------------------------------

    @property
    def uses_certificates(self) -> bool:
        return self.mode in ("platform_cert", "cert_and_public_key")

    def request_serial(self) -> str:
        """The ``Wechatpay-Serial`` every request carries: the public key's id in public-key
        and switching modes (WeChat Pay then signs its answer with that key), else ''."""
        return next(iter(self._public), "") if self._public else ""

    def public_key_ids(self) -> list[str]:
        return list(self._public)

    def encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        """(serial, key) to encrypt a sensitive field with: the public key when there is one,
        else the platform certificate that expires last. ChannelError when none is held."""
        if self._public:
            serial = next(iter(self._public))
            return serial, self._public[serial]
        valid = self.certificates()
        if not valid:
            self._load_stored()
            valid = self.certificates()
        if not valid:
            self.refresh()
            valid = self.certificates()
        newest = max(valid, key=lambda c: c.not_after)
        return newest.serial, newest.public_key

    # -- verification ---------------------------------------------------------------------

    def key_for(self, serial: str) -> rsa.RSAPublicKey:
        """The key a message whose ``Wechatpay-Serial`` is ``serial`` must verify with.

        Raises SignatureError (saying why) for a serial that names no key we hold, after one
        download in certificate modes; or a certificate that is not valid now.
        """
        if serial.startswith(PUBLIC_KEY_PREFIX):
            key = self._public.get(serial)
            if key is None:
                raise crypto.SignatureError(
                    f"unknown public key serial {serial!r}"
                    " (not a configured WeChat Pay public key id)"
                    + ("" if self._public else " (no public key is configured)")
                )
            return key
        if not self.uses_certificates:
            raise crypto.SignatureError(
                f"Wechatpay-Serial {serial!r} names a platform certificate, but only the"
                " WeChat Pay public key is configured"
            )
        cert = self._lookup(serial)
        if cert is None:
            self._load_stored()
            cert = self._lookup(serial)
        if cert is None:
            with self._refresh_lock:  # one download at a time; a waiter finds its result
                cert = self._lookup(serial)
                if cert is None and self._may_refresh_for_unknown():
                    try:
                        self.refresh()
                    except ChannelError:
                        pass
                    cert = self._lookup(serial)
        if cert is None:
            raise crypto.SignatureError(f"unknown platform certificate serial {serial!r}")
        if not cert.valid_at(self._clock()):
            raise crypto.SignatureError(
                f"platform certificate {serial!r} is not valid now (valid until"
                f" {time.strftime('%Y-%m-%d %H:%M', time.gmtime(cert.not_after))} UTC)"
            )
        return cert.public_key

    def certificates(self) -> list[PlatformCertificate]:
        """The platform certificates held, valid now."""
        now = self._clock()
        with self._lock:
            return [c for c in self._certs.values() if c.valid_at(now)]

    def _lookup(self, serial: str) -> PlatformCertificate | None:
        with self._lock:
            return self._certs.get(serial_key(serial))

    def _trusted(self, serial: str) -> rsa.RSAPublicKey | None:
        """A key already trusted, for the download's own signature (no download from here)."""
        if serial.startswith(PUBLIC_KEY_PREFIX):
            return self._public.get(serial)
        cert = self._lookup(serial)
        return cert.public_key if cert is not None and cert.valid_at(self._clock()) else None

    def _may_refresh_for_unknown(self) -> bool:
        now = self._monotonic()
        with self._lock:
            last = self._last_unknown_refresh
            if last is not None and now - last < UNKNOWN_SERIAL_GAP_S:
                return False
            self._last_unknown_refresh = now
        return self._store.claim(self._prefix + "unknown-serial-refresh", UNKNOWN_SERIAL_GAP_S)

    # -- download, store, rotation ------------------------------------------------------------

    def refresh(self) -> list[PlatformCertificate]:
        """Download, check, keep and use the certificate list; the certificates now held.

        ChannelError when the download fails or does not check out: what was held stays.
        """
        try:
            answer = self._download()
        except ChannelError:
            self._store.put(self._prefix + "refresh-failed", b"1", RETRY_AFTER_FAILURE_S)
            raise
        try:
            certs = self._open(answer, check_freshness=True)
        except ChannelError:
            self._store.put(self._prefix + "refresh-failed", b"1", RETRY_AFTER_FAILURE_S)
            raise
        kept = {
            "headers": {
                name: crypto.header(answer.headers, name)
                for name in _SIGNED_HEADERS
                if crypto.header(answer.headers, name)
            },
            "body": answer.body.decode("utf-8"),
            "downloaded_at": self._clock(),
        }
        self._store.put(self._prefix + "certificates", json.dumps(kept).encode("utf-8"))
        self._adopt(certs)
        return certs

    def _open(self, answer: Download, *, check_freshness: bool) -> list[PlatformCertificate]:
        if answer.status != 200:
            data = _json(answer.body)
            code = data.get("code") or f"HTTP_{answer.status}"
            raise ChannelError(
                f"GET /v3/certificates answered {answer.status} {code}: {data.get('message', '')}"
            )
        try:
            return open_certificate_list(
                answer.headers,
                answer.body,
                apiv3_key=self._apiv3_key,
                trusted=self._trusted,
                trust_chain=self._trust_chain,
                now=self._clock(),
                check_freshness=check_freshness,
            )
        except crypto.SignatureError as exc:
            raise ChannelError(f"the certificate download does not check out: {exc}") from exc

    def _adopt(self, certs: Sequence[PlatformCertificate]) -> None:
        with self._lock:
            self._certs = {serial_key(c.serial): c for c in certs}

    def _stored(self) -> dict[str, Any] | None:
        raw = self._store.get(self._prefix + "certificates")
        if raw is None:
            return None
        data = _json(raw)
        return data if isinstance(data.get("body"), str) else None

    def _load_stored(self) -> bool:
        """Use the list another process downloaded, re-checked here; False if none holds."""
        stored = self._stored()
        if stored is None:
            return False
        headers = stored.get("headers")
        answer = Download(
            200,
            {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
            str(stored["body"]).encode("utf-8"),
        )
        try:
            certs = self._open(answer, check_freshness=False)
        except ChannelError:
            return False
        self._adopt(certs)
        return True

    def refresh_due(self) -> bool:
        """Whether the scheduled download should run: certificate modes only, when nothing is
        stored or the stored list is older than REFRESH_EVERY_S, and not just after a failure."""
        if not self.uses_certificates:
            return False
        if self._store.get(self._prefix + "refresh-failed") is not None:
            return False
        stored = self._stored()
        if stored is None:
            return True
        at = stored.get("downloaded_at")
        return not isinstance(at, (int, float)) or self._clock() - at >= REFRESH_EVERY_S


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
