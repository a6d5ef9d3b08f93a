"""The audit trail's hash chains and seals, as pure rules: which chain an event joins, the
canonical bytes of an event, a link's hash, and the signed payload of a day's seal.

Every event joins one chain: its case's, else its order's, else the platform's own. A link's
hash covers the previous link's hash and the event's canonical content (its chain and place in
it included), so editing, deleting, inserting or reordering a row breaks the chain at that row.
A seal names every chain head that moved since the seal before it and that seal's hash; its
payload is signed (Ed25519), so a history rewritten after a seal no longer matches it.

Erasing personal data blanks fields of earlier events (their stored hash stays, so the links
after them still fit); the erasure receipt appended to the same chain names each blanked
event's place, its hash and the link hash of its content as blanked (``erased_link``). Verify
accepts an event whose content no longer matches its hash only when a later, intact receipt in
its chain names it with exactly that hash and that blanked content; any other change to it is
still a change.

Changing anything here changes every hash: ``VERSION`` names the rules a hash was made under.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

VERSION = 1
#: the "previous hash" of a chain's first link and of the first seal
GENESIS = "0" * 64
PLATFORM_CHAIN = "platform"
#: the event kind of a case file downloaded (who, as which party)
CASE_FILE_DOWNLOADED = "case_file_downloaded"
#: the event kind of an erasure receipt: personal data blanked in earlier events of its chain
ERASED = "personal_data_erased"
#: the event columns a link's hash covers, in this order (``id`` is not one: a row's place is
#: chain + seq); ``data`` and ``created_at`` last
CONTENT_FIELDS = (
    "chain",
    "chain_seq",
    "kind",
    "case_id",
    "order_id",
    "payout_id",
    "actor_role",
    "actor_id",
    "actor_label",
    "from_state",
    "to_state",
    "reason",
    "data",
    "created_at",
)


def chain_key(case_id: int | None, order_id: int | None) -> str:
    """The chain an event joins: its case's, else its order's, else the platform's."""
    if case_id is not None:
        return f"case:{case_id}"
    if order_id is not None:
        return f"order:{order_id}"
    return PLATFORM_CHAIN


def case_chain(case_id: int) -> str:
    """The chain of one case's events."""
    return chain_key(case_id, None)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


#: the types JSON gives back as they are (``bool`` before ``int``: exact types only)
_PLAIN = (str, int, bool, type(None))


def _flat(data: Mapping[str, Any]) -> bool:
    """Keys all strings, values all plain (no float, list, nested mapping or subclass)."""
    return all(type(k) is str for k in data) and all(type(v) in _PLAIN for v in data.values())


def normal_data(data: Mapping[str, Any] | None) -> Any:
    """``data`` as it reads back from a JSON column (tuples as lists, keys as strings)."""
    if not data:
        return {}
    if type(data) is dict and _flat(data):  # reads back as it is, keys sorted
        return {k: data[k] for k in sorted(data)}
    return json.loads(_json(data))


def canonical_time(value: datetime | str) -> str:
    """A timestamp as the hash covers it: UTC, ISO 8601, microseconds."""
    if isinstance(value, str):  # a raw SQLite value read without the column type
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes of an event a link's hash covers: a JSON array of the ``VERSION`` and the
    ``CONTENT_FIELDS`` in their order (the time as ``canonical_time``); ``data`` as a JSON
    column gives it back (``normal_data``), its keys sorted."""
    values: list[Any] = [VERSION]
    values.extend(event.get(name) for name in CONTENT_FIELDS[:-2])
    values.append(event.get("data") or {})
    values.append(canonical_time(event["created_at"]))
    return _json(values).encode()


def link_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    """The hash of one link: the previous link's hash and this event's canonical content."""
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(b"\n")
    digest.update(canonical(event))
    return digest.hexdigest()


#: the content fields in which the events of one batch differ (a sweep's page: one kind, actor,
#: note and time, a case each); ``Linker`` encodes the others once
PER_EVENT = ("chain", "chain_seq", "case_id", "order_id", "payout_id")
#: the JSON string encoder ``json.dumps(..., ensure_ascii=False)`` uses (in C)
_encode_str = json.encoder.encode_basestring


def _json_value(value: Any) -> str:
    """``_json(value)``, quicker for the values a ``PER_EVENT`` field holds."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return _encode_str(value)
    return _json(value)  # anything else (a bool, a str or int subclass) as ``canonical`` does


class Linker:
    """``link_hash`` for events that share every content field but the ``PER_EVENT`` ones:
    the shared fields (the kind, actor, states, reason, data and time) are encoded once, each
    event's hash then costs its few own values and the digest. The bytes hashed are exactly
    ``canonical``'s (``tests/test_audit_chain.py`` compares them)."""

    __slots__ = ("_kind", "_tail")

    def __init__(self, shared: Mapping[str, Any]) -> None:
        assert CONTENT_FIELDS[:6] == ("chain", "chain_seq", "kind", *PER_EVENT[2:])
        rest: list[Any] = [shared.get(name) for name in CONTENT_FIELDS[6:-2]]
        rest.append(shared.get("data") or {})
        rest.append(canonical_time(shared["created_at"]))
        self._kind = _json(shared.get("kind"))
        self._tail = _json(rest)[1:]  # the rest of the array, its closing bracket included

    def canonical(self, chain: str, seq: int, case_id: Any, order_id: Any, payout_id: Any) -> bytes:
        """``canonical`` of the event with these ``PER_EVENT`` values and the shared rest."""
        v = _json_value
        return (
            f"[{VERSION},{v(chain)},{v(seq)},{self._kind},{v(case_id)},{v(order_id)},"
            f"{v(payout_id)},{self._tail}"
        ).encode()

    def link_hash(
        self, prev_hash: str, chain: str, seq: int, case_id: Any, order_id: Any, payout_id: Any
    ) -> str:
        """``link_hash(prev_hash, event)`` of the event with these ``PER_EVENT`` values."""
        digest = hashlib.sha256(prev_hash.encode())
        digest.update(b"\n")
        digest.update(self.canonical(chain, seq, case_id, order_id, payout_id))
        return digest.hexdigest()


def heads_digest(heads: Iterable[tuple[str, int, str]]) -> str:
    """One hash over chain heads ``(chain, seq, hash)``, whatever order they come in."""
    digest = hashlib.sha256()
    for chain, seq, head in sorted(heads):
        digest.update(f"{chain} {seq} {head}\n".encode())
    return digest.hexdigest()


def seal_payload(
    *, seal_no: int, day: str, sealed_at: datetime, prev_hash: str, digest: str, count: int
) -> bytes:
    """The bytes a seal signs: its number, day, time, the previous seal and its heads."""
    return _json(
        {
            "v": VERSION,
            "seal_no": seal_no,
            "day": day,
            "sealed_at": canonical_time(sealed_at),
            "prev": prev_hash,
            "heads_digest": digest,
            "heads": count,
        }
    ).encode()


def seal_hash(payload: bytes) -> str:
    """A seal's own hash, which the next seal names as its previous."""
    return hashlib.sha256(payload).hexdigest()


def erased_link(seq: int, stored_hash: str, fields: Iterable[str], redacted_hash: str) -> dict:
    """A receipt's entry for one blanked event: its place, the hash it was chained with, the
    fields blanked and ``link_hash`` of its content as blanked."""
    return {"seq": seq, "hash": stored_hash, "fields": sorted(fields), "redacted": redacted_hash}


def receipt_covers(data: Any) -> dict[int, tuple[str, str]]:
    """What a receipt's ``data`` names, per place: (hash chained with, hash as blanked).
    Anything malformed names nothing (it cannot excuse a change)."""
    covered: dict[int, tuple[str, str]] = {}
    entries = data.get("erased_events") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return covered
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        seq, stored, redacted = entry.get("seq"), entry.get("hash"), entry.get("redacted")
        if isinstance(seq, int) and isinstance(stored, str) and isinstance(redacted, str):
            covered[seq] = (stored, redacted)
    return covered
