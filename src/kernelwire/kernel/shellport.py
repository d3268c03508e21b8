"""The main shell's end of the shell channel: the shell ROUTER itself while no subshell
exists, the shell router thread while one does (see :mod:`.serving`).

Routing every main-shell request through a router thread costs a thread hop each way, so
the main thread reads and answers the ROUTER itself while there is nothing to route to.
The switch to routing happens when a subshell starts, and must not wait for the main
thread: it may be running a long cell, and the subshell is there to answer meanwhile.

The ROUTER moves from one thread to the other under :attr:`ShellPort.lock` (a lock gives
the full memory barrier libzmq asks for when a socket changes threads): the main thread
holds it only while it polls, reads or sends (never while a hook runs), so whoever takes
it first after a switch is asked (the main thread waking from its poll, or the subshell's
thread while the main thread runs a cell) hands the ROUTER to the router thread.

The main thread takes the ROUTER back between two requests once every subshell has ended
(:meth:`ShellPort.hand_back`): the router thread forwards what the shells answered and
ends, and the requests it had handed to the main shell are read before the ROUTER's.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

from ..transport import recv_frames, send_frames


class ShellPort:
    """What the main shell reads its requests from and sends its replies on
    (``recv_multipart``/``send_multipart`` as a socket): the ROUTER itself, or from
    :meth:`start_routing` to :meth:`hand_back` ``routed`` (the router thread's inproc
    PAIR)."""

    def __init__(
        self,
        router: zmq.Socket[Any],
        routed: zmq.Socket[Any],
        start_router: Callable[[], None],
        route: Callable[[list[Any], Any], bool],
        stop_router: Callable[[], list[list[Any]]],
    ) -> None:
        """``route(frames, reply_socket)`` hands a request naming a subshell to it (see
        :meth:`.SubshellManager.route`), as the router thread does once it runs;
        ``stop_router()`` ends the router thread, leaving the ROUTER open, and returns the
        requests for the main shell it still held."""
        self.router, self.routed = router, routed
        self._start_router = start_router
        self._stop_router = stop_router
        self._route = route
        #: Requests the router thread handed to the main shell before it ended, unread.
        self._handed: deque[list[Any]] = deque()
        #: Held by whoever uses :attr:`router` while the main thread owns it.
        self.lock = threading.Lock()
        self.routing = False
        #: Set (before the main thread is woken) when a subshell thread waits for routing:
        #: the main thread then polls the ROUTER no more.
        self.switch_asked = False
        self.closed = False

    @property
    def current(self) -> zmq.Socket[Any]:
        """The socket the main shell reads now (call with :attr:`lock` held)."""
        return self.routed if self.routing else self.router

    def switch_now(self) -> None:
        """Hand the ROUTER to the router thread (call with :attr:`lock` held)."""
        if not self.routing and not self.closed:
            self._start_router()
            self.routing = True
        self.switch_asked = False

    def start_routing(self, wake_main: Callable[[], object]) -> None:
        """Route from now on; returns once the router thread owns the ROUTER. Called from a
        new subshell's thread: ``wake_main`` ends the main thread's poll of the ROUTER, so
        the lock is free at once when the main thread is idle, and it is free anyway while
        the main thread runs a request. Asked even when routing already: the main thread
        may be taking the ROUTER back at this moment (see :meth:`hand_back`), and does not
        while this is asked."""
        self.switch_asked = True
        wake_main()
        with self.lock:
            self.switch_now()

    def hand_back(self) -> None:
        """Take the ROUTER back from the router thread, which forwards what the shells
        answered and ends (call from the main thread with :attr:`lock` held, once no
        subshell is left: one starting now waits for the lock, then routing starts
        again). What the thread had handed to the main shell is read first (see
        :meth:`take_handed`)."""
        if not self.routing or self.switch_asked:
            return
        held = self._stop_router()
        self.routing = False
        while (frames := recv_frames(self.routed, zmq.NOBLOCK, copy=False)) is not None:
            self._handed.append(frames)
        self._handed.extend(held)  # newer than what it had put in the queue

    def take_handed(self) -> list[Any] | None:
        """The oldest request the router thread handed to the main shell and nobody has
        read yet; None when there is none (call with :attr:`lock` held)."""
        return self._handed.popleft() if self._handed else None

    def send_multipart(
        self, frames: Any, flags: int = 0, copy: bool = True, track: bool = False
    ) -> Any:
        with self.lock:  # without pyzmq's per-frame Python (the reply path of every request)
            return send_frames(self.current, frames, copy=copy, track=track, flags=flags)

    def recv_multipart(self, flags: int = 0, copy: bool = True) -> list[Any]:
        """The main shell's next request (NOBLOCK only: the lock is held meanwhile); those
        read from the ROUTER that name a subshell go to it (a ``stop_on_error`` abort, which
        reads here, must not take them)."""
        while True:
            with self.lock:
                handed = self.take_handed()
                if handed is not None:
                    return handed
                source = self.current
                frames = source.recv_multipart(flags | zmq.NOBLOCK, copy=copy)
            if source is not self.router or not self._route(frames, self):
                return frames
