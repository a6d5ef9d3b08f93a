"""The built-in notifier: writes each notice to the log (for development; real SMS or push
notifiers are plugins implementing ``send_notice``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from portal.plugins.hookspecs import hookimpl

log = logging.getLogger("portal.notices")


class LogNotifier:
    """Logs every notice it is given."""

    @hookimpl
    def send_notice(self, notice: Mapping[str, Any]) -> None:
        log.info("notice %s to %s: %s", notice["id"], notice["audience"], notice["text"])
