"""``os._exit`` that first gets the queued output out.

Streams publish ``print(..., flush=True)`` without waiting for the IOPub thread and
ZeroMQ's I/O thread to write it (waiting costs thread wake-ups on every flush). Closing
the sockets sends what is queued, but ``os._exit`` ends the process without closing
anything: while the kernel runs, it is replaced by a function that first runs the
registered callbacks (the last registered first, as ``atexit`` does: the streams publish
what they hold, then IOPub waits, bounded, until that is written), then exits. Only in the
process that registered them: a forked child's ``os._exit`` is left alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger("kernelwire.kernel")

_ORIGINAL_EXIT = os._exit


class ExitGuard:
    """Holds the callbacks and keeps ``os._exit`` replaced while there are any."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], object]] = []
        self._original: Callable[[int], Any] | None = None
        self._pid = 0

    def add(self, callback: Callable[[], object]) -> None:
        self._callbacks.append(callback)
        if self._original is None:
            self._original, self._pid = os._exit, os.getpid()
            os._exit = self._exit  # type: ignore[assignment]

    def discard(self, callback: Callable[[], object]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)
        if not self._callbacks and self._original is not None:
            if os._exit == self._exit:  # else someone replaced it after us: theirs stays
                os._exit = self._original  # type: ignore[assignment]
            self._original = None

    def _exit(self, status: int) -> Any:
        original = self._original if self._original is not None else _ORIGINAL_EXIT
        if os.getpid() == self._pid:
            for callback in reversed(list(self._callbacks)):
                try:
                    callback()
                except Exception:  # the process ends whatever happens here
                    log.exception("getting the queued output out before os._exit failed")
        return original(status)


exit_guard = ExitGuard()
