"""Which characters typed text may hold: the one rule forms, the API and URLs all apply.

Refused everywhere: C0 control characters (U+0000-U+001F), DEL (U+007F), C1 control
characters (U+0080-U+009F) and lone surrogates (U+D800-U+DFFF, which no UTF-8 text can
carry). Text that may span lines (a textarea, a free-text API field) keeps tab, line feed
and carriage return. PostgreSQL cannot store U+0000 in a text column at all; the others
are invisible in a page, reorder or hide what a reviewer reads, or break exports.
"""

from __future__ import annotations

import re

#: the refused ranges, written once (regex syntax that Python and ECMA-262 read alike)
_SINGLE_LINE_CHARS = "\\x00-\\x1f\\x7f-\\x9f"
_MULTI_LINE_CHARS = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"  # keeps tab, LF, CR
_SURROGATES = "\\ud800-\\udfff"  # not in the documented patterns: JSON parsing refuses them

#: patterns a whole value matches (the OpenAPI document publishes these)
SINGLE_LINE_PATTERN = f"^[^{_SINGLE_LINE_CHARS}]*$"
MULTI_LINE_PATTERN = f"^[^{_MULTI_LINE_CHARS}]*$"

_SINGLE_LINE = re.compile(f"[{_SINGLE_LINE_CHARS}{_SURROGATES}]")
_MULTI_LINE = re.compile(f"[{_MULTI_LINE_CHARS}{_SURROGATES}]")


def bad_character(text: str, multiline: bool = False) -> tuple[int, str] | None:
    """(position, "U+XXXX") of the first character ``text`` may not hold, or None."""
    match = (_MULTI_LINE if multiline else _SINGLE_LINE).search(text)
    if match is None:
        return None
    return match.start(), f"U+{ord(match.group()):04X}"
