"""SIGINTs the main thread slept through, delivered again.

Python runs signal handlers in the main thread, between two bytecodes; a main thread
blocked in a system call (``time.sleep``, a lock, a read) learns of a signal only because
the signal interrupts that call. Two cases escape this: the process-directed SIGINT is
taken by another thread, or it reaches the main thread just before it enters the call
(after its last check). Python's C handler has then marked the signal, but the main thread
sleeps on (``time.sleep(600)`` for ten minutes) and the interrupt seems lost. Under load
this happens: an output flush running in another thread the moment the main thread starts
sleeping is enough.

Python's C handler also writes one byte to the wakeup fd (``signal.set_wakeup_fd``), from
whichever thread took the signal. :class:`MissedSignalWatch` reads those bytes in a thread
of its own; when the Python-level handler has not run ``grace`` seconds after a byte came,
it sends SIGINT to the main thread itself (``pthread_kill``), which ends the system call.
A handler that did run in time is never doubled.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import threading
from contextlib import ExitStack

log = logging.getLogger("kernelwire.kernel")

#: Attempts per missed signal: a main thread that ignores these is busy in C code that
#: does not check signals, where more would not help.
MAX_RESENDS = 5


class MissedSignalWatch:
    """Watches the wakeup fd for SIGINT and re-delivers those the main thread missed.

    The SIGINT handler calls :meth:`handled` first thing. Install and start it from the
    main thread (``signal.set_wakeup_fd`` must be called there)."""

    def __init__(self, grace: float = 0.2) -> None:
        self.grace = grace
        self._runs = 0
        self._ran = threading.Condition()
        self._reader, self._writer = socket.socketpair()
        self._main = threading.main_thread().ident
        self._stopped = False

    def handled(self) -> None:
        """The SIGINT handler ran in the main thread."""
        with self._ran:
            self._runs += 1
            self._ran.notify_all()

    def install(self, undo: ExitStack) -> bool:
        """Take the wakeup fd (False where the platform has no ``pthread_kill``, or
        another wakeup fd is in use: asyncio's, say); ``undo`` gives it back."""
        if not hasattr(signal, "pthread_kill"):
            return False
        self._writer.setblocking(False)
        previous = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        if previous != -1:  # someone else's: leave it to them
            signal.set_wakeup_fd(previous)
            return False
        undo.callback(self._close)
        undo.callback(signal.set_wakeup_fd, -1)
        # A forked child (multiprocessing) would write its own signals' bytes here.
        os.register_at_fork(after_in_child=self._forget_in_child)
        threading.Thread(target=self._run, name="kernelwire-sigwake", daemon=True).start()
        return True

    def _forget_in_child(self) -> None:
        """The child's signals must not look like the parent's: their bytes go nowhere."""
        if self._stopped:
            return
        self._stopped = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._writer.fileno(), inheritable=False)
        os.close(devnull)

    def _close(self) -> None:
        self._stopped = True
        self._writer.close()  # ends the reader's wait
        with self._ran:
            self._ran.notify_all()

    def _run(self) -> None:
        try:
            while True:
                runs_before = self._runs
                select.select([self._reader], [], [])
                data = self._reader.recv(4096)
                if not data or self._stopped:
                    return
                if signal.SIGINT in data:
                    self._see_it_handled(runs_before)
        except OSError:  # closed under us at shutdown
            return
        finally:
            self._reader.close()

    def _see_it_handled(self, runs_before: int) -> None:
        """Wait for the handler to run (it runs after the C handler wrote the byte), and
        send the signal again each time it does not."""
        for attempt in range(MAX_RESENDS + 1):
            with self._ran:
                if self._ran.wait_for(
                    lambda: self._runs > runs_before or self._stopped, self.grace
                ):
                    if attempt:  # the bytes of the signals sent here are written by now
                        self._drain()
                    return
            if attempt == MAX_RESENDS:
                log.warning("SIGINT: the main thread did not run its handler; giving up")
                return
            log.info("SIGINT: the main thread missed it (busy in a system call); sent again")
            assert self._main is not None
            signal.pthread_kill(self._main, signal.SIGINT)

    def _drain(self) -> None:
        try:
            while select.select([self._reader], [], [], 0)[0]:
                if not self._reader.recv(4096):
                    return
        except OSError:
            return
