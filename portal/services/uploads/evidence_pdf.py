"""Evidence PDFs (chat exports, statements): a readable PDF with pages and nothing active.

PDFs cannot be re-encoded like images, so they are parsed with pypdf and refused if they
are encrypted, have no pages, or carry JavaScript, launch actions or embedded files in any
object. They are only ever served as downloads, with a sandboxing CSP.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from portal.services.errors import DomainError
from portal.services.policy_text import N_

MAX_PAGES = 200
MAX_OBJECTS = 50_000
_ACTIVE_KEYS = {"/JS", "/JavaScript", "/EmbeddedFile", "/EmbeddedFiles", "/RichMedia", "/XFA"}
_ACTIVE_ACTIONS = {"/JavaScript", "/Launch", "/ImportData", "/RichMediaExecute"}

logging.getLogger("pypdf").setLevel(logging.ERROR)


def check(data: bytes, name: str) -> None:
    """DomainError unless ``data`` is a plain PDF with 1..MAX_PAGES pages."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DomainError(
                N_("%(name)s is password-protected. Export it again without a password."),
                rule="pdf_encrypted",
                name=name,
            )
        pages = len(reader.pages)
        active = _has_active_content(reader)
    except DomainError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise _unreadable(name) from exc
    if not 1 <= pages <= MAX_PAGES:
        raise _unreadable(name)
    if active:
        raise DomainError(
            N_(
                "%(name)s contains scripts or attached files, which are not accepted."
                " Print it to a new PDF or send screenshots."
            ),
            rule="pdf_active",
            name=name,
        )


def _unreadable(name: str) -> DomainError:
    return DomainError(
        N_("%(name)s could not be read as a PDF (damaged or incomplete)."),
        rule="unreadable",
        name=name,
    )


def _has_active_content(reader: PdfReader) -> bool:
    """Whether any object in the file is JavaScript, a launch action or an embedded file."""
    ids = {num for num, _gen in _object_ids(reader)}
    if len(ids) > MAX_OBJECTS:
        raise ValueError("too many objects")
    for num in ids:
        try:
            obj = reader.get_object(num)
        except (PyPdfError, ValueError, KeyError):
            continue
        if _active(obj):
            return True
    return _active(reader.trailer.get("/Root", DictionaryObject()).get_object())


def _object_ids(reader: PdfReader) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for gen, table in reader.xref.items():
        found.extend((num, gen) for num in table)
    found.extend((num, 0) for num in reader.xref_objStm)
    return found


def _active(obj: object, depth: int = 0) -> bool:
    """Whether ``obj`` or any object written inside it (not referenced) is active."""
    if depth > 32:
        raise ValueError("nested too deep")
    children: Iterable[object]
    if isinstance(obj, DictionaryObject):
        if _ACTIVE_KEYS & set(obj.keys()) or obj.get("/Type") == "/EmbeddedFile":
            return True
        action = obj.get("/S")
        if isinstance(action, IndirectObject):
            action = action.get_object()
        if isinstance(action, NameObject) and action in _ACTIVE_ACTIONS:
            return True
        children = obj.values()
    elif isinstance(obj, ArrayObject):
        children = obj
    else:
        return False
    return any(
        _active(child, depth + 1) for child in children if not isinstance(child, IndirectObject)
    )
