"""Reading ahead on a thread: the items in order, the producer's error raised to the reader,
and a reader that stops early stopping the thread after only a few items fetched ahead."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from app.services.read_ahead import ReadAhead


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_the_items_come_in_order_and_the_thread_ends() -> None:
    items = [(n, [n] * 3) for n in range(500)]
    with ReadAhead(lambda: iter(items), depth=3, name="test-ahead") as ahead:
        assert list(ahead) == items
    assert not _threads("test-ahead")


def test_the_producers_error_is_raised_where_the_items_are_read() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("the server went away")

    with ReadAhead(failing, name="test-ahead") as ahead:
        read = iter(ahead)
        assert next(read) == 1
        with pytest.raises(RuntimeError, match="went away"):
            next(read)
    assert not _threads("test-ahead")


def test_a_reader_that_stops_stops_the_thread_a_few_items_ahead() -> None:
    produced: list[int] = []
    released = threading.Event()

    def endless() -> Iterator[int]:
        try:
            for n in range(10**9):
                produced.append(n)
                yield n
        finally:
            released.set()  # what the producer holds (a cursor, a connection) is let go

    ahead = ReadAhead(endless, depth=2, name="test-ahead")
    assert next(iter(ahead)) == 0
    ahead.close()
    assert not _threads("test-ahead")
    assert len(produced) <= 5
    assert released.wait(timeout=5)


def test_the_thread_starts_before_anything_is_read() -> None:
    started = threading.Event()

    def producer() -> Iterator[int]:
        started.set()  # e.g. a query sorting on the server before its rows are asked for
        yield 1

    ahead = ReadAhead(producer, name="test-ahead")
    assert started.wait(timeout=5)
    assert list(ahead) == [1]
    ahead.close()
