"""Fixtures shared by the streams tests."""

import pytest

from streams.runtime.dedupe.store import DedupeStore


@pytest.fixture
def open_store(tmp_path):
    """``open_store(window_ms)``: an opened DedupeStore under tmp_path, closed after the test."""
    opened: list[DedupeStore] = []

    def open_(window_ms: int) -> DedupeStore:
        opened.append(DedupeStore(tmp_path / f"dedupe-{len(opened)}", window_ms).open())
        return opened[-1]
    yield open_
    for store in opened:
        store.close()
