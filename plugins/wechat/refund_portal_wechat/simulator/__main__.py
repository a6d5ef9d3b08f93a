"""Command line: ``python -m refund_portal_wechat.simulator --keys-dir DIR --port 9102``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from refund_portal_wechat.simulator import KEY_MODES, WechatSimulator


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m refund_portal_wechat.simulator",
        description="Local WeChat Pay API v3 refund gateway (dev and tests only).",
    )
    parser.add_argument("--keys-dir", required=True, help="dev key directory (DEV_KEYS_DIR)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9102)
    parser.add_argument("--settle-delay", type=float, default=0.0, help="seconds to SUCCESS")
    parser.add_argument(
        "--min-refund-interval",
        type=float,
        default=0.0,
        help="minimum seconds between refunds of one trade (WeChat: 60; default 0 = off)",
    )
    parser.add_argument("--mchid", default=None, help="merchant id (default: the dev key set's)")
    parser.add_argument(
        "--key-mode",
        choices=KEY_MODES,
        default="public_key",
        help="the merchant's verification keys: public_key (default), platform_cert (platform"
        " certificates, GET /v3/certificates) or cert_and_public_key (both, while switching)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="log no line per request (benchmarks, load tests)"
    )
    args = parser.parse_args(argv)
    sim = WechatSimulator(
        args.keys_dir,
        host=args.host,
        port=args.port,
        settle_delay_s=args.settle_delay,
        min_refund_interval_s=args.min_refund_interval,
        mchid=args.mchid,
        quiet=args.quiet,
        key_mode=args.key_mode,
    )
    sim.serve_forever(
        on_ready=lambda url: print(f"WeChat Pay simulator on {url}", file=sys.stderr, flush=True)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
