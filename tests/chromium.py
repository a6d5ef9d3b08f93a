"""Debian's Chromium under Playwright, with the flags that work on a closed network.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (apt package ``chromium``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium browser (Playwright ``Browser``); RuntimeError if it cannot start."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise RuntimeError("playwright is not installed (pip install playwright)") from exc
    pw = sync_playwright().start()
    try:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        except Exception as exc:
            raise RuntimeError(f"Chromium did not start: {exc}") from exc
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


def screenshot_path(name: str) -> Path:
    """Where a screenshot artifact goes (test-artifacts/screenshots/, gitignored)."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"
