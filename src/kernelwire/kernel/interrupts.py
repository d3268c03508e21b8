"""When a SIGINT interrupts user code, and when it is remembered or ignored.

An interrupt belongs to the shell request being handled. The client learns that a cell
started from its ``execute_input`` message, which the kernel publishes just *before* the
cell's code runs; an interrupt sent at once can therefore arrive while the kernel is
still between receiving the request and running the code. Such an interrupt is kept and
raised as soon as user code starts, instead of being lost (which would leave the cell
running for ever). An interrupt while no request is being handled is ignored.

User code also calls into the kernel (``print`` publishes on IOPub, ``input()`` sends on
stdin). A KeyboardInterrupt raised between two frames of a message would leave half a
message on the socket, glued to whatever is sent next; such sends run ``deferred``: the
interrupt is raised once the message is out.

All methods run on the main thread: Python runs signal handlers there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext


class InterruptGate:
    """The main thread's interrupt state: idle, handling a request, or running user code."""

    def __init__(self) -> None:
        self.in_request = False
        self.in_user_code = False
        self.pending = False
        self._main_thread = threading.main_thread().ident
        self._deferring = _Deferring(self)

    def request_started(self) -> None:
        self.in_request = True
        self.pending = False

    def request_finished(self) -> None:
        """An interrupt still pending now arrived after the request's code: dropped."""
        self.in_request = False
        self.pending = False

    def on_signal(self) -> bool:
        """Called from the SIGINT handler: raises KeyboardInterrupt inside user code,
        remembers the interrupt during a request; returns False when it was ignored."""
        if self.in_user_code:
            raise KeyboardInterrupt
        if self.in_request:
            self.pending = True
            return True
        return False

    @contextmanager
    def user_code(self) -> Iterator[None]:
        """Run user code: interruptible inside, and at once if an interrupt is pending.
        Nests: the state before it comes back after it."""
        outer = self.in_user_code
        self.in_user_code = True
        try:
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt
            yield
        finally:
            self.in_user_code = outer

    @contextmanager
    def settled(self) -> Iterator[None]:
        """The kernel's own work once a request's user code is done (reporting its result),
        inside a hook that runs as user code: an interrupt arriving meanwhile comes too late
        and is dropped, as after the request."""
        outer = self.in_user_code
        self.in_user_code = False
        try:
            yield
        finally:
            self.in_user_code = outer
            self.pending = False

    def deferred(self) -> AbstractContextManager[None]:
        """Kernel work that must not be cut in half (sending a message's frames): an
        interrupt arriving meanwhile is raised when it is done. Other threads, which never
        get KeyboardInterrupt, and code outside user code pass straight through."""
        if not self.in_user_code or threading.get_ident() != self._main_thread:
            return _PASS_THROUGH
        return self._deferring


class _Deferring:
    """``InterruptGate.deferred`` inside user code on the main thread. A class, not a
    generator-based context manager: every message user code publishes enters it, and this
    costs a fifth as much. One instance per gate serves every use, for a use inside another
    finds user code left and passes straight through."""

    __slots__ = ("_gate",)

    def __init__(self, gate: InterruptGate) -> None:
        self._gate = gate

    def __enter__(self) -> None:
        self._gate.in_user_code = False  # on_signal now only remembers (in_request is set)

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        gate = self._gate
        gate.in_user_code = True
        if exc_type is None and gate.pending:
            gate.pending = False
            raise KeyboardInterrupt


_PASS_THROUGH = nullcontext()
