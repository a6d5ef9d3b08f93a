"""A buyer's contact shown by the minimum: the first three and last four digits of a phone
number (138****0000), the first letter and the domain of an e-mail address (b***@example.com).

Staff and merchant pages show a contact only through ``mask`` (the ``contact`` template
filter); the whole contact only after an explicit, recorded action.
"""

from __future__ import annotations

import re

#: the event kind of a whole contact shown on request (staff's timeline only)
REVEALED = "contact_revealed"
_PHONE_PUNCTUATION = re.compile(r"[\s\-()]")
STARS = "****"


def mask(contact: str | None) -> str:
    """``contact`` with all but what tells it apart hidden; never the whole of it."""
    text = (contact or "").strip()
    if not text:
        return ""
    if "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}" if local else f"***@{domain}"
    digits = _PHONE_PUNCTUATION.sub("", text)
    if digits.startswith("+"):
        digits = digits[1:]
        if digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]  # a mainland number with its country code
    if digits.isdigit() and len(digits) >= 7:
        return f"{digits[:3]}{STARS}{digits[-4:]}"
    if len(text) <= 2:
        return "*" * len(text)
    return f"{text[:1]}{STARS}{text[-1:]}"
