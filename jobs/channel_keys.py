"""Channel key rotation: download the gateways' verification keys before they are needed.

A channel that is a ``KeyRefresher`` (WeChat Pay in platform-certificate mode) keeps the
gateway's current keys in the shared store. The periodic sweep asks each one every minute
whether a refresh is due (a store read, no gateway call) and enqueues
``refresh_keys(channel_id)`` for it, at most one waiting copy per channel. The job carries the
channel's id only, asks again whether the refresh is still due (a second copy finds it done)
and never fails the queue: a failed download is logged and retried after a pause, while the
keys held so far stay in use.
"""

from __future__ import annotations

import logging

from jobs.runtime import with_app
from portal.infra.queue import enqueue_once, release_once
from portal.plugins.channels import ChannelError, KeyRefresher
from portal.plugins.startup import channels

#: how long a waiting refresh blocks the next sweep from enqueuing another (seconds)
WAITING_S = 300
log = logging.getLogger(__name__)


def _once_key(channel_id: str) -> str:
    return f"refresh-keys-{channel_id}"


def sweep_channel_keys() -> int:
    """Enqueue a key refresh for every channel whose refresh is due; returns how many."""
    count = 0
    for channel in channels().all():
        if not isinstance(channel, KeyRefresher):
            continue
        try:
            due = channel.refresh_due()
        except Exception:  # a channel's store read must not stop the sweep
            log.exception("channel %s: cannot tell whether its keys need a refresh", channel.id)
            continue
        if due and enqueue_once(
            _once_key(channel.id), WAITING_S, "jobs.channel_keys.refresh_keys", channel.id
        ):
            count += 1
    return count


@with_app
def refresh_keys(channel_id: str) -> str:
    """Download and keep channel ``channel_id``'s keys if that is still due; what happened."""
    release_once(_once_key(channel_id))
    try:
        channel = channels().get(channel_id)
    except ChannelError:
        return f"{channel_id}: no such channel loaded"
    if not isinstance(channel, KeyRefresher):
        return f"{channel_id}: keeps no downloaded keys"
    if not channel.refresh_due():
        return f"{channel_id}: keys are fresh"
    try:
        outcome = channel.refresh_keys()
    except ChannelError as exc:
        log.warning("channel %s: key refresh failed, keeping the keys held: %s", channel_id, exc)
        return f"{channel_id}: failed: {exc}"
    log.info("channel %s: %s", channel_id, outcome)
    return f"{channel_id}: {outcome}"
