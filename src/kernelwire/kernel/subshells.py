"""Subshells (JEP 91, protocol 5.5): shell requests that run beside the main shell.

A client creates a subshell with ``create_subshell_request`` on control (the reply holds
its ``subshell_id``), lists them with ``list_subshell_request`` (the reply's
``subshell_id`` is the list) and deletes one with ``delete_subshell_request``. A shell
request whose header has ``subshell_id`` runs on that subshell's own thread: requests of
one subshell run in order, those of different subshells (the main shell included) at the
same time, so a long cell on the main shell does not delay a completion or an execution
on a subshell. Subshells share the user namespace and the execution count.

Each shell thread (the main one or a subshell's) has its own :class:`ShellContext`: the
request being handled (parent of its replies and output), where its requests wait (a
``stop_on_error`` abort takes only that subshell's queue) and its interrupt state.
Interrupts (``interrupt_request``, SIGINT) reach the main shell only, as in ipykernel
where SIGINT lands in the main thread: a subshell's cell runs to its end.

A request for a subshell that does not exist gets ``status: error`` with ``ename``
``UnknownSubshellError`` and ``evalue`` ``Unknown subshell_id '<id>'`` (framed by busy and
idle), as from ipykernel 7.4; so does ``delete_subshell_request``. At most
``KernelLimits.max_subshells`` exist at once: creating one more is answered with an
error, so a peer cannot make the kernel start threads without bound; and at most
``KernelLimits.shell_rcvhwm`` requests wait for one subshell: one more is answered with
``SubshellQueueFull`` instead of being queued (the router thread never waits for a
subshell, so one busy subshell cannot hold up the others). Deleting a
subshell ends its thread once the requests already routed to it are answered (a request
routed to it after the delete gets the unknown-subshell error).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zmq

from ..protocol import reply_type
from .interrupts import InterruptGate

if TYPE_CHECKING:
    from .base import KernelBase

log = logging.getLogger("kernelwire.kernel")

#: The ``supported_features`` entry (JEP 92) that announces subshells, as ipykernel 7 does.
FEATURE = "kernel subshells"


class UnknownSubshellError(KeyError):
    """A ``subshell_id`` that names no subshell of this kernel."""

    def __init__(self, subshell_id: object) -> None:
        super().__init__(subshell_id)
        self.subshell_id = subshell_id

    def __str__(self) -> str:
        return f"Unknown subshell_id {self.subshell_id!r}"


class SubshellLimitError(RuntimeError):
    """Creating one more subshell would pass ``KernelLimits.max_subshells``."""


class SubshellQueueFull(RuntimeError):
    """A subshell already has ``KernelLimits.shell_rcvhwm`` requests waiting."""


def error_content(exc: BaseException) -> dict[str, Any]:
    """The ``status: error`` content of a subshell failure (ipykernel's ``evalue``)."""
    return {"status": "error", "ename": type(exc).__name__, "evalue": str(exc), "traceback": []}


@dataclass
class ShellContext:
    """What one shell thread holds for the request it handles."""

    #: Where this shell's requests wait (``recv_multipart(zmq.NOBLOCK)``, for aborts).
    inbox: Any
    #: Where this shell's replies go (``send_multipart``).
    outbox: Any
    subshell_id: str | None
    interrupts: InterruptGate = field(default_factory=InterruptGate)
    #: The header of the request being handled: the parent of its replies and output.
    parent: dict[str, Any] = field(default_factory=dict)
    #: The execution count of the cell this shell runs (None between cells).
    cell_count: int | None = None


class SubshellInbox:
    """A subshell's queue of at most ``limit`` requests, thread-safe, read as a socket by
    aborts."""

    def __init__(self, limit: int) -> None:
        self._queue: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._limit = limit
        self._waiting = 0
        self._lock = threading.Lock()
        self.stopped = False

    def put(self, frames: list[Any]) -> bool:
        """Queue a request; False when ``limit`` already wait."""
        with self._lock:
            if self._waiting >= self._limit:
                return False
            self._waiting += 1
        self._queue.put(frames)
        return True

    def _taken(self, frames: list[Any] | None) -> list[Any] | None:
        if frames is None:
            self.stopped = True
        else:
            with self._lock:
                self._waiting -= 1
        return frames

    def stop(self) -> None:
        """End the subshell after the requests queued before this call."""
        self._queue.put(None)

    def get(self) -> list[Any] | None:
        """The next request (blocking); None once stopped."""
        if self.stopped:
            return None
        return self._taken(self._queue.get())

    def recv_multipart(self, flags: int = 0, copy: bool = True) -> list[Any]:
        """The next queued request, ``zmq.Again`` when none (or stopped) with NOBLOCK."""
        if not flags & zmq.NOBLOCK:
            frames = self.get()
            if frames is None:
                raise zmq.Again()
            return frames
        if self.stopped:
            raise zmq.Again()
        try:
            frames = self._taken(self._queue.get_nowait())
        except queue.Empty:
            raise zmq.Again() from None
        if frames is None:
            raise zmq.Again()
        return frames

    def leftovers(self) -> list[list[Any]]:
        """What was routed here after the stop (a delete racing the router)."""
        left: list[list[Any]] = []
        while True:
            try:
                frames = self._queue.get_nowait()
            except queue.Empty:
                return left
            if frames is not None:
                left.append(frames)


@dataclass
class Subshell:
    subshell_id: str
    inbox: SubshellInbox
    thread: threading.Thread


class SubshellManager:
    """The subshells of ``kernel``: created, listed and deleted from the control thread,
    routed to from the thread that reads the shell channel."""

    def __init__(
        self,
        kernel: KernelBase,
        open_outbox: Callable[[], Any] | None,
        max_subshells: int,
        queue_limit: int,
    ) -> None:
        """``open_outbox()`` gives, in a new subshell's thread, what it sends replies on
        (None: this kernel's I/O cannot serve subshells)."""
        self.kernel = kernel
        self.max_subshells = max_subshells
        self.queue_limit = queue_limit
        self._open_outbox = open_outbox
        self._lock = threading.Lock()
        self._subshells: dict[str, Subshell] = {}
        #: Subshell threads created and not ended (deleted ones finish their queue first).
        self._threads = 0

    @property
    def supported(self) -> bool:
        """Whether this kernel serves subshells (``max_subshells`` 0: it does not, and
        shell requests all run on the main shell, whatever their header says)."""
        return self._open_outbox is not None and self.max_subshells > 0

    def create(self) -> str:
        """Start a subshell thread; its id."""
        with self._lock:
            if len(self._subshells) >= self.max_subshells:
                raise SubshellLimitError(
                    f"this kernel allows at most {self.max_subshells} subshells "
                    "(KernelLimits.max_subshells): delete one first"
                )
            subshell_id = str(uuid.uuid4())
            inbox = SubshellInbox(self.queue_limit)
            thread = threading.Thread(
                target=self._serve,
                args=(subshell_id, inbox),
                name=f"kernelwire-subshell-{subshell_id}",
                daemon=True,
            )
            self._subshells[subshell_id] = Subshell(subshell_id, inbox, thread)
            self._threads += 1
        thread.start()
        return subshell_id

    @property
    def all_ended(self) -> bool:
        """Whether no subshell exists and every subshell thread has ended (so none will
        send a reply): the shell router can stop (see ``ShellPort.hand_back``). One
        created now starts routing again itself."""
        return self._threads == 0

    def delete(self, subshell_id: str) -> None:
        """Stop a subshell (its thread ends after the requests already routed to it)."""
        with self._lock:
            subshell = self._subshells.pop(subshell_id, None)
        if subshell is None:
            raise UnknownSubshellError(subshell_id)
        subshell.inbox.stop()

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._subshells)

    def stop_all(self, timeout: float) -> None:
        """Stop every subshell and wait up to ``timeout`` for each (kernel shutdown; a cell
        still running is left to end with the process)."""
        with self._lock:
            subshells = list(self._subshells.values())
            self._subshells.clear()
        for subshell in subshells:
            subshell.inbox.stop()
        for subshell in subshells:
            subshell.thread.join(timeout)

    def route(self, frames: list[Any], reply_socket: Any) -> bool:
        """Hand a shell message whose header names a subshell to it (or answer it when that
        subshell does not exist, on ``reply_socket``); False when it is the main shell's.
        The header is peeked at unverified: the thread it goes to verifies it."""
        if not self.supported:
            return False
        subshell_id = _peek_subshell_id(frames, self.kernel.session.feed_identities)
        if subshell_id is None:
            return False
        with self._lock:
            subshell = self._subshells.get(subshell_id) if isinstance(subshell_id, str) else None
        if subshell is None:
            self.refuse(frames, reply_socket, UnknownSubshellError(subshell_id))
        elif not subshell.inbox.put(frames):
            full = SubshellQueueFull(
                f"subshell {subshell_id!r} already has {self.queue_limit} requests waiting "
                "(KernelLimits.shell_rcvhwm)"
            )
            self.refuse(frames, reply_socket, full)
        return True

    def refuse(self, frames: list[Any], reply_socket: Any, error: Exception) -> None:
        """Busy, an error reply (for a request) and idle, as ipykernel does for an unknown
        subshell; nothing for a message that fails verification."""
        kernel = self.kernel
        parsed = kernel._parse(frames, "shell")
        if parsed is None:
            return
        idents, msg = parsed
        kernel.rejections.report(
            "shell", type(error).__name__, f"cannot handle {msg['msg_type'][:80]}: {error}"
        )
        kernel._status("busy", msg)
        if reply_type(msg["msg_type"]) is not None:
            kernel._reply(reply_socket, idents, msg, error_content(error), {"status": "error"})
        kernel._status("idle", msg)

    def _serve(self, subshell_id: str, inbox: SubshellInbox) -> None:
        """A subshell's thread: its requests, one after the other, until it is deleted."""
        try:
            self._serve_requests(subshell_id, inbox)
        finally:
            with self._lock:
                self._threads -= 1

    def _serve_requests(self, subshell_id: str, inbox: SubshellInbox) -> None:
        kernel = self.kernel
        assert self._open_outbox is not None
        outbox = self._open_outbox()
        kernel._enter_shell(ShellContext(inbox, outbox, subshell_id))
        try:
            while (frames := inbox.get()) is not None:
                kernel._dispatch_guarded(outbox, kernel.shell_handlers, frames, "shell")
            for frames in inbox.leftovers():
                self.refuse(frames, outbox, UnknownSubshellError(subshell_id))
        except zmq.ContextTerminated:
            pass
        except Exception:  # the kernel is closing under us: nothing to answer to
            log.exception("subshell %s ended", subshell_id)
        finally:
            kernel._leave_shell()


def _peek_subshell_id(frames: list[Any], feed_identities: Callable[..., Any]) -> object:
    """The header's ``subshell_id`` (None when absent or unreadable: the main shell reads
    the message, and logs what is wrong with it)."""
    try:
        _idents, msg_list = feed_identities(frames)
        header = msg_list[1]
        raw = header.bytes if isinstance(header, zmq.Frame) else bytes(header)
    except Exception:
        return None
    if b"subshell_id" not in raw:  # the fast path: no subshell named
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed.get("subshell_id") if isinstance(parsed, dict) else None
