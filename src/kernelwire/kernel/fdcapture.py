"""Output written to file descriptors 1 and 2 shown as ``stream`` output.

``sys.stdout`` is only one writer of a process's standard output: ``os.system``, child
processes and C code write to fd 1 and fd 2 directly, and would print in the terminal that
started the kernel, where nobody looks. While the kernel runs, fds 1 and 2 point at pipes
instead. A reader thread moves what arrives into the matching :class:`.OutStream` (so it is
flushed like ``print`` output, stdout and stderr kept apart), and every write or flush of the
stream first takes what the pipes hold: output is drained into the stream at the kernel's
flush before ``idle``, and Python-level and fd-level text keep the order they were written,
across the two streams too (one check before a write asks both pipes).

Code that holds the GIL while it writes (a C extension calling ``printf``) blocks once the
pipe is full, and the reader thread, which needs the GIL, cannot empty it: the pipes are made
as large as the system allows (1 MiB on Linux, instead of 64 kB) to push that limit away.

The kernel's own log must not reach the frontend: logging handlers that write to fd 1 or 2
are pointed at duplicates of the original fds for as long as the capture runs, and so is
``faulthandler`` when it was enabled before (``PYTHONFAULTHANDLER``): a crash of the kernel
kills the reader thread, so a dump into the pipe would be lost. Stopping the
capture puts the original fds back. POSIX only (the reader waits on pipes with ``select``).
"""

from __future__ import annotations

import codecs
import ctypes
import faulthandler
import functools
import logging
import os
import select
import selectors
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from .outstream import OutStream

log = logging.getLogger("kernelwire.kernel")

_READ_SIZE = 65536
#: The pipe size asked for (Linux caps it at /proc/sys/fs/pipe-max-size, 1 MiB by default).
_PIPE_SIZE = 1024 * 1024
#: Read at most this much per drain, so a child that writes without pause cannot keep a
#: stream's lock held for ever (more than any pipe holds, so one drain empties a pipe).
_DRAIN_LIMIT = 4 * 1024 * 1024


def _libc_fflush() -> Any:
    """libc's ``fflush``, or None where there is no C library to ask."""
    try:
        fflush = ctypes.CDLL(None).fflush
    except (OSError, AttributeError):
        return None
    fflush.argtypes = [ctypes.c_void_p]
    return fflush


def _above_std_fds(fd: int) -> int:
    """``fd`` moved to a number above 2: a pipe opened while fd 1 or 2 was closed would
    otherwise take that number, and redirecting the std fd would then close it."""
    if fd > 2:
        return fd
    import fcntl  # not on Windows, where nothing here runs

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return moved


def _enlarge_pipe(fd: int) -> None:
    """Let the pipe hold ``_PIPE_SIZE`` bytes where the system allows it (best effort)."""
    import fcntl  # not on Windows, where nothing here runs

    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if set_size is None:
        return
    try:
        with open("/proc/sys/fs/pipe-max-size") as limit:
            size = min(_PIPE_SIZE, int(limit.read()))
        fcntl.fcntl(fd, set_size, size)
    except (OSError, ValueError) as exc:
        log.debug("pipe size left as it was: %s", exc)


class Readiness:
    """Whether one of some pipes can be read without blocking. ``check`` runs before every
    write to a stream, in any thread and without the stream's lock, so it is one system
    call bound once: ``epoll_wait`` where there is epoll (Linux; no Python frame around
    it), else ``select`` (a ``poll`` object refuses two threads at once)."""

    def __init__(self, fds: list[int]) -> None:
        self._epoll = select.epoll(1) if hasattr(select, "epoll") else None
        self._fds = list(fds)
        self.check: Callable[[], object]
        if self._epoll is not None:
            for fd in fds:
                self._epoll.register(fd, select.EPOLLIN)
            self.check = functools.partial(self._epoll.poll, 0, 1)
        else:
            readable = functools.partial(select.select, self._fds, [], [], 0)
            self.check = lambda: readable()[0]

    def forget(self, fd: int) -> None:
        """Stop watching ``fd``: a pipe at EOF would count as readable for ever."""
        if fd in self._fds:
            self._fds.remove(fd)  # the list select is called with
            if self._epoll is not None:
                self._epoll.unregister(fd)

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()


def check_together(sources: list[CapturedFd]) -> Callable[[], None]:
    """Have a write to any of ``sources``' streams check all their pipes (one system call),
    so that it takes every stream's fd output first; returns what releases the check."""
    shared = Readiness([source.read_end for source in sources])
    for source in sources:
        source.share_check(shared)
    return shared.close


def _fd_of(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


class CapturedFd:
    """One standard fd redirected into a pipe: the :class:`.FdSource` of its OutStream."""

    def __init__(self, fd: int, flush_c_stdio: Any) -> None:
        self.fd = fd
        self._fflush = flush_c_stdio
        try:
            self.saved: int | None = os.dup(fd)  # where the fd pointed before (non-inheritable)
        except OSError:
            self.saved = None  # it was closed; it is closed again on restore
        read_end, write_end = os.pipe()
        self.read_end = _above_std_fds(read_end)
        write_end = _above_std_fds(write_end)
        _enlarge_pipe(write_end)
        os.set_blocking(self.read_end, False)
        self._own_check = Readiness([self.read_end])
        self._shared_check: Readiness | None = None
        #: Truthy when the pipe holds output not read yet (see FdSource).
        self.readable = self._own_check.check
        #: The check before a write (see FdSource): this pipe's, or, once
        #: :meth:`share_check` gave one, that of every pipe captured along with it.
        self.has_output = self.readable
        os.dup2(write_end, fd)  # inheritable: child processes write into the pipe too
        os.close(write_end)
        self.at_eof = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def share_check(self, shared: Readiness) -> None:
        """Check ``shared`` (all captured pipes) before a write instead of this pipe alone."""
        self._shared_check = shared
        self.has_output = shared.check

    def read_available(self) -> str:
        chunks: list[bytes] = []
        size = 0
        while size < _DRAIN_LIMIT and not self.at_eof:
            try:
                chunk = os.read(self.read_end, _READ_SIZE)
            except BlockingIOError:
                break
            except OSError:  # the pipe was closed by stop()
                self._reached_eof()
                break
            if not chunk:
                self._reached_eof()  # every writer is gone (after restore, or fd closed)
                break
            chunks.append(chunk)
            size += len(chunk)
        return self._decoder.decode(b"".join(chunks), final=self.at_eof)

    def _reached_eof(self) -> None:
        """No more output will come: the checks stop asking this pipe (at EOF it would
        count as readable for ever, and every write take the slow path)."""
        self.at_eof = True
        self._own_check.forget(self.read_end)
        if self._shared_check is not None:
            self._shared_check.forget(self.read_end)

    def flush_c_stdio(self) -> None:
        if self._fflush is not None:
            self._fflush(None)  # every FILE: stdout and stderr both lead into the pipes

    def close(self) -> None:
        """Release the pipe's read end (once the stream no longer asks it for output)."""
        self._own_check.close()
        os.close(self.read_end)

    def restore(self) -> None:
        """Point the fd back where it pointed before; the pipe then reaches EOF once the
        child processes still holding it are gone."""
        if self.saved is None:
            os.close(self.fd)
        else:
            os.dup2(self.saved, self.fd)


class FdCapture:
    """fds 1 and 2 into pipes, drained into their OutStreams, until :meth:`stop`."""

    def __init__(self, streams: dict[int, OutStream]) -> None:
        self._streams = streams
        self._captured: dict[int, CapturedFd] = {}
        self._log_streams: list[tuple[logging.StreamHandler[Any], IO[str]]] = []
        self._log_copies: list[IO[str]] = []
        self._fflush = _libc_fflush()
        self._active = False  # capturing (fork hooks cannot be unregistered: they check it)
        self._moved_faulthandler = False
        self._wake_read, self._wake_write = os.pipe()
        self._selector = selectors.DefaultSelector()
        self._close_shared_check: Callable[[], None] = lambda: None
        self._thread = threading.Thread(
            target=self._read_loop, name="kernelwire-fd-reader", daemon=True
        )

    def start(self) -> None:
        for original in (sys.__stdout__, sys.__stderr__):
            if original is not None:  # what was written before goes where it was meant to
                original.flush()
        if self._fflush is not None:
            self._fflush(None)
        for fd, stream in self._streams.items():
            captured = CapturedFd(fd, self._fflush)
            self._captured[fd] = captured
            stream.attach_fd(captured)
            self._selector.register(captured.read_end, selectors.EVENT_READ, (stream, captured))
        # fd 2 output goes before a print to stdout made after it
        self._close_shared_check = check_together(list(self._captured.values()))
        self._keep_logs_out()
        stderr = self._captured.get(2)
        if faulthandler.is_enabled() and stderr is not None and stderr.saved is not None:
            faulthandler.enable(stderr.saved, all_threads=True)
            self._moved_faulthandler = True
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._thread.start()
        self._active = True
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def stop(self) -> None:
        """Restore the fds and the log handlers; what the pipes held is left in the streams'
        buffers for the kernel's last flush. Undoes a partly done :meth:`start` too."""
        self._active = False
        if self._fflush is not None:
            self._fflush(None)  # C stdio buffers into the pipes while they are still there
        for captured in self._captured.values():
            captured.restore()
        if self._moved_faulthandler and faulthandler.is_enabled():
            faulthandler.enable(2, all_threads=True)  # the saved fd it used is closed below
        if self._thread.ident is not None:
            os.write(self._wake_write, b"x")
            self._thread.join(timeout=5)
        for fd, captured in self._captured.items():
            self._streams[fd].attach_fd(None)  # takes the pipe's last text into the buffer
            captured.close()
            if captured.saved is not None:
                os.close(captured.saved)
        self._selector.close()
        self._close_shared_check()
        for handler, stream in self._log_streams:
            handler.setStream(stream)
        for copy in self._log_copies:
            copy.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _after_fork_in_child(self) -> None:
        if self._active:
            for stream in self._streams.values():
                stream.follow_fork()

    def _keep_logs_out(self) -> None:
        """Point logging handlers that write to a captured fd at the saved original."""
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        copies: dict[int, IO[str]] = {}
        for logger in loggers:
            for handler in getattr(logger, "handlers", []):
                if not isinstance(handler, logging.StreamHandler):
                    continue
                fd = _fd_of(handler.stream)
                captured = self._captured.get(fd) if fd is not None else None
                if fd is None or captured is None or captured.saved is None:
                    continue
                if fd not in copies:
                    copies[fd] = open(  # noqa: SIM115 - closed in stop()
                        captured.saved, "w", buffering=1, errors="backslashreplace", closefd=False
                    )
                    self._log_copies.append(copies[fd])
                self._log_streams.append((handler, handler.stream))
                handler.setStream(copies[fd])

    def _read_loop(self) -> None:
        while True:
            for key, _events in self._selector.select():
                if key.data is None:
                    return  # woken by stop()
                stream, captured = key.data
                try:
                    stream.absorb_fd_output()
                except Exception:  # keep reading: a stalled pipe would block its writers
                    log.exception("reading captured output failed")
                if captured.at_eof:
                    self._selector.unregister(key.fd)


def start_fd_capture(streams: dict[int, OutStream]) -> FdCapture | None:
    """Capture fds 1 and 2 into ``streams``; None where that cannot be done."""
    if os.name != "posix":
        return None
    capture: FdCapture | None = None
    try:
        capture = FdCapture(streams)
        capture.start()
    except OSError as exc:
        log.warning("output written to fds 1 and 2 stays in the launcher's: %s", exc)
        if capture is not None:
            capture.stop()
        return None
    return capture
