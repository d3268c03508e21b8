"""``sys.stdout``/``sys.stderr`` replacements that publish ``stream`` messages on IOPub.

Writes are buffered and coalesced: a background flusher publishes what was written at most
``interval`` seconds later, so a loop printing thousands of lines sends few messages while
``print(); time.sleep()`` still shows up promptly. The kernel flushes explicitly before any
other output (display, result, error) so the order a cell produced things is kept.

A stream may also own a captured file descriptor (see :mod:`.fdcapture`): output written to
fd 1 or 2 by child processes and C code joins the same buffer, and every write or flush
first takes what the fd holds, so the text comes out in the order it was written. In a
forked child (``multiprocessing``) the stream writes straight to that fd instead, for the
parent to read.

An explicit ``flush()`` (``print(..., flush=True)``) publishes at once, without waiting
for another thread, unless this stream's previous explicit flush published less than
``Flusher.min_gap`` ago: then the text joins the background flusher's next message, due
within ``interval``. A loop of flushed prints (a progress bar) thus sends a few messages
rather than one per line, which no frontend could show faster anyway, and a lone flush
still goes out at once. What was written still survives an ``os._exit`` right after: it
publishes what the streams hold and waits until IOPub has written it (see
:mod:`.exitguard`).

Text keeps the parent (the request) of the thread that wrote it: when a write comes under
another parent (a subshell's cell printing while the main shell's does), what was pending
is published first, under its own parent.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .exitguard import exit_guard

#: ``publish(stream_name, text, parent)``: sends one ``stream`` message; ``parent`` is what
#: ``current_parent()`` gave when the text was written.
StreamPublisher = Callable[[str, str, Any], None]


class FdSource(Protocol):
    """A file descriptor whose output a stream publishes (implemented in :mod:`.fdcapture`)."""

    fd: int

    def has_output(self) -> bool:
        """Whether ``fd`` holds text not read yet (one ``poll`` system call, no more: it
        runs before every write to the stream)."""
        ...

    def read_available(self) -> str:
        """The text written to ``fd`` so far and not read yet; never blocks."""
        ...

    def flush_c_stdio(self) -> None:
        """Push out what C code buffered in its ``FILE`` objects (``printf``)."""
        ...


class OutStream(io.TextIOBase):
    """A text stream whose writes become IOPub ``stream`` messages named ``channel``."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(
        self,
        channel: str,
        publish: StreamPublisher,
        flusher: Flusher,
        current_parent: Callable[[], Any] = lambda: None,
    ) -> None:
        super().__init__()
        self.channel = channel
        self._publish = publish
        self._flusher = flusher
        self._lock = threading.RLock()
        self._pending: list[str] = []
        self._last_explicit_flush = -1.0  # time.monotonic() of the last one published
        self._current_parent = current_parent
        self._pending_parent: Any = None
        self._fd_source: FdSource | None = None
        self._direct_fd: int | None = None  # set in a forked child: write to the fd itself

    @property
    def name(self) -> str:
        return f"<{self.channel}>"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        """The captured fd (so ``subprocess`` and ``faulthandler`` can write to it)."""
        if self._fd_source is None:
            raise io.UnsupportedOperation(f"{self.name} is published over IOPub and has no fd")
        return self._fd_source.fd

    def attach_fd(self, source: FdSource | None) -> None:
        """Publish what ``source`` gives along with the writes (None: stop doing so)."""
        with self._lock:
            self._take_fd_output()
            self._fd_source = source

    def follow_fork(self) -> None:
        """In a forked child: write to the captured fd, which the parent reads and publishes
        (the child has no IOPub thread, and must not read the parent's pipe). No lock is
        taken: another thread of the parent may have held it when the process forked."""
        source = self._fd_source
        if source is not None:
            self._direct_fd = source.fd
            self._fd_source = None
            self._pending = []  # the parent publishes what was written before the fork

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.closed:
            raise ValueError("I/O operation on closed stream")
        if text and self._direct_fd is not None:
            data = memoryview(text.encode("utf-8", "backslashreplace"))
            while data:
                data = data[os.write(self._direct_fd, data) :]
        elif text:
            parent = self._current_parent()
            with self._lock:
                source = self._fd_source
                if source is not None and source.has_output():
                    self._take_fd_output()  # what a child wrote before this write goes first
                if parent is not self._pending_parent:
                    self._publish_locked()  # under the parent it was written for
                    self._pending_parent = parent
                self._pending.append(text)
            self._flusher.request()
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def absorb_fd_output(self) -> None:
        """Move what the fd holds into the buffer and have it flushed soon (reader thread)."""
        with self._lock:
            taken = self._take_fd_output()
        if taken:
            self._flusher.request()

    def publish_pending(self) -> None:
        """Publish everything written so far, fd output included, as one message (nothing
        if nothing was written)."""
        source = self._fd_source
        if source is not None:
            source.flush_c_stdio()  # outside the lock: it may wait for a pipe to drain
        with self._lock:
            self._take_fd_output()
            self._publish_locked()

    def _publish_locked(self) -> None:
        """Publish the pending text (the caller holds the lock)."""
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._publish(self.channel, text, self._pending_parent)

    def flush(self) -> None:
        """Publish what was written: now, or within the flusher's interval when the previous
        explicit flush was moments ago (IOPub keeps the order of everything published)."""
        if self._direct_fd is not None:
            return  # written already
        now = time.monotonic()
        if now - self._last_explicit_flush < self._flusher.min_gap:
            self._flusher.request()
            return
        self._last_explicit_flush = now
        self.publish_pending()

    def _take_fd_output(self) -> bool:
        """Append what the fd holds to the pending text (the caller holds the lock)."""
        if self._fd_source is None:
            return False
        text = self._fd_source.read_available()
        if text:
            if not self._pending:  # no writer to take the parent from: the reader's shell
                self._pending_parent = self._current_parent()
            self._pending.append(text)
        return bool(text)


class Flusher:
    """One daemon thread that flushes the registered streams shortly after a write."""

    def __init__(self, interval: float = 0.05, min_gap: float = 0.005) -> None:
        self.interval = interval
        #: Seconds between two explicit flushes of a stream that each publish at once.
        self.min_gap = min_gap
        self.streams: list[OutStream] = []
        self._wanted = threading.Event()
        self._stopped = threading.Event()  # also ends the wait for more writes, at once
        self._thread = threading.Thread(target=self._run, name="kernelwire-flusher", daemon=True)

    def start(self) -> None:
        self._thread.start()
        exit_guard.add(self.flush_all)

    def request(self) -> None:
        """Ask for a flush within ``interval`` seconds (cheap when one is already due)."""
        if not self._wanted.is_set():
            self._wanted.set()

    def flush_all(self) -> None:
        """Publish what every stream holds (without waiting: IOPub keeps the order)."""
        for stream in self.streams:
            stream.publish_pending()

    def stop(self) -> None:
        exit_guard.discard(self.flush_all)
        self._stopped.set()
        self._wanted.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wanted.wait()
            if self._stopped.wait(self.interval):  # let more writes join this flush
                return  # the kernel's last flush_all publishes what is left
            self._wanted.clear()
            try:
                self.flush_all()
            except Exception:  # keep flushing later output even if one publish failed
                logging.getLogger("kernelwire.kernel").exception("flushing output failed")
