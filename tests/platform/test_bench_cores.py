"""``bench.cores``: the benchmarks' server on its own core(s), the load on the last one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench.cores import default_layout, pin


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity control here")
def test_the_layout_splits_the_cores_and_pin_moves_every_thread() -> None:
    cores = sorted(os.sched_getaffinity(0))
    layout = default_layout()
    if len(cores) < 2:
        assert layout is None
        return
    assert layout is not None
    assert layout.load == frozenset(cores[-1:])
    assert layout.server == frozenset(cores[:-1])
    code = (
        "import threading, time; "
        "threading.Thread(target=time.sleep, args=(30,)).start(); time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(200):  # until its second thread exists
            if len(os.listdir(f"/proc/{child.pid}/task")) >= 2:
                break
            time.sleep(0.02)
        pin(child.pid, layout.load)
        tasks = os.listdir(f"/proc/{child.pid}/task")
        assert len(tasks) >= 2
        assert {frozenset(os.sched_getaffinity(int(t))) for t in tasks} == {layout.load}
    finally:
        child.kill()
        child.wait()
