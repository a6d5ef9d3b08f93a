"""Redis clients for the portal: told the library's version up front.

For every new connection redis-py announces itself to the server (``CLIENT SETINFO``) and,
unless given the version, looks it up in the installed packages' metadata each time. A
forked work-horse opens a new connection for its first command, so that lookup would run once
per job (what it costs: ``python -m bench redis_connect``, figures in ``docs/performance.md``).
"""

from __future__ import annotations

import redis
from redis import Redis

try:
    from redis.driver_info import DriverInfo
except ImportError:  # redis-py before 7: the (since deprecated) lib_version keyword does the same
    DriverInfo = None  # type: ignore[assignment,misc]


def redis_client(url: str) -> Redis:
    """A client for ``url`` whose connections announce the version without looking it up."""
    if DriverInfo is None:
        return Redis.from_url(url, lib_version=redis.__version__)
    return Redis.from_url(url, driver_info=DriverInfo(lib_version=redis.__version__))
