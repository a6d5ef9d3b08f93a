"""Words a plugin shows people (a channel's name, a setting's label), in each language the portal
speaks, chosen when they are shown: ``Words(zh="支付宝", en="Alipay")``.

A plugin cannot use the portal's message catalogue (its strings are not in it), so it hands
the portal both languages at once; ``str()`` gives the reader's language. For the outcomes
every channel has (waiting for a statement, refused, an account that cannot receive money)
a plugin names the portal's own wording instead: ``Note("awaiting_statement")`` (the codes
are ``OUTCOME_CODES``; see docs/plugins.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.domain.notes import OUTCOME_CODES, Note

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "OUTCOME_CODES", "Note", "Words", "text"]

#: the languages every Words carries (the portal's catalogue languages)
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


@dataclass(frozen=True, slots=True)
class Words:
    """One text in Chinese and in English; ``str()`` picks the one the reader reads."""

    zh: str
    en: str

    def __post_init__(self) -> None:
        if not self.zh.strip() or not self.en.strip():
            raise ValueError("Words needs both a Chinese (zh) and an English (en) text")

    def pick(self, language: str) -> str:
        """The text for ``language`` (a locale such as ``zh_CN`` or ``en``)."""
        return self.en if language.lower().startswith("en") else self.zh

    def __str__(self) -> str:
        return self.pick(reader_language())

    def to_json(self) -> dict[str, str]:
        """Both texts, as stored (e.g. with an event)."""
        return {"zh": self.zh, "en": self.en}


def reader_language() -> str:
    """The language of whoever the portal is rendering for (Chinese outside a request)."""
    # plugins import this module light: Flask loads when a text is shown
    from portal.infra.i18n import get_locale  # heavy: Flask

    locale = get_locale()
    return locale if locale is not None else DEFAULT_LANGUAGE


def text(value: str | Words) -> str:
    """What to show for a plugin's text, given as Words or (from an older plugin) plain text."""
    return str(value)
