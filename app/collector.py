"""Python's cyclic garbage collector, held back from full collections while a build runs.

A report's data or a spreadsheet makes hundreds of thousands of objects that live until the
build ends (decoded snapshots, rows, cells). CPython walks every tracked object again in a
full collection, and it starts one each time the long-lived objects have grown by a quarter,
so a growing build is walked over and over: a fifth to a third of the demo's spreadsheet.
Young collections still run, and reference counting still frees what the build drops.

Not for the PDF's layout: WeasyPrint leaves its boxes in cycles that only a full collection
frees (held back, the demo's PDF took twice the memory).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: a third threshold no build reaches: the number of young-generation collections between
#: full ones
_NEVER = 1 << 30

_lock = threading.Lock()
_holders = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def full_collections_held() -> Iterator[None]:
    """No full collection while the block runs (in any thread: the thresholds are the
    process's); the thresholds come back when the last such block in the process ends."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = gc.get_threshold()
            first, second, _third = _saved
            gc.set_threshold(first, second, _NEVER)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
