"""Small helpers to write ISO 20022 XML deterministically and to read untrusted XML safely.

Writing uses the standard library's ElementTree with the default namespace set as a plain
``xmlns`` attribute on the root, so the output depends on nothing but the input.
Reading goes through defusedxml with DTDs forbidden outright: no entity of any kind
(internal, external, parameter) is ever expanded and nothing is fetched.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class XmlInputError(ValueError):
    """Input that is not well-formed XML, or that tries a DTD/entity trick."""


def new_document(namespace: str) -> ET.Element:
    """A ``<Document xmlns="namespace">`` root element."""
    return ET.Element("Document", {"xmlns": namespace})


def add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """Append a child element with optional text and attributes; return it."""
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def serialize(root: ET.Element) -> bytes:
    """UTF-8 bytes with an XML declaration, indented two spaces, newline-terminated."""
    ET.indent(root, space="  ")
    return XML_DECLARATION + ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n"


def parse_untrusted(data: bytes) -> ET.Element:
    """Parse XML from outside (a bank file); XmlInputError if malformed or hostile."""
    if not isinstance(data, bytes | bytearray):
        raise XmlInputError("expected the file's bytes")
    if not data.strip():
        raise XmlInputError("the file is empty")
    try:
        return SafeET.fromstring(
            bytes(data), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise XmlInputError(f"refused: the file declares a DTD or entities ({exc})") from None
    except ET.ParseError as exc:
        raise XmlInputError(f"not well-formed XML: {exc}") from None


def split_tag(tag: str) -> tuple[str, str]:
    """("namespace", "local") of an ElementTree tag like "{urn:x}Document"."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


class Finder:
    """Namespaced path lookups below one element: ``Finder(ns).text(el, "A/B")``."""

    def __init__(self, namespace: str) -> None:
        self.ns = {"d": namespace}

    @staticmethod
    def _path(path: str) -> str:
        return "/".join(f"d:{part}" for part in path.split("/"))

    def find(self, el: ET.Element, path: str) -> ET.Element | None:
        """The first element at ``path`` (slash-separated local names), or None."""
        return el.find(self._path(path), self.ns)

    def findall(self, el: ET.Element, path: str) -> list[ET.Element]:
        """Every element at ``path``."""
        return el.findall(self._path(path), self.ns)

    def text(self, el: ET.Element, path: str) -> str:
        """Stripped text at ``path``; "" when absent."""
        found = self.find(el, path)
        return (found.text or "").strip() if found is not None else ""
