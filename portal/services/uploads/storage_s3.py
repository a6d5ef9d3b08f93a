"""Evidence in S3-compatible object storage, through the ``minio`` client (the ``s3`` extra).

One object per file, under ``EVIDENCE_S3_PREFIX`` + the portal's own name for it. Every
request is bounded (``EVIDENCE_S3_TIMEOUT`` to connect and to read, one retry for a refused
connection or a 5xx), and whatever goes wrong on the way (no answer, refused credentials, a
missing bucket) is ``StorageUnavailable`` to the caller, with the cause in the log.

Signed URLs are S3's own presigned GETs (signature version 4): the signature covers the
bucket, the key, the time of signing, the validity and the response headers asked for, so
changing the key, stretching the validity or using the URL after it lapsed is refused by the
store, not by the portal.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error

from portal.config import evidence_s3_settings
from portal.services import context
from portal.services.uploads.storage import (
    CHUNK_BYTES,
    NotStored,
    Opened,
    StorageUnavailable,
    checked_name,
    content_disposition,
)

log = logging.getLogger(__name__)

#: S3 error codes that mean "no such object" (everything else is the store failing us)
_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound"}
#: what a broken connection or a refusing store raises through the client
_TRANSPORT = (MinioException, urllib3.exceptions.HTTPError, OSError)


class S3Store:
    """Evidence files as objects in one bucket."""

    kind = "s3"

    def __init__(self, settings: dict[str, Any]) -> None:
        timeout = settings["timeout"]
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(
                total=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        )
        self.client = Minio(
            settings["host"],
            access_key=settings["access_key"],
            secret_key=settings["secret_key"],
            secure=settings["secure"],
            region=settings["region"],
            http_client=http,
        )
        self.bucket: str = settings["bucket"]
        self.prefix: str = settings["prefix"]

    @classmethod
    def from_settings(cls) -> S3Store:
        config = {
            key: context.setting(key, None)
            for key in (
                "EVIDENCE_S3_ENDPOINT",
                "EVIDENCE_S3_BUCKET",
                "EVIDENCE_S3_ACCESS_KEY",
                "EVIDENCE_S3_SECRET_KEY",
                "EVIDENCE_S3_REGION",
                "EVIDENCE_S3_PREFIX",
                "EVIDENCE_S3_TIMEOUT",
                "EVIDENCE_SIGNED_URL_SECONDS",
            )
        }
        return cls(evidence_s3_settings(config))

    def key(self, name: str) -> str:
        """The object key of a file name (the name checked first)."""
        return self.prefix + checked_name(name)

    def put(self, name: str, data: bytes, content_type: str) -> None:
        key = self.key(name)
        try:
            self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )
        except _TRANSPORT as exc:
            log.warning("object storage: storing %s failed: %s", key, exc)
            raise StorageUnavailable() from exc

    def open(self, name: str) -> Opened:
        key = self.key(name)
        try:
            response = self.client.get_object(self.bucket, key)
        except _TRANSPORT as exc:
            if _missing(exc):
                raise NotStored(name) from None
            log.warning("object storage: reading %s failed: %s", key, exc)
            raise StorageUnavailable() from exc

        def release() -> None:
            response.close()
            response.release_conn()

        size = int(response.headers.get("Content-Length") or 0)
        return Opened(size, _pieces(response), release)

    def size(self, name: str) -> int | None:
        key = self.key(name)
        try:
            return self.client.stat_object(self.bucket, key).size
        except _TRANSPORT as exc:
            if _missing(exc):
                return None
            log.warning("object storage: looking up %s failed: %s", key, exc)
            raise StorageUnavailable() from exc

    def delete(self, name: str) -> None:
        key = self.key(name)
        try:
            self.client.remove_object(self.bucket, key)
        except _TRANSPORT as exc:
            log.warning("object storage: removing %s failed: %s", key, exc)
            raise StorageUnavailable() from exc

    def is_empty(self) -> bool:
        """No object under the prefix (one listing request, at most one key read)."""
        try:
            objects = self.client.list_objects(self.bucket, prefix=self.prefix, recursive=True)
            return next(iter(objects), None) is None
        except _TRANSPORT as exc:
            log.warning("object storage: listing %s failed: %s", self.bucket, exc)
            raise StorageUnavailable() from exc

    def check(self) -> bool:
        """The bucket answers to our keys (one HEAD request)."""
        try:
            return bool(self.client.bucket_exists(self.bucket))
        except _TRANSPORT:
            log.warning("readiness: object storage does not answer", exc_info=True)
            return False

    def signed_url(
        self,
        name: str,
        expires: timedelta,
        download_name: str,
        content_type: str,
        inline: bool,
        signed_at: datetime | None = None,
    ) -> str | None:
        """A presigned GET of this one object, answering with our headers, valid ``expires``."""
        headers = {
            "response-content-type": content_type,
            "response-content-disposition": content_disposition(download_name, inline),
            "response-cache-control": "private, no-store",
        }
        return self.client.presigned_get_object(
            self.bucket,
            self.key(name),
            expires=expires,
            response_headers=headers,  # type: ignore[arg-type]
            request_date=signed_at or datetime.now(UTC),
        )


def _missing(exc: Exception) -> bool:
    """Whether the store said "no such object" (not "no such bucket", not a failure).

    Some servers answer errors as ``text/xml``, which the client does not parse: for them
    the status (404) and the body's code tell."""
    if isinstance(exc, S3Error):
        return exc.code in _MISSING
    if isinstance(exc, InvalidResponseError):
        body = str(exc)
        return getattr(exc, "_code", None) == 404 and "NoSuchBucket" not in body
    return False


def _pieces(response: Any) -> Iterator[bytes]:
    try:
        yield from response.stream(CHUNK_BYTES)
    except _TRANSPORT as exc:
        log.warning("object storage: a read broke off: %s", exc)
        raise StorageUnavailable() from exc
