"""Reading ahead on a thread: a large read's next rows fetched while the caller works on these.

A database driver waits for the server without holding the GIL, so a thread that fetches
(and decodes) the next rows lets the server work while Python reduces or encodes the rows it
already has; one at a time, each waited for the other.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: what the thread hands over: an item, the end, or the error that ended it
_ITEM, _END, _FAILED = range(3)


class ReadAhead(Generic[T]):
    """The items of `produce()`, produced by a thread of their own (started at once) and kept
    at most `depth` ahead of the reader. Iterate it once; `close` (also on leaving a `with`
    block) stops the thread wherever the reader stopped, after the item in hand, so whatever
    the producer holds (a cursor, a connection) is let go before the caller goes on.

    `produce` runs on the thread: it may open its own connection there, or use the caller's,
    which the caller must then leave alone until the end or `close`.
    """

    def __init__(self, produce: Callable[[], Iterator[T]], *, depth: int = 2, name: str) -> None:
        self._handed: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def _hand(self, kind: int, what: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._handed.put((kind, what), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, produce: Callable[[], Iterator[T]]) -> None:
        items: Iterator[T] | None = None
        try:
            items = produce()
            for item in items:
                if not self._hand(_ITEM, item):
                    return
            self._hand(_END, None)
        except BaseException as error:  # raised again in the reader's thread
            self._hand(_FAILED, error)
        finally:
            # a generator left midway lets go of what it holds here, not whenever it is freed
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[T]:
        """The items, in order, as the thread hands them over."""
        while True:
            kind, what = self._handed.get()
            if kind == _END:
                return
            if kind == _FAILED:
                raise what
            yield what

    def close(self) -> None:
        """Stop the thread (it finishes the item in hand first) and wait for it."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
