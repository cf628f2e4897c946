"""scalr.prefetch: the background-thread read-ahead in front of the synthetic_events writers must
hand over the same items in the same order, raise the iterator's error in the consumer and stop its
worker when the consumer stops early."""
import threading
import time

import pyarrow as pa
import pytest

from scalr.prefetch import prefetch


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_same_items_same_order(depth):
    items = [object() for _ in range(50)]
    out = list(prefetch(iter(items), depth))
    assert len(out) == 50 and all(a is b for a, b in zip(out, items))


def test_runs_ahead_in_another_thread():
    seen = []

    def gen():
        for i in range(3):
            seen.append(threading.current_thread().name)
            yield i

    it = prefetch(gen(), 2)
    assert next(it) == 0
    deadline = time.monotonic() + 10  # the worker draws the next ones while the consumer waits
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(seen) == 3 and set(seen) == {"scalr-prefetch"}
    assert list(it) == [1, 2]


def test_error_is_raised_in_the_consumer_after_the_good_items():
    def gen():
        yield 1
        yield 2
        raise ValueError("scalr config error in model synthetic_events: boom")

    got = []
    with pytest.raises(ValueError, match="boom"):
        for x in prefetch(gen(), 1):
            got.append(x)
    assert got == [1, 2]


def test_early_close_stops_the_worker():
    produced = []

    def gen():
        for i in range(10_000):
            produced.append(i)
            yield i

    it = prefetch(gen(), 1)
    assert next(it) == 0
    it.close()
    n = len(produced)
    time.sleep(0.2)
    assert len(produced) == n <= 3
    assert not any(t.name == "scalr-prefetch" and t.is_alive() for t in threading.enumerate())


def test_a_record_batch_reader_over_prefetch_is_byte_identical():
    batches = [pa.record_batch({"x": pa.array(range(i, i + 5))}) for i in range(0, 50, 5)]
    plain = pa.RecordBatchReader.from_batches(batches[0].schema, iter(batches)).read_all()
    ahead = pa.RecordBatchReader.from_batches(batches[0].schema, prefetch(iter(batches), 1)).read_all()
    assert ahead.equals(plain)
