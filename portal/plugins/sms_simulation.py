"""What the SMS plugins' simulators share when the demo runs one as a process of its own:
the list of accepted SMS, serving until interrupted, the terminal line per SMS, and the
command line (``python -m <plugin>.simulator --port N``, the secret from the environment)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

#: the environment variable the demo hands a simulator's secret in (never on the command line)
SECRET_ENV = "SMS_SIMULATOR_SECRET"  # noqa: S105 - a variable name


class Serving(Protocol):
    """A simulator the command line can serve: a WSGI app."""

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any: ...


def sent_page(lock: threading.Lock, sent: Sequence[Any]) -> Response:
    """The accepted SMS (dataclasses) as a JSON list, for ``/__sim__/sent``."""
    with lock:
        rows = [dataclasses.asdict(s) for s in sent]
    return Response(json.dumps(rows, ensure_ascii=False), 200, mimetype="application/json")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Say nothing about each request: the accepted SMS are what the demo shows."""


def serve_forever(simulator: Serving, port: int) -> None:
    """Serve ``simulator`` on 127.0.0.1:``port`` in this thread until interrupted."""
    server = make_server(
        "127.0.0.1", port, simulator.wsgi, threaded=True, request_handler=_QuietHandler
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def log_line(provider: str, sent: Any) -> str:
    """One accepted SMS as the demo's terminal shows it."""
    return f"[{provider} simulator] SMS to {sent.phone}: " + json.dumps(
        dataclasses.asdict(sent), ensure_ascii=False
    )


def main(
    provider: str,
    id_option: str,
    default_id: str,
    build: Callable[[str, str, Callable[[Any], None]], Serving],
    argv: list[str] | None = None,
) -> None:
    """The simulator's command line: ``--port N`` and ``--<id_option>``; the secret from
    ``SMS_SIMULATOR_SECRET``; ``build(id, secret, on_sent)`` makes the simulator, and every
    SMS it accepts is printed."""
    parser = argparse.ArgumentParser(description=f"The {provider} SMS simulator for the demo.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(f"--{id_option}", dest="ident", default=default_id)
    args = parser.parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        parser.error(f"set {SECRET_ENV} to the secret the portal signs with")

    def show(sent: Any) -> None:
        print(log_line(provider, sent), flush=True)

    simulator = build(args.ident, secret, show)
    print(f"[{provider} simulator] listening on http://127.0.0.1:{args.port}/", flush=True)
    serve_forever(simulator, args.port)
    sys.exit(0)
