"""PgBouncer in front of the benchmark's PostgreSQL, as the README advises for production.

RQ forks a work-horse per job and each one opens its own database connection; without a
pooler, PostgreSQL starts a server process for every job. ``pooled(url)`` starts a
PgBouncer (session pooling) on a free local port and yields the same URL pointing at it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.stack import free_port


@contextmanager
def pooled(url: str) -> Iterator[str]:
    """Serve the PostgreSQL database at ``url`` through PgBouncer; yields the pooled URL."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        raise RuntimeError("pgbouncer is not installed (apt-get install -y pgbouncer)")
    target = make_url(url)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="portal-pgbouncer-"))  # its own: it may run as postgres
    user = target.username or "postgres"
    (workdir / "users.txt").write_text(f'"{user}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{target.database} = host={target.host or '127.0.0.1'} port={target.port or 5432} "
        f"dbname={target.database}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\n"
        "pool_mode = session\nmax_client_conn = 500\ndefault_pool_size = 20\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
    )
    command = [binary, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        shutil.chown(workdir, "postgres")
        for name in ("users.txt", "pgbouncer.ini"):
            shutil.chown(workdir / name, "postgres")
        command[1:1] = ["-u", "postgres"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"pgbouncer exited; see {workdir / 'pgbouncer.log'}"
                    ) from None
                time.sleep(0.05)
        yield target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
