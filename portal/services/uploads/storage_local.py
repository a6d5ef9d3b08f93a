"""Evidence in a local folder (``EVIDENCE_DIR``, default ``instance/evidence``): the default store.

Files are written to a temporary name in the same folder and renamed into place, so a file
under its own name is always whole. The folder lies outside the static folder; the portal
serves its files itself, to the parties of the case only.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

from portal.services import context
from portal.services.uploads.storage import CHUNK_BYTES, NotStored, Opened, checked_name


def evidence_dir() -> Path:
    """The configured evidence folder (made if missing)."""
    path = Path(context.setting("EVIDENCE_DIR", None) or context.instance_path() / "evidence")
    path.mkdir(parents=True, exist_ok=True)
    return path


class LocalStore:
    """Evidence files in one folder, each under its own name."""

    kind = "local"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def from_settings(cls) -> LocalStore:
        return cls(evidence_dir())

    def path(self, name: str) -> Path:
        """The file's path (the name checked first)."""
        return self.folder / checked_name(name)

    def put(self, name: str, data: bytes, content_type: str) -> None:
        final = self.path(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        temp = self.folder / f".part-{secrets.token_hex(8)}"
        try:
            with open(temp, "xb") as fh:
                fh.write(data)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def open(self, name: str) -> Opened:
        try:
            fh = open(self.path(name), "rb")  # closed by the reader (Opened.release)
        except FileNotFoundError:
            raise NotStored(name) from None
        size = os.fstat(fh.fileno()).st_size
        return Opened(size, iter(lambda: fh.read(CHUNK_BYTES), b""), fh.close)

    def size(self, name: str) -> int | None:
        try:
            return self.path(name).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def is_empty(self) -> bool:
        if not self.folder.is_dir():
            return True
        return not any(not entry.name.startswith(".") for entry in os.scandir(self.folder))

    def check(self) -> bool:
        """A file can be created in the folder (then it is removed)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".readyz-")
            try:
                os.write(handle, b"ok")
            finally:
                os.close(handle)
                os.unlink(temp)
        except OSError:
            return False
        return True

    def signed_url(
        self, name: str, expires: timedelta, download_name: str, content_type: str, inline: bool
    ) -> str | None:
        return None  # the portal serves local files itself
