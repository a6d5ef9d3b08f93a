"""Command line: ``python -m refund_portal_alipay.simulator --keys-dir DIR --port 9101``."""

from __future__ import annotations

import argparse
import sys

from refund_portal_alipay.simulator import AlipaySimulator


def main(argv: list[str] | None = None) -> int:
    """Serve the simulated gateway until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m refund_portal_alipay.simulator")
    parser.add_argument("--keys-dir", required=True, help="dev key set (made there if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101, help="0 picks a free port")
    parser.add_argument(
        "--hang-s", type=float, default=15.0, help="how long timeout_after_move hangs"
    )
    parser.add_argument("--late-s", type=float, default=2.0, help="how late notify_late notifies")
    parser.add_argument(
        "--cert-mode",
        action="store_true",
        help="public-key certificate mode (certificates made under KEYS_DIR/alipay/cert)",
    )
    args = parser.parse_args(argv)
    sim = AlipaySimulator(
        args.keys_dir,
        host=args.host,
        port=args.port,
        hang_s=args.hang_s,
        late_s=args.late_s,
        cert_mode=args.cert_mode,
    )
    sim.serve_forever(on_ready=lambda url: print(f"Alipay simulator on {url}", flush=True))
    print("Alipay simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
