"""Give the C heap's free pages back to the operating system.

The worker's long-lived native memory is RocksDB's (memtables flushed every few seconds, a
block cache whose 4 KiB blocks are evicted and replaced all the time). glibc keeps the memory
freed by that churn inside its heap, in holes between live blocks, so the process's RSS grows
by the holes even though the memory in use is flat: in a soak at 2,000 events/s, 35 MB in use
and a heap growing by ~2 MB a minute, all of it free space (docs/performance.md, "Session 5").
``malloc_trim(0)`` releases every whole free page inside the heap (madvise), not only the top.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Callable


def heap_trimmer() -> Callable[[], bool] | None:
    """A function that trims the C heap and returns whether memory was released; None where the
    C library has no ``malloc_trim`` (musl, macOS), where there is nothing to do."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: bool(trim(0))
