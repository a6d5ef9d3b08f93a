"""``make bench``: run every benchmark (or the ones named: ``python -m bench settlement``)."""

from __future__ import annotations

import importlib
import sys

BENCHES = [
    "settlement",
    "gateway_http",
    "redis_connect",
    "sweep",
    "crash",
    "ingest",
    "page_2g",
    "rss",
    "install_size",
    "uploads",
    "scale",
    "audit_verify",
    "s3_client",
    "connect",
    "reconcile",
    "risk_history",
]


def main(names: list[str]) -> int:
    """Run the named benchmarks in order; non-zero if any fails. A bench named alone with
    options after it (``python -m bench scale --orders 20000``) reads them itself."""
    if len(names) > 1 and names[1].startswith("-"):
        result = importlib.import_module(f"bench.{names[0]}").main(names[1:])
        return result if isinstance(result, int) else 0
    status = 0
    for name in names or BENCHES:
        module = importlib.import_module(f"bench.{name}")
        result = module.main()
        if isinstance(result, int) and result != 0:
            status = result
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
