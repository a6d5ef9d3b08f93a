"""Notes and events in the reader's language: a stored code with parameters in, words out.

What the system wrote (``portal.domain.notes``) is worded here, when it is read; what a
person wrote is shown as written (marked not to be translated); what a gateway said is for
staff only, labelled as the gateway's; an older row's sentence that maps to no code is
shown as written, labelled as an older record's text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup

from portal.domain import legacy_notes, notes
from portal.domain.money import format_yuan
from portal.domain.states import State
from portal.infra.i18n import gettext, ngettext
from portal.models import Event
from portal.plugins.words import Words, reader_language

#: the role an event's actor has when the system wrote it
SYSTEM_ROLE = "system"


def duration_words(minutes: int) -> str:
    """A duration in natural units: 5 分钟, 24 小时, 1 小时 30 分钟, 3 天 (whole days past 48 h)."""
    if minutes < 60:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes)
    hours, rest = divmod(minutes, 60)
    if rest == 0 and hours > 48 and hours % 24 == 0:
        return ngettext("%(num)d day", "%(num)d days", hours // 24)
    text = ngettext("%(num)d hour", "%(num)d hours", hours)
    if rest:
        text = gettext("%(hours)s %(minutes)s", hours=text, minutes=duration_words(rest))
    return text


def time_left_words(minutes: int) -> str:
    """Time left before a deadline, as precise as it matters: 45 分钟, 30 小时, 4 天 7 小时."""
    minutes = max(minutes, 0)
    if minutes < 60:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes)
    hours = minutes // 60
    if hours < 48:
        return ngettext("%(num)d hour", "%(num)d hours", hours)
    days, hours = divmod(hours, 24)
    text = ngettext("%(num)d day", "%(num)d days", days)
    if hours:
        text = gettext(
            "%(days)s %(hours)s",
            days=text,
            hours=ngettext("%(num)d hour", "%(num)d hours", hours),
        )
    return text


def _param(name: str, value: Any) -> Any:
    from portal.web import local_time  # cycle: portal.web -> .note_words -> portal.web

    if name.endswith("_at") and isinstance(value, str) and value:
        try:
            return local_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    if name.endswith("_fen") and isinstance(value, int):
        return format_yuan(value)
    if name.endswith("_minutes") and isinstance(value, int):
        return duration_words(value)
    return value


def note_text(value: Any) -> str | None:
    """A stored note (a code with parameters, or a plugin's Words) in the reader's language;
    None when ``value`` holds neither."""
    note = notes.stored(value)
    if note is not None:
        text = gettext(notes.NOTES[note.code])
        params = {k: _param(k, v) for k, v in note.params.items()}
        if "words_zh" in note.params:  # a plugin's own reason (risk_plugin): both languages
            zh, en = str(note.params["words_zh"]), str(note.params.get("words_en", ""))
            params["words"] = Words(zh=zh, en=en or zh).pick(reader_language())
        return text % params if params else text
    words = notes.words_json(value)
    if words is not None:
        return Words(**words).pick(reader_language())
    return None


def _gateway_event(e: Event) -> bool:
    """Whether an event's system-written reason came from a payment channel's answer."""
    return e.kind.startswith("payout_") or (
        e.kind == "transition" and e.to_state == State.PAYOUT_FAILED
    )


def event_note(e: Event) -> str | Markup | None:
    """What the system said with an event, in the reader's language, or None."""
    text = note_text((e.data or {}).get("note"))
    if text is not None:
        return text
    if not e.reason or _gateway_event(e):
        return None  # no words, or a gateway's (staff only)
    old = legacy_notes.recognise(e.reason)  # an older row's sentence ("offer #2 accepted")
    if old is not None:
        return note_text(old.to_json())
    if e.actor_role != SYSTEM_ROLE:
        return None  # a person's words: see person_words
    return Markup('{} <bdi translate="no">{}</bdi>').format(
        gettext("Older record, as written:"), e.reason
    )


def person_words(e: Event) -> str | None:
    """What a person wrote with an event (shown as written), or None."""
    if e.reason and e.actor_role != SYSTEM_ROLE and legacy_notes.recognise(e.reason) is None:
        return e.reason
    return None


def gateway_text(e: Event) -> str | None:
    """The gateway's own words about an event (staff only), or None."""
    said = (e.data or {}).get("gateway_message")
    if isinstance(said, str) and said:
        return said
    if e.reason and e.actor_role == SYSTEM_ROLE and _gateway_event(e):
        if legacy_notes.recognise(e.reason) is None:
            return e.reason  # an older row kept the gateway's words as its reason
    return None


def decision_text(decision_msg: Any, decision_note: str) -> str | Markup | None:
    """A case's decision note: the system's note worded, or the decider's own words."""
    text = note_text(decision_msg)
    if text is not None:
        return text
    if not decision_note:
        return None
    old = legacy_notes.recognise(decision_note)
    if old is not None:
        return note_text(old.to_json())
    return Markup('<bdi translate="no">{}</bdi>').format(decision_note)
