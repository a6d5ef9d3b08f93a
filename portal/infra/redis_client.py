"""Redis clients for the portal: bounded in time, and told the library's version up front.

Every client the portal makes (the failure throttles, the API and notification replay
guards, the job queue) comes from
``redis_client``, so that:

* a Redis that accepts connections but never answers (a paused or overloaded server, a
  half-open connection, a black-holing network) costs a web request at most
  ``connect_timeout`` to connect and ``socket_timeout`` per reply, then raises
  ``redis.exceptions.TimeoutError``; the web layer answers 503 with ``Retry-After``
  (``portal/web.py``). redis-py's own defaults are 5 s per reply and, in recent versions, up
  to 10 retries with back-off, so one command could hold a worker for about a minute;
* a timed-out command is never retried (the server that did not answer now will not answer
  sooner), and a dropped connection is retried once, at once (a pooled connection that a
  restarted server closed), with no back-off sleep in a web worker;
* for every new connection redis-py announces itself (``CLIENT SETINFO``) and, unless given
  the version, looks it up in the installed packages' metadata each time. A forked
  work-horse opens a new connection for its first command, so that lookup would run once per
  job (what it costs: ``python -m bench redis_connect``, figures in ``docs/performance.md``).

An RQ worker raises the reply timeout of its own connection above its blocking dequeue wait
(RQ does that itself); web processes keep the short one.
"""

from __future__ import annotations

from typing import Any

import redis
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

#: seconds to wait for a reply (PORTAL_REDIS_SOCKET_TIMEOUT); a healthy Redis answers in
#: well under a millisecond, a busy one (a fork for a snapshot) in tens of milliseconds
SOCKET_TIMEOUT = 2.0
#: seconds to wait for a connection (PORTAL_REDIS_CONNECT_TIMEOUT)
CONNECT_TIMEOUT = 2.0


def timeouts(config: Any) -> dict[str, float]:
    """The timeout options for a client, from an app's configuration (or the defaults)."""
    return {
        "socket_timeout": float(config.get("REDIS_SOCKET_TIMEOUT") or SOCKET_TIMEOUT),
        "socket_connect_timeout": float(config.get("REDIS_CONNECT_TIMEOUT") or CONNECT_TIMEOUT),
    }


def redis_client(
    url: str,
    socket_timeout: float = SOCKET_TIMEOUT,
    socket_connect_timeout: float = CONNECT_TIMEOUT,
) -> Redis:
    """A client for ``url`` bounded in time (see the module's text), whose connections
    announce the library's version without looking it up."""
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_connect_timeout,
        # one immediate retry on a dropped connection; none on a timeout
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    }
    # redis-py after the bound in pyproject.toml takes this as `driver_info` (and warns)
    return Redis.from_url(url, lib_version=redis.__version__, **options)
