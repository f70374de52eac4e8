"""Host memory allocator settings for training and testing processes (Linux, glibc).

By default glibc serves every allocation above a dynamic threshold (at most 32 MB) with a fresh
``mmap`` and unmaps it on free. Point-cloud models allocate and free tensors of tens to hundreds of
MB on every step (``[N, 4C]`` MLP activations, attention patches, sparse-conv buffers), so each
step page-faults all of them in again: about 800k minor faults and 2 s of system time per PT-v3
train step on a 2-core VM, where a fault is expensive. Keeping freed memory in the heap instead
(``M_MMAP_MAX = 0``: no mmap for large blocks; a high ``M_TRIM_THRESHOLD``: the heap top is not
returned to the OS) removes almost all of them: PT-v3 train step 0.92x wall time, measured paired
in one process. The cost is that freed memory stays with the process (its peak RSS is reached
anyway; measured +4% peak).

``pointlab train/test/infer`` apply it at start-up. ``POINTLAB_MALLOC_TUNING=0`` turns it off; any
``MALLOC_*_`` variable set by the user (glibc's own tunables) is left to glibc and nothing is changed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_host_allocator"]

_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = (1 << 31) - 1  # mallopt takes a C int: 2 GiB - 1

_applied = None


def tune_host_allocator(enable: bool | None = None) -> bool:
    """Keep large freed blocks in the glibc heap (see the module docstring). Idempotent.

    Args:
        enable: None reads ``POINTLAB_MALLOC_TUNING`` (default on); False does nothing.
    Returns:
        True if the settings are in effect in this process.
    """
    global _applied
    if _applied is not None:
        return _applied
    if enable is None:
        enable = os.environ.get("POINTLAB_MALLOC_TUNING", "1").strip().lower() not in ("0", "false", "no", "off")
    user_set = any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ) or "GLIBC_TUNABLES" in os.environ
    if not enable or user_set or not sys.platform.startswith("linux"):
        _applied = False
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        getattr(libc, "gnu_get_libc_version")  # glibc only (musl has no mallopt tunables)
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):
        ok = False
    _applied = bool(ok)
    return _applied
