"""Full collections held back while a build runs, and given back afterwards."""

from __future__ import annotations

import gc
import io
import threading

import pytest
from openpyxl import load_workbook

from app.collector import collections_paused, full_collections_held
from app.reports.tables import workbook_bytes
from app.services.exports.tables import StreamedTable, Table

pytestmark = pytest.mark.once


def test_the_thresholds_come_back_after_the_last_holder() -> None:
    before = gc.get_threshold()
    with full_collections_held():
        held = gc.get_threshold()
        assert held[:2] == before[:2] and held[2] > 10**6
        with full_collections_held():  # nested: still held inside, still held after
            assert gc.get_threshold() == held
        assert gc.get_threshold() == held
    assert gc.get_threshold() == before


def test_threads_that_overlap_give_the_thresholds_back_once_both_end() -> None:
    before = gc.get_threshold()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def first() -> None:
        with full_collections_held():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with full_collections_held():
            second_in.set()
            first_out.wait(5)
            seen["after the first left"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen["after the first left"][2] > 10**6
    assert gc.get_threshold() == before


def test_a_workbook_is_written_without_full_collections() -> None:
    during: list[tuple[int, int, int]] = []

    def rows() -> list[list[object]]:
        during.append(gc.get_threshold())
        return [["a", 1], ["=b", 2]]

    content = workbook_bytes(
        [
            StreamedTable("Answers", ("text", "n"), rows),
            Table("Items", ("key",), [{"key": "E01"}]),
        ]
    )
    assert during and all(threshold[2] > 10**6 for threshold in during)
    assert gc.get_threshold()[2] < 10**6
    sheet = load_workbook(io.BytesIO(content), read_only=True)["Answers"]
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [
        ["text", "n"],
        ["a", 1],
        ["'=b", 2],
    ]


def test_collections_pause_and_come_back_only_if_they_were_on() -> None:
    assert gc.isenabled()
    with collections_paused():
        assert not gc.isenabled()
        with collections_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds them
    assert gc.isenabled()
    gc.disable()
    try:
        with collections_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()
