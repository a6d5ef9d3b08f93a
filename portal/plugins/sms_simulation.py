"""What the SMS plugins' simulators share: serving on a loopback port (in a thread for tests,
or as the demo's own process until interrupted), the list of accepted SMS, the terminal line per
SMS, and the command line (``python -m <plugin>.simulator --port N``, the secret from the
environment)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

#: the environment variable the demo hands a simulator's secret in (never on the command line)
SECRET_ENV = "SMS_SIMULATOR_SECRET"  # noqa: S105 - a variable name


class Serving(Protocol):
    """A simulator the command line can serve: a WSGI app."""

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any: ...


class SimulatorServer:
    """A provider's simulator: serves on a free loopback port while used as a context manager
    (``url`` is its endpoint). A subclass answers the provider's API in ``_answer``, keeps
    what it accepted in ``sent`` under ``_lock``, and may delay every answer by ``hang_s``."""

    url: str
    hang_s: float
    sent: list[Any]
    _lock: threading.Lock

    def __enter__(self) -> Self:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI application."""
        request = Request(environ)
        if request.path == "/__sim__/sent":  # the simulator's own page: what it accepted
            return sent_page(self._lock, self.sent)(environ, start_response)
        response = self._answer(request)
        if self.hang_s:
            time.sleep(self.hang_s)  # the simulated provider being slow, not the test waiting
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        raise NotImplementedError


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
