"""Process-level settings that make CPU training faster.

glibc serves allocations above ``M_MMAP_THRESHOLD`` (a few MB by default) with fresh ``mmap``
pages and hands them back on free, so every large activation of every step is page-faulted
in again: measured on a 2-core EPYC, converting a 40 MB tensor took 19 ms fresh and 2 ms
from the heap, and a BASE pretraining step (15.6 s crop) ran ~10 % faster with large blocks
kept in the heap. The cost is that freed memory stays mapped to the process: peak RSS is
unchanged (4.54 vs 4.67 GB in the same step), but the process does not shrink afterwards.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
_tuned = False


def keep_large_allocations_in_heap() -> bool:
    """Serve large CPU tensors from the heap and keep freed memory for reuse (glibc only).

    Idempotent; ``SPEECHSSL_MALLOC_TUNING=0`` turns it off. Returns whether it applied.
    """
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("SPEECHSSL_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        applied = libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    _tuned = applied
    if applied:
        log.debug("glibc malloc: large blocks from the heap, no trimming")
    return applied
