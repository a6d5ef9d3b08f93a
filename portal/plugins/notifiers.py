"""The built-in notifier: writes each notice to the log (for development; real SMS or push
notifiers are plugins implementing ``send_notice``)."""

from __future__ import annotations

import logging

from portal.plugins.markers import hookimpl
from portal.plugins.notices import NoticeMessage

log = logging.getLogger("portal.notices")


class LogNotifier:
    """Logs every notice it is given."""

    @hookimpl
    def send_notice(self, notice: NoticeMessage) -> None:
        log.info("notice %s to %s: %s", notice.id, notice.audience, notice.text)
