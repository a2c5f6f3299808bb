"""Python's cyclic garbage collector, held back from full collections while a build runs.

A report's data or a spreadsheet makes hundreds of thousands of objects that live until the
build ends (decoded snapshots, rows, cells). CPython walks every tracked object again in a
full collection, and it starts one each time the long-lived objects have grown by a quarter,
so a growing build is walked over and over: a fifth to a third of the demo's spreadsheet.
Young collections still run, and reference counting still frees what the build drops.

Not for the PDF's layout: WeasyPrint leaves its boxes in cycles that only a full collection
frees (held back, the demo's PDF took twice the memory).

A stream of records that makes no cycles at all (the archive's answers: a tuple, a dict and
bytes per answer, each dropped once written) pays for the young collections instead, one per
seven hundred new containers: `collections_paused` stops those too.
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


_pausers = 0
_was_enabled = False


@contextmanager
def collections_paused() -> Iterator[None]:
    """No collection at all while the block runs (for work that makes no reference cycles;
    reference counting frees everything it drops); the collector comes back, if it was on,
    when the last such block in the process ends."""
    global _pausers, _was_enabled
    with _lock:
        if _pausers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _lock:
            _pausers -= 1
            if _pausers == 0 and _was_enabled:
                gc.enable()
