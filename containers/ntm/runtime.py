"""Process settings for NTM training, applied by ``ntm-container train`` before torch is imported.

A CPU training step at a large vocabulary (e.g. 256 documents x 50,000 words) is a chain of short torch kernels over
(rows, vocabulary) float32 tensors of tens of MB each. Two process-level defaults made each step several times
slower than its arithmetic (measured with ``bench/ntm_roofline.py`` and py-spy; figures in bench/RESULTS.md):

* GNU OpenMP (torch's intra-op threads) busy-waits between parallel regions; on cores shared with other processes
  the spinning thread starves the one doing the work. ``OMP_WAIT_POLICY=PASSIVE`` (unless the environment sets a
  policy) makes idle threads sleep. libgomp reads it once, when torch loads it.
* glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and returns it with
  ``munmap`` on free, so each step's large tensors were new pages: a page fault and a kernel zero-fill per 4 KiB, on
  every tensor, every step. ``keep_freed_memory`` turns that off (``M_MMAP_MAX`` 0, no trimming), so freed tensors
  are reused by the next step; the peak is the same, it is just not given back to the system while training runs.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
from collections.abc import MutableMapping

log = logging.getLogger("ntm")

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of unmapping it; False where that is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def configure_training_process(environ: MutableMapping[str, str] = os.environ) -> None:
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if not keep_freed_memory():
        log.info("not glibc: large tensors are allocated and freed by the system allocator every step")
