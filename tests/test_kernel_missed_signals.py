"""A SIGINT the main thread slept through is delivered again (:mod:`.sigwake`).

Python's C handler may take SIGINT in another thread, or just before the main thread
enters a system call; the main thread then sleeps on. Here a thread of the cell sends
SIGINT to itself while the main thread sleeps: the C handler runs in that thread, and only
the kernel's watch of the wakeup fd can end the sleep. Real kernel process; every wait is
bounded and no timing is asserted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from helpers import reference_kernel
from kernelwire.client import BlockingClient, KernelProcess

TIMEOUT = 60.0  # the cell sleeps ten times longer: only a delivered interrupt ends it in time

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CELL = """
import signal, sys, threading, time
main = threading.main_thread().ident

def interrupt_from_here_once_main_sleeps():
    while sys._current_frames()[main].f_lineno != SLEEP_LINE:
        time.sleep(0.01)
    time.sleep(0.2)  # well inside time.sleep by now
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

SLEEP_LINE = 13
threading.Thread(target=interrupt_from_here_once_main_sleeps, daemon=True).start()
time.sleep(600)
"""


@pytest.fixture
def kernel() -> Iterator[KernelProcess]:
    with reference_kernel() as process:
        yield process


def test_a_sigint_taken_by_another_thread_still_interrupts_the_sleeping_cell(
    kernel: KernelProcess,
) -> None:
    assert CELL.splitlines()[13 - 1].startswith("time.sleep(600)")
    with BlockingClient(kernel.info, kernel=kernel) as client:
        client.wait_for_ready(TIMEOUT)
        result = client.execute(CELL, timeout=TIMEOUT)
        assert result.error is not None and result.error["ename"] == "KeyboardInterrupt"
        # One interrupt, not two: the next cell runs undisturbed.
        assert client.execute("import time; time.sleep(0.5); 7", timeout=TIMEOUT).result == {
            "text/plain": "7"
        }
