"""``sys.stdout``/``sys.stderr`` replacements that publish ``stream`` messages on IOPub.

Writes are buffered and coalesced: a background flusher publishes what was written once
the writes pause for ``quiet`` seconds, or ``interval`` seconds after the first at the
latest, so a loop printing thousands of lines sends few messages while
``print(); time.sleep()`` shows up within ``quiet``. The kernel flushes explicitly before
any other output (display, result, error) so the order a cell produced things is kept;
and a write to stdout publishes what stderr holds first (and the other way round), so text
interleaved across the two arrives interleaved. A stream holding MAX_PENDING_WRITES writes
is published by the writer itself, which then waits while IOPub has no room.

A stream may also own a captured file descriptor (see :mod:`.fdcapture`): output written to
fd 1 or 2 by child processes and C code joins the same buffer, and every write or flush
first takes what the fd holds, so the text comes out in the order it was written. The check
before a write covers every captured fd at once: output C code wrote to fd 2 goes out
before a ``print`` to stdout made after it (and the other way round). In a forked child
(``multiprocessing``) the stream writes straight to that fd instead, for the parent to read.

An explicit ``flush()`` (``print(..., flush=True)``) publishes at once, without waiting
for another thread, unless this stream's previous explicit flush published less than
``Flusher.min_gap`` ago: then the text joins the background flusher's next message, due
within ``interval``. A loop of flushed prints (a progress bar) thus sends a few messages
rather than one per line, which no frontend could show faster anyway, and a lone flush
still goes out at once. What was written still survives an ``os._exit`` right after: it
publishes what the streams hold and waits until IOPub has written it (see
:mod:`.exitguard`).

Text keeps the parent (the request) of the thread that wrote it: each write is kept with
its parent, and a publish sends one message per run of writes under one parent (a
subshell's cell printing while the main shell's does), in the order they were written.

A write is the hot path (``print`` makes two): it takes no lock unless an fd has output
to take first, so it never waits for a publish in progress. It appends its (parent, text)
pair in one step; publishers, under the lock, take out only what they counted. The fd
check is the one system call left per write; it cannot be skipped for any write without
risking fd output landing after text written after it.

Text is held by one stream at a time, the flusher's ``last_writer``: a stream that takes
over (a write, or fd output read) publishes what the previous one holds first, and a
stream publishes only as the last writer. A write appends first and takes over after (the
fd reader may take over at any moment in between), so for a moment both streams may hold
text, the previous one's the older. The streams of a flusher share one lock, so that
taking over and reading fds never wait on each other.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from itertools import groupby
from operator import itemgetter
from typing import Any, Protocol

from .exitguard import exit_guard

#: ``publish(stream_name, text, parent)``: sends one ``stream`` message; ``parent`` is what
#: ``current_parent()`` gave when the text was written.
StreamPublisher = Callable[[str, str, Any], None]

_PARENT, _TEXT = itemgetter(0), itemgetter(1)  # of a pending (parent, text) pair


class FdSource(Protocol):
    """A file descriptor whose output a stream publishes (implemented in :mod:`.fdcapture`)."""

    fd: int

    @property
    def has_output(self) -> Callable[[], object]:
        """A call whose result is truthy when ``fd``, or another fd captured with it, holds
        text not read yet. It runs before every write to the stream: one system call, no
        more, and no Python frame."""
        ...

    @property
    def readable(self) -> Callable[[], object]:
        """A call whose result is truthy when ``fd`` itself holds text not read yet."""
        ...

    def read_available(self) -> str:
        """The text written to ``fd`` so far and not read yet; never blocks."""
        ...

    def flush_c_stdio(self) -> None:
        """Push out what C code buffered in its ``FILE`` objects (``printf``): all of
        them (``fflush(NULL)``), so one call does for every stream."""
        ...


#: Writes a stream holds at most: past it, the writer publishes them itself, and so waits
#: while IOPub has no room (a flood to a slow client would otherwise pile up here).
MAX_PENDING_WRITES = 10_000
#: Characters a stream holds at most, likewise: printing is far faster than serializing and
#: sending, so a loop printing long lines would otherwise hold its output here by the 100 MB.
MAX_PENDING_CHARS = 1 << 20


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
        #: The flusher's, shared with its other streams: held by whoever takes from a
        #: pending list or reads an fd (never by a write that finds the fds empty: see
        #: :meth:`write`).
        self._lock = flusher.lock
        #: What was written, with the parent it was written under, oldest first.
        self._pending: list[tuple[Any, str]] = []
        #: Characters in _pending, about: writes add to it without a lock, so a race may
        #: miss one; each publish counts it again.
        self._pending_chars = 0
        self._last_explicit_flush = -1.0  # time.monotonic() of the last one published
        self._current_parent = current_parent
        self._fd_source: FdSource | None = None
        self._direct_fd: int | None = None  # set in a forked child: write to the fd itself
        self._bypassed = False  # closed, or _direct_fd set: write() leaves the buffer alone

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
            self._bypassed = True
            self._fd_source = None
            self._pending = []  # the parent publishes what was written before the fork

    def write(self, text: str) -> int:
        # Every print() calls this twice: each check costs, so the usual case comes first
        # and asks as little as it can (see benchmarks/bench_e2e.py, "15,000 prints").
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._bypassed:
            return self._write_bypassing(text)
        if text:
            flusher = self._flusher
            written = (self._current_parent(), text)
            source = self._fd_source
            if (source is not None and source.has_output()) or flusher.reading_fd:
                if flusher.last_writer is not self:  # the other stream's text goes first
                    self._take_turn(flusher)
                with self._lock:  # what was written to the fds before this write goes next
                    self._take_fd_outputs(flusher)
                    self._pending.append(written)
            else:
                # No lock: the append is one atomic step under the GIL, and takers only
                # remove what they counted. Output written to an fd before the check above
                # is in a list already: it was not in the pipe, so a taker had read it,
                # and had appended it too, as reading_fd is clear again.
                self._pending.append(written)
                # Asked after the append, as another thread may make another stream the
                # last writer at any moment (a write, or fd output it took): that stream's
                # text goes out first, and this one's stays for this stream's next publish.
                if flusher.last_writer is not self:
                    self._take_turn(flusher)
            self._pending_chars += len(text)
            if not flusher.due:  # appended first: a flush that missed it is due again
                flusher.request()
            elif len(self._pending) >= MAX_PENDING_WRITES or (
                self._pending_chars >= MAX_PENDING_CHARS
            ):
                self.publish_pending()  # waits while IOPub is full: memory stays bounded
        return len(text)

    def _take_fd_outputs(self, flusher: Flusher) -> None:
        """Before a write (under the lock): what every captured fd holds, so that it goes
        out before the write. This stream's fd output joins its text; another stream's
        goes after this stream's text, which is published first."""
        flusher.hand_over(self)  # a reader may have made another stream the last writer
        for stream in flusher.streams:
            stream._take_fd_output()
        flusher.hand_over(self)

    def _take_turn(self, flusher: Flusher) -> None:
        """Become the last writer: what the previous one holds is published (with what C
        code buffered for it), so that stdout and stderr text interleaved by a cell
        arrives interleaved (one message per switch)."""
        previous = flusher.last_writer
        # outside the lock: it may wait for the reader thread to drain a pipe
        flushed = previous is not None and previous.pending_writes and previous.flush_c_stdio()
        with self._lock:
            if flushed and previous is flusher.last_writer and previous is not None:
                previous._take_fd_output()
            flusher.hand_over(self)

    def _write_bypassing(self, text: str) -> int:
        """A write that does not reach the buffer: refused once closed, or straight to the
        fd in a forked child."""
        if self.closed:
            raise ValueError("I/O operation on closed stream")
        if text and self._direct_fd is not None:
            data = memoryview(text.encode("utf-8", "backslashreplace"))
            while data:
                data = data[os.write(self._direct_fd, data) :]
        return len(text)

    def close(self) -> None:
        """Publish what was written; later writes are refused."""
        super().close()
        self._bypassed = True

    @property
    def pending_writes(self) -> int:
        """How many writes wait to be published (the flusher watches this grow)."""
        return len(self._pending)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def absorb_fd_output(self) -> None:
        """Move what the fd holds into the buffer and have it flushed soon (reader thread).
        This stream takes over from the last writer, whose text went first."""
        with self._lock:
            taken = self._take_fd_output()
        if taken:
            self._flusher.request()

    def publish_pending(self, c_stdio_flushed: bool = False) -> None:
        """Publish everything written so far, fd output included: one message per run of
        writes under one parent (nothing if nothing was written). ``c_stdio_flushed``: the
        caller has just pushed out C stdio's buffers (see :meth:`flush_c_stdio`)."""
        if not c_stdio_flushed:
            self.flush_c_stdio()
        with self._lock:
            self._take_fd_output()
            # Counted before the hand-over: a write appending meanwhile (the hand-over may
            # let other threads run) is newer than what the last writer holds.
            count = len(self._pending)
            if count:  # text is published by the last writer only: see hand_over
                self._flusher.hand_over(self)
            self._publish_locked(count)

    def flush_c_stdio(self) -> bool:
        """Push out what C code buffered, into the captured fd (every ``FILE`` at once, so
        the other stream's too); False when there is no fd. Called outside the lock: it may
        wait for a pipe to drain."""
        source = self._fd_source
        if source is None:
            return False
        source.flush_c_stdio()
        return True

    def _publish_locked(self, count: int | None = None) -> None:
        """Publish the pending text (its first ``count`` writes; all by default), one
        message per run of writes under one parent (the caller holds the lock). Writes may
        append meanwhile: only what was counted is taken out, so a write landing now stays
        for the next publish."""
        pending = self._pending
        if count is None:
            count = len(pending)
        if not count:
            return
        interrupted: KeyboardInterrupt | None = None
        try:
            for parent, run in groupby(pending[:count], key=_PARENT):
                texts = list(map(_TEXT, run))
                del pending[: len(texts)]
                try:
                    self._publish(self.channel, "".join(texts), parent)
                except KeyboardInterrupt as exc:  # raised once the message is queued (see
                    interrupted = exc  # iopub's guard): the other runs go out first
        finally:
            # Counted again from what is left (a write landing now): a racing count is
            # righted; once, not per run (runs alternate when two shells print at once).
            self._pending_chars = sum(len(t) for _, t in pending)
        if interrupted is not None:
            raise interrupted

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
        """Append what the fd holds to the pending text (the caller holds the lock), under
        the parent of the text before it (or, with none pending, the reader's shell's).
        The stream takes over from the last writer, whose text is older and goes first."""
        source = self._fd_source
        if source is None or not source.readable():
            return False
        flusher = self._flusher
        # Before the pipe is read: an interrupt raised once this publish is queued (see
        # iopub's guard) leaves the text in the pipe, not lost in between.
        flusher.hand_over(self)
        flusher.reading_fd = True  # until appended: see write()
        try:
            text = source.read_available()
            if text:
                pending = self._pending
                parent = pending[-1][0] if pending else self._current_parent()
                pending.append((parent, text))
                self._pending_chars += len(text)
        finally:
            flusher.reading_fd = False
        return bool(text)


class Flusher:
    """One daemon thread that flushes the registered streams shortly after a write: once
    the writes pause for ``quiet`` seconds (``print(); time.sleep(1)`` shows at once), or
    ``interval`` seconds after the first one at the latest (a flood of prints goes out in
    a few large messages, yet keeps showing while it runs)."""

    def __init__(self, interval: float = 0.05, min_gap: float = 0.005, quiet: float = 0.01) -> None:
        self.interval = interval
        self.quiet = quiet
        #: Seconds between two explicit flushes of a stream that each publish at once.
        self.min_gap = min_gap
        self.streams: list[OutStream] = []
        self._wanted = threading.Event()
        #: A flush is on its way (writers check this before calling :meth:`request`).
        self.due = False
        #: The stream written to last (its streams share this flusher): see OutStream.write.
        self.last_writer: OutStream | None = None
        #: The streams' lock (see OutStream._lock).
        self.lock = threading.RLock()
        #: A captured fd was read and its text is not appended yet (under the lock).
        self.reading_fd = False
        self._stopped = threading.Event()  # also ends the wait for more writes, at once
        self._thread = threading.Thread(target=self._run, name="kernelwire-flusher", daemon=True)

    def start(self) -> None:
        self._thread.start()
        exit_guard.add(self.flush_all)

    def request(self) -> None:
        """Ask for a flush within ``interval`` seconds."""
        if not self.due:
            self.due = True
            self._wanted.set()

    def hand_over(self, stream: OutStream) -> None:
        """Make ``stream`` the last writer, publishing what the previous one holds (under
        the streams' lock, which a C stdio flush must not be made under: see
        OutStream.flush_c_stdio). The previous one's text is the older: a write appends
        before it takes its turn, so for a moment both streams may hold text."""
        previous = self.last_writer
        if previous is not stream:
            self.last_writer = stream  # first: an interrupt raised by the publish keeps it
            if previous is not None:
                previous._publish_locked()

    def flush_all(self) -> None:
        """Publish what every stream holds (without waiting: IOPub keeps the order). C
        stdio is flushed once for all streams: the kernel flushes twice per request, and
        each call into libc lets the other threads take the GIL."""
        c_stdio_flushed = any(stream.flush_c_stdio() for stream in self.streams)
        last = self.last_writer  # holds the newest text: published last
        for stream in self.streams:
            if stream is not last:
                stream.publish_pending(c_stdio_flushed)
        if last is not None:
            last.publish_pending(c_stdio_flushed)

    def stop(self) -> None:
        exit_guard.discard(self.flush_all)
        self._stopped.set()
        self._wanted.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wanted.wait()
            if self._wait_for_a_pause():  # let more writes join this flush
                return  # the kernel's last flush_all publishes what is left
            self._wanted.clear()
            # Cleared before the streams are taken: a write appended after that sees no
            # flush due and asks again; one appended before is in this flush.
            self.due = False
            try:
                self.flush_all()
            except Exception:  # keep flushing later output even if one publish failed
                logging.getLogger("kernelwire.kernel").exception("flushing output failed")

    def _wait_for_a_pause(self) -> bool:
        """Wait until no stream was written to for ``quiet`` seconds, or ``interval``
        seconds at most; True if the flusher was stopped meanwhile. Writes are not counted
        (that would cost every print): the streams' pending lists are watched instead."""
        deadline = time.monotonic() + self.interval
        sizes = [stream.pending_writes for stream in self.streams]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._stopped.wait(min(self.quiet, left)):
                return True
            before, sizes = sizes, [stream.pending_writes for stream in self.streams]
            if sizes == before:
                return False
