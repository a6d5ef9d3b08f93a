"""A work-horse's first Redis command: the portal's client next to redis-py's default,
measured side by side.

A forked work-horse cannot use its parent's Redis connection, so its first command (RQ's
own, before the job runs) opens a new one. Each sample forks a child from a warmed parent,
opens a connection with the client under test and sends ``PING``; the child reports its CPU
time and page faults. ``BENCH_SAMPLES`` (200) samples per client per round,
``BENCH_ROUNDS`` (5) rounds, clients alternating. Uses ``PORTAL_REDIS_URL`` or an embedded
Redis.
"""

from __future__ import annotations

import os
import tempfile

from bench.forked import compare, summary

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def main() -> dict[str, float]:
    """Print the median CPU and page faults of a first command for each client, and the gap."""
    from redis import Redis

    from portal.infra.embedded import start_embedded_redis, stop_embedded_redis
    from portal.infra.redis_client import redis_client

    tmp = tempfile.TemporaryDirectory(prefix="portal-bench-")
    url = os.environ.get("PORTAL_REDIS_URL") or start_embedded_redis(tmp.name)
    try:
        clients = {
            "the portal's client": redis_client(url),
            "redis-py's default": Redis.from_url(url),
        }
        for client in clients.values():  # the parent has imported and used both once
            assert client.ping()
            client.connection_pool.disconnect()
        cpu, faults = compare({name: c.ping for name, c in clients.items()}, ROUNDS, SAMPLES)
    finally:
        stop_embedded_redis()
        tmp.cleanup()
    saved = cpu["redis-py's default"] - cpu["the portal's client"]
    print(
        f"redis_connect: a forked child's first command on a new connection, median of "
        f"{ROUNDS} x {SAMPLES}: {summary(cpu, faults)}; {saved:.2f} ms less per work-horse"
    )
    return {
        "cpu_ms": cpu["the portal's client"],
        "default_cpu_ms": cpu["redis-py's default"],
        "saved_ms": saved,
    }


if __name__ == "__main__":
    main()
