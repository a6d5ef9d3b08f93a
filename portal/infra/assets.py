"""What goes over the wire: compressed responses and content-hashed, immutable static files.

Pages are compressed by Flask-Compress (brotli where the client accepts it, else gzip).
Static files are few and small: each is read once, hashed, and compressed ahead of time
(brotli 11, gzip 9). ``url_for('static', filename='portal.css')`` gives
``/static/portal.<hash>.css``, served with a year-long immutable cache, so a repeat visit
downloads only the HTML. The plain name still works, revalidated on every use.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import brotli
from flask import Flask, Response, abort, current_app, request
from flask.typing import ResponseReturnValue
from flask_compress import Compress

HASH_LEN = 10
YEAR = 365 * 24 * 3600
RECHECK_SECONDS = 1.0  # how stale a page's link to a changed static file may be
_HASHED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{10})(?P<ext>\.[A-Za-z0-9]+)$")  # HASH_LEN
_COMPRESSIBLE = {"text/css", "text/javascript", "application/javascript", "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, content hash and precompressed forms."""

    data: bytes
    digest: str
    mimetype: str
    mtime_ns: int
    br: bytes | None
    gz: bytes | None


class AssetStore:
    """Static files by name, reloaded when a file changes on disk (development)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self._assets: dict[str, Asset] = {}
        self._lock = threading.Lock()
        # hashed names as last looked up, with when: a page links a file without touching
        # the disk, a changed file is seen within ``RECHECK_SECONDS``
        self._names: dict[str, tuple[float, str]] = {}

    def get(self, name: str) -> Asset | None:
        """The asset for a plain file name (no hash), or None."""
        path = (self.folder / name).resolve()
        if self.folder.resolve() not in path.parents or not path.is_file():
            return None
        mtime = path.stat().st_mtime_ns
        asset = self._assets.get(name)
        if asset is None or asset.mtime_ns != mtime:
            asset = _load(path, mtime)
            with self._lock:
                self._assets[name] = asset
        return asset

    def hashed_name(self, name: str) -> str:
        """``portal.css`` -> ``portal.<hash>.css`` (unchanged if the file is unknown); the
        file is looked at again at most every ``RECHECK_SECONDS``."""
        now = time.monotonic()
        known = self._names.get(name)
        if known is not None and now - known[0] < RECHECK_SECONDS:
            return known[1]
        asset = self.get(name)
        if asset is None:
            hashed = name
        else:
            stem, dot, ext = name.rpartition(".")
            hashed = f"{stem}.{asset.digest}.{ext}" if dot else f"{name}.{asset.digest}"
        self._names[name] = (now, hashed)
        return hashed


def _load(path: Path, mtime: int) -> Asset:
    data = path.read_bytes()
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    squeeze = mimetype in _COMPRESSIBLE and len(data) > 256
    return Asset(
        data=data,
        digest=hashlib.sha256(data).hexdigest()[:HASH_LEN],
        mimetype=mimetype,
        mtime_ns=mtime,
        br=brotli.compress(data, quality=11) if squeeze else None,
        gz=gzip.compress(data, compresslevel=9, mtime=0) if squeeze else None,
    )


def serve_static(filename: str) -> ResponseReturnValue:
    """The static view: hashed names are immutable for a year; plain names revalidate."""
    store: AssetStore = current_app.extensions["portal.infra.assets"]
    match = _HASHED.match(filename)
    immutable = False
    if match:
        plain = match["stem"] + match["ext"]
        asset = store.get(plain)
        immutable = asset is not None and asset.digest == match["hash"]
    else:
        asset = store.get(filename)
    if asset is None:
        abort(404)
    body, encoding = _encoded(asset)
    resp = Response(body, mimetype=asset.mimetype)
    if encoding:
        resp.headers["Content-Encoding"] = encoding
    resp.vary.add("Accept-Encoding")
    resp.set_etag(f"{asset.digest}-{encoding or 'identity'}")
    resp.headers["Cache-Control"] = (
        f"public, max-age={YEAR}, immutable" if immutable else "public, no-cache"
    )
    return resp.make_conditional(request)


def _encoded(asset: Asset) -> tuple[bytes, str | None]:
    accepted = request.accept_encodings
    if asset.br is not None and accepted["br"]:
        return asset.br, "br"
    if asset.gz is not None and accepted["gzip"]:
        return asset.gz, "gzip"
    return asset.data, None


def install_assets(app: Flask) -> None:
    """Compress responses; serve static files under content-hashed names."""
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_BR_LEVEL", 5)
    app.config.setdefault("COMPRESS_STREAMS", False)
    Compress(app)
    store = AssetStore(app.static_folder or "static")
    app.extensions["portal.infra.assets"] = store
    app.view_functions["static"] = serve_static

    @app.url_defaults
    def _hashed_static(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values:
            values["filename"] = store.hashed_name(values["filename"])
