"""Run a batch iterator one or more batches ahead in a background thread.

The synthetic_events models hand DuckDB a RecordBatchReader over a Python generator: DuckDB asks
for a batch, the generator reads the next source events from its DuckDB cursor and draws, and only
then does DuckDB write. ``prefetch`` lets the generator compute batch n + 1 (numpy and the events
cursor mostly release the GIL) while DuckDB writes batch n, so the two cores do both. The items
come out in the iterator's order and are the same objects, so the rows (and their bytes) do not
change; an exception in the iterator is raised in the consumer; closing the consumer stops the
worker."""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """``items`` computed up to ``depth`` ahead in a daemon thread; same items, same order."""
    if depth < 1:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for x in items:
                if not put(x):
                    return
            put(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(_Failed(e))

    t = threading.Thread(target=work, name="scalr-prefetch", daemon=True)
    t.start()
    try:
        while True:
            x = q.get()
            if x is _DONE:
                return
            if isinstance(x, _Failed):
                raise x.exc
            yield x
    finally:
        stop.set()
        t.join()
