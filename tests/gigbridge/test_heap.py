"""gigbridge.heap: trimming returns the free pages inside the C heap to the OS (RSS drops)."""

import sys

import pytest

from gigbridge.heap import heap_trimmer


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim and /proc are Linux's")
def test_free_holes_in_the_heap_are_given_back():
    trim = heap_trimmer()
    assert trim is not None, "glibc has malloc_trim"
    trim()
    # 2 KiB blocks come from malloc (Python's own allocator stops at 512 bytes). Keeping every
    # 16th alive leaves ~60 MB of holes that the heap's top cannot shrink past.
    blocks = [bytes(2048) for _ in range(32_000)]
    kept = blocks[::16]
    del blocks
    before = rss_kb()
    assert trim() is True
    after = rss_kb()
    assert before - after > 30_000, (before, after)
    assert len(kept) == 2_000
