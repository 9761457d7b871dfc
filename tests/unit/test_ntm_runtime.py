"""NTM training's process settings (``ntm_container.runtime``): OpenMP's wait policy and glibc's reuse of freed
memory, checked in fresh child processes (both act on the whole process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ntm_container import runtime
from ntm_container.runtime import configure_training_process

# How glibc holds a live 64 MiB array: as its own mapping (``mallinfo2().hblks``, unmapped again on free, so the next
# one is fresh memory to fault in and zero) or inside the heap, where a freed one is reused.
MAPPINGS = """
import ctypes, sys
import numpy as np
if sys.argv[1] == "keep":
    from ntm_container.runtime import keep_freed_memory
    assert keep_freed_memory()
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
                                                      "fordblks keepcost").split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
before = libc.mallinfo2().hblks
a = np.ones(16 << 20, dtype=np.float32)
print(libc.mallinfo2().hblks - before)
"""


def test_large_tensors_live_in_the_heap_where_freed_memory_is_reused() -> None:
    def mappings(mode: str) -> int:
        return int(subprocess.run([sys.executable, "-c", MAPPINGS, mode], capture_output=True, text=True,
                                  check=True).stdout)

    assert mappings("default") == 1  # the control: glibc's default maps it separately
    assert mappings("keep") == 0


def test_wait_policy_is_passive_unless_the_environment_sets_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: True)  # leave this process's malloc alone
    environ: dict[str, str] = {}
    configure_training_process(environ)
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    configure_training_process(environ)
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE"
