"""What ``/metrics`` reads at scrape time: the queue's depth and the payouts by state and
channel. A source that does not answer is left out of this scrape (and logged), so that a
Redis outage does not also blind the metrics of everything else."""

from __future__ import annotations

import logging
from typing import Any

from portal.infra.queue import queue_states
from portal.services import context
from portal.services.money.payout_lists import counts_by_state_and_channel

log = logging.getLogger(__name__)


def snapshot() -> dict[str, Any]:
    """``queue``: {name, states}; ``payouts``: [(state, channel, count)]; None where unread."""
    result: dict[str, Any] = {"queue": None, "payouts": None}
    try:
        result["queue"] = {"name": context.setting("QUEUE_NAME"), "states": queue_states()}
    except Exception:
        log.warning("metrics: the queue could not be read", exc_info=True)
    try:
        result["payouts"] = counts_by_state_and_channel()
    except Exception:
        log.warning("metrics: the payouts could not be counted", exc_info=True)
    return result
