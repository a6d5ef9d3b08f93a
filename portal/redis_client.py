"""Redis clients for the portal: told the library's version up front.

For every new connection redis-py announces itself to the server (``CLIENT SETINFO``) and,
unless given the version, looks it up in the installed packages' metadata each time. A
forked work-horse opens a new connection for its first command, so that lookup ran once per
job: 2.7 ms of CPU and 400 page faults in a work-horse on a two-core machine, more than the
rest of a no-op job's own Python.
"""

from __future__ import annotations

import redis
from redis import Redis


def redis_client(url: str) -> Redis:
    """A client for ``url`` whose connections announce the version without looking it up."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py before 7: the (since deprecated) keyword does the same
        return Redis.from_url(url, lib_version=redis.__version__)
    return Redis.from_url(url, driver_info=DriverInfo(lib_version=redis.__version__))
