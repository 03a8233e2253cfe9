"""gigbridge.heap: trimming returns the free pages inside the C heap to the OS (RSS drops), and
with a fixed mmap threshold large blocks are returned as soon as they are freed."""

import sys

import pytest

from gigbridge.heap import fix_mmap_threshold, heap_trimmer, heap_usage_mb


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
    size = 2048  # a variable: b"x" * 2048 would be one constant, not 32,000 blocks
    blocks = [b"x" * size for _ in range(32_000)]
    kept = blocks[::16]
    del blocks
    before = rss_kb()
    assert trim() is True
    after = rss_kb()
    assert before - after > 30_000, (before, after)
    assert len(kept) == 2_000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and /proc are Linux's")
def test_large_blocks_are_unmapped_when_freed_without_a_trim():
    size = 2 * 1024 * 1024
    freed = b"y" * size
    del freed  # glibc now puts blocks below 2 MiB in the heap (its dynamic threshold): they stay resident
    assert fix_mmap_threshold(256 * 1024) is True
    size = 300 * 1024  # written, not calloc'ed: every page is resident
    blocks = [b"x" * size for _ in range(200)]  # 60 MB
    kept = blocks[::2]
    grown = rss_kb()
    del blocks
    assert grown - rss_kb() > 20_000, "the 100 freed blocks went straight back to the OS"
    assert len(kept) == 100


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallinfo2 is Linux's")
def test_heap_usage_counts_what_is_in_use():
    size = 2048
    before = heap_usage_mb()
    blocks = [b"x" * size for _ in range(16_000)]  # ~32 MB from malloc
    during = heap_usage_mb()
    assert set(before) == {"heap_arena_mb", "heap_in_use_mb", "heap_free_mb", "heap_mmap_mb"}
    assert during["heap_in_use_mb"] - before["heap_in_use_mb"] > 25
    assert len(blocks) == 16_000
