"""Give the C heap's free pages back to the operating system.

The worker's long-lived native memory is RocksDB's (memtables flushed every few seconds, a
block cache whose 4 KiB blocks are evicted and replaced all the time). glibc keeps the memory
freed by that churn inside its heap, in holes between live blocks, so the process's RSS grows
by the holes even though the memory in use is flat: in a soak at 2,000 events/s, 35 MB in use
and a heap growing by ~2 MB a minute, all of it free space (docs/performance.md, "Session 5").
``malloc_trim(0)`` releases every whole free page inside the heap (madvise), not only the top;
:func:`fix_mmap_threshold` keeps large blocks (RocksDB's 512 KiB memtable arena blocks,
compaction buffers) out of the heap altogether, so freeing them unmaps them at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Callable


M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def fix_mmap_threshold(size: int = 256 * 1024) -> bool:
    """Blocks of ``size`` bytes and more are mmapped and unmapped on free. glibc otherwise
    raises its threshold to the largest block freed so far (up to 32 MiB), after which such
    blocks come from the heap and leave holes there. True if the C library took the setting."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, size) == 1


def heap_trimmer() -> Callable[[], bool] | None:
    """A function that trims the C heap and returns whether memory was released; None where the
    C library has no ``malloc_trim`` (musl, macOS), where there is nothing to do."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: bool(trim(0))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


@functools.lru_cache(maxsize=1)
def _mallinfo2():
    """libc's ``mallinfo2`` with its return type declared, or None (older glibc, other libcs)."""
    mallinfo2 = getattr(_libc(), "mallinfo2", None)
    if mallinfo2 is not None:
        mallinfo2.restype = _MallInfo2
    return mallinfo2


def heap_usage_mb() -> dict[str, float]:
    """glibc's heap figures (``mallinfo2``, all arenas) in MB: in use, free inside the heap (the
    holes a trim gives back) and mmapped; empty where the C library has no ``mallinfo2``."""
    mallinfo2 = _mallinfo2()
    if mallinfo2 is None:
        return {}
    info = mallinfo2()
    return {"heap_arena_mb": round(info.arena / 2**20, 1), "heap_in_use_mb": round(info.uordblks / 2**20, 1),
            "heap_free_mb": round(info.fordblks / 2**20, 1), "heap_mmap_mb": round(info.hblkhd / 2**20, 1)}
