"""Words a plugin shows people (a channel's name, a setting's label), in each language the portal
speaks, chosen when they are shown: ``Words(zh="支付宝", en="Alipay")``.

A plugin cannot use the portal's message catalogue (its strings are not in it), so it hands
the portal both languages at once; ``str()`` gives the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def reader_language() -> str:
    """The language of whoever the portal is rendering for (Chinese outside a request)."""
    # plugins import this module light: Flask loads when a text is shown
    from portal.infra.i18n import get_locale  # heavy: Flask

    locale = get_locale()
    return locale if locale is not None else DEFAULT_LANGUAGE


def text(value: str | Words) -> str:
    """What to show for a plugin's text, given as Words or (from an older plugin) plain text."""
    return str(value)
