"""Redis clients for the portal: one factory, bounded in time, through Sentinel where configured.

Every client the portal makes (the job queue and RQ's workers and scheduler, the failure
throttles, the API and notification replay guards, the store channels share keys in, the
singleton locks, ``/readyz``) comes from ``client_from_config``: a client that finds the
current master through Redis Sentinel when ``REDIS_SENTINELS`` is set (with
``REDIS_SENTINEL_SERVICE``, ``REDIS_DB`` and the optional passwords), else one for
``REDIS_URL`` (which may itself be a ``redis+sentinel://`` URL, as the SMS notifiers' daily
caps take through ``client_for_url``); callers use the embedded Redis only when neither is
set. After a failover a command that reaches the demoted master (read-only now, or its
connections closed by Sentinel) is retried once on the master Sentinel names. Either kind
of client is made so that:

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
from urllib.parse import unquote

import redis
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from portal.config import sentinel_addresses

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


#: the master set's name Sentinel watches, unless ``REDIS_SENTINEL_SERVICE`` names another
SENTINEL_SERVICE = "portal"


def configured(config: Any) -> bool:
    """Whether a Redis server is configured (a URL or Sentinels), not the embedded one."""
    return bool(config.get("REDIS_URL") or config.get("REDIS_SENTINELS"))


def settings(config: Any) -> dict[str, Any]:
    """The Redis settings of ``config`` as a plain dict (for a client made later, away from
    the app: the replay guard and the shared store hold no reference to it)."""
    names = (
        "REDIS_URL",
        "REDIS_SENTINELS",
        "REDIS_SENTINEL_SERVICE",
        "REDIS_DB",
        "REDIS_PASSWORD",
        "REDIS_SENTINEL_PASSWORD",
        "REDIS_SOCKET_TIMEOUT",
        "REDIS_CONNECT_TIMEOUT",
    )
    return {name: config.get(name) for name in names}


def client_from_config(config: Any) -> Redis | None:
    """The portal's Redis client for ``config``: through Sentinel if ``REDIS_SENTINELS`` is
    set, else for ``REDIS_URL``; None if neither is (the caller uses the embedded Redis)."""
    options = timeouts(config)
    sentinels = sentinel_addresses(config.get("REDIS_SENTINELS"))
    if sentinels:
        return sentinel_client(
            sentinels,
            str(config.get("REDIS_SENTINEL_SERVICE") or SENTINEL_SERVICE),
            db=int(config.get("REDIS_DB") or 0),
            password=config.get("REDIS_PASSWORD") or None,
            sentinel_password=config.get("REDIS_SENTINEL_PASSWORD") or None,
            **options,
        )
    url = config.get("REDIS_URL")
    return client_for_url(str(url), **options) if url else None


#: ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``: a Redis URL that
#: goes through Sentinel (for settings that take one URL, such as the SMS notifiers')
SENTINEL_URL_SCHEME = "redis+sentinel://"


def client_for_url(
    url: str,
    socket_timeout: float = SOCKET_TIMEOUT,
    socket_connect_timeout: float = CONNECT_TIMEOUT,
) -> Redis:
    """A client for ``url``: ``redis://``, ``rediss://`` and ``unix://`` as redis-py reads
    them, or a ``redis+sentinel://`` URL naming the Sentinels, the service and the db."""
    if not url.startswith(SENTINEL_URL_SCHEME):
        return redis_client(url, socket_timeout, socket_connect_timeout)
    rest = url.removeprefix(SENTINEL_URL_SCHEME)
    auth, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    parts = [unquote(p) for p in path.split("/") if p]
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError("a redis+sentinel URL ends in /service or /service/db")
    sentinels = sentinel_addresses(hosts)
    if not sentinels:
        raise ValueError("a redis+sentinel URL names at least one Sentinel")
    return sentinel_client(
        sentinels,
        parts[0] if parts else SENTINEL_SERVICE,
        db=int(parts[1]) if len(parts) == 2 else 0,
        password=unquote(auth.partition(":")[2]) or None,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
    )


class ClosesOnError(SentinelManagedConnection):
    """redis-py's Sentinel connection, closed when a read is cut off, as a plain connection is.

    redis-py's Sentinel connection keeps itself open when a read ends in an exception
    (``disconnect_on_error=False``): a worker stopped (SIGTERM) while waiting in BLPOP put the
    connection back in the pool with the BLPOP's reply still to come, and the next command on
    it (the worker's own death notice) waited for that reply, as long as the BLPOP's timeout.
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("disconnect_on_error", True)
        return super().read_response(*args, **kwargs)


def sentinel_client(
    sentinels: list[tuple[str, int]],
    service: str,
    db: int = 0,
    password: str | None = None,
    sentinel_password: str | None = None,
    socket_timeout: float = SOCKET_TIMEOUT,
    socket_connect_timeout: float = CONNECT_TIMEOUT,
) -> Redis:
    """A client for the master of ``service`` as the Sentinels name it, bounded in time like
    ``redis_client``'s; each new connection asks the Sentinels where the master is now."""
    bounded = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_connect_timeout}
    sentinel_options: dict[str, Any] = dict(bounded)
    if sentinel_password:
        sentinel_options["password"] = sentinel_password
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_options, **bounded)
    return manager.master_for(
        service,
        connection_class=ClosesOnError,
        db=db,
        password=password,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        lib_version=redis.__version__,
        **bounded,
    )
