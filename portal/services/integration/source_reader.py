"""A streamed read of an order source on a thread of its own, handed over in chunks.

The thread waits on the shop's socket while the taker waits on the portal's database, a few
chunks ahead of it; an error on the thread reaches the taker at the chunk where it happened,
and stopping closes the source's iterator on the thread that reads it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from portal.plugins.order_sources import OrderSourceError, SourceOrder


class ChunkReader:
    """A source's row iterator read on a thread of its own into chunks of ``size``, a few
    chunks ahead of the taker (the thread waits on the shop's socket while the taker waits
    on the portal's database). Errors reach the taker at the chunk where they happened."""

    AHEAD = 4

    def __init__(self, rows: Iterator[SourceOrder], size: int) -> None:
        self.rows, self.size = rows, size
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue(self.AHEAD)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, name="order-source-reader", daemon=True)
        self.thread.start()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        outcome: tuple[str, Any] = ("error", OrderSourceError("the source's reader stopped"))
        try:
            chunk: list[SourceOrder] = []
            for row in self.rows:
                chunk.append(row)
                if len(chunk) == self.size:
                    if not self._put(("rows", chunk)):
                        return
                    chunk = []
            if chunk and not self._put(("rows", chunk)):
                return
            outcome = ("end", None)
        except Exception as exc:  # noqa: BLE001 (handed to the taker, raised there)
            outcome = ("error", exc)
        finally:
            close = getattr(self.rows, "close", None)
            try:
                if close is not None:
                    close()
            finally:
                self._put(outcome)

    def chunks(self) -> Iterator[list[SourceOrder]]:
        """The chunks as the thread reads them; the thread's error raised where it happened."""
        while True:
            kind, value = self.queue.get()
            if kind == "rows":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def stop(self) -> None:
        """Stop reading (the source's iterator is closed on the thread) and wait for it."""
        self.stopping.set()
        self.thread.join()
