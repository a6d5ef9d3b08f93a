"""Links a page may show, built when its template first reads one."""

from __future__ import annotations

from typing import Any

from flask import url_for


class Links:
    """``Links(offer=("buyer_disputes.offer", {"case_no": no}))``: ``links.offer`` is
    ``url_for("buyer_disputes.offer", case_no=no)``, built the first time it is read. A page
    whose forms show in some states only (a thread's offer and accept forms) builds only the
    links it shows."""

    __slots__ = ("_built", "_targets")

    def __init__(self, **targets: tuple[str, dict[str, Any]]) -> None:
        self._targets = targets
        self._built: dict[str, str] = {}

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        found = self._built.get(name)
        if found is None:
            try:
                endpoint, values = self._targets[name]
            except KeyError:
                raise AttributeError(name) from None
            found = self._built[name] = url_for(endpoint, **values)
        return found
