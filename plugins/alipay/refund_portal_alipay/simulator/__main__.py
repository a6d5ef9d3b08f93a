"""Command line: ``python -m refund_portal_alipay.simulator --keys-dir DIR --port 9101``."""

from __future__ import annotations

import argparse
import sys

from refund_portal_alipay.simulator import AlipaySimulator


def main(argv: list[str] | None = None) -> int:
    """Serve the simulated gateway until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m refund_portal_alipay.simulator")
    parser.add_argument("--keys-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    args = parser.parse_args(argv)
    sim = AlipaySimulator(args.keys_dir, host=args.host, port=args.port)
    sim.serve_forever(
        on_ready=lambda url: print(f"Alipay simulator on {url}", file=sys.stderr, flush=True)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
