"""The one way a redirect target taken from a request becomes a Location: same-site paths only.

A browser reading a Location drops tabs and newlines anywhere, strips leading and trailing
control characters and spaces, and reads ``\\`` as ``/``; so ``/\\t/evil.example/`` arrives as
``//evil.example/``, another site. Rather than repeat that normalisation (and miss a case),
anything it might change is refused: control and format characters, spaces of any script and
backslashes, also after one round of percent-decoding. What is left must be a path starting with a
single ``/`` with no scheme and no host. Anything else gives the caller's safe default.
``tests/test_redirects.py`` fails when a view redirects to request data without this helper.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

#: longest target kept (a longer one is not a link this site made)
MAX_TARGET = 2048


#: control, format, line and paragraph separator and space characters (any script)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})


def _browser_would_rewrite(value: str) -> bool:
    return any(ch == "\\" or unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value)


def same_site_path(raw: object) -> str | None:
    """``raw`` if it is a path on this site that no browser reads as another site, else None."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TARGET:
        return None
    decoded = unquote(raw)
    if _browser_would_rewrite(raw) or _browser_would_rewrite(decoded):
        return None
    for candidate in (raw, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return None
        try:
            parts = urlsplit(candidate)
        except ValueError:
            return None
        if parts.scheme or parts.netloc:
            return None
    return raw


def safe_target(raw: object, default: str) -> str:
    """Where to send the browser: ``raw`` when it is a same-site path, else ``default``."""
    return same_site_path(raw) or default
