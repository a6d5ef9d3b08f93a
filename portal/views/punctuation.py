"""Punctuation around words the templates put together, in the reader's language: full-width
in Chinese (「退款：」「（可选）」「甲、乙」), half-width with spaces in English."""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup

from portal.plugins.words import reader_language


def _chinese() -> bool:
    return not reader_language().lower().startswith("en")


def colon() -> str:
    """The colon after a label: "：" in Chinese, ": " in English."""
    return "：" if _chinese() else ": "


def paren(text: object) -> Markup:
    """``text`` in brackets: "（text）" in Chinese, " (text)" in English (``text`` escaped
    unless it is markup already)."""
    if _chinese():
        return Markup("（{}）").format(text)
    return Markup(" ({})").format(text)


def series(items: Iterable[object]) -> str:
    """Items one after another: "甲、乙、丙" in Chinese, "a, b, c" in English."""
    return ("、" if _chinese() else ", ").join(str(item) for item in items)
