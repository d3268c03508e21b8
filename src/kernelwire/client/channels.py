"""The sockets and state both clients hold, made the same way for either kind of context.

A ``zmq.Context`` gives blocking sockets and a ``zmq.asyncio.Context`` awaitable ones;
creating, connecting and closing them is the same either way, so it is done here once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import zmq

from ..connect import apply_curve, channel_url, load_connection_info
from ..connect import session_from_connection_info as _session_for
from ..session import Session
from .core import ClientCore
from .launcher import KernelProcess
from .results import Comm
from .router import InputHandler


class KernelChannels:
    """Connection info, session and router, and a socket per channel to the kernel."""

    def __init__(
        self,
        connection: dict[str, Any] | str | os.PathLike[str],
        *,
        session: Session | None = None,
        kernel: KernelProcess | None = None,
        context: zmq.Context[Any] | None = None,
        heartbeat_timeout: float = 5.0,
        input_handler: InputHandler | None = None,
    ) -> None:
        #: The connection info (checked), from the file or dict given.
        self.info = load_connection_info(connection)
        #: The Session messages are signed and checked with (made from the connection info
        #: unless given).
        self.session = session if session is not None else _session_for(self.info)
        #: The client's state and decisions (sans-IO), shared by both clients.
        self.core = ClientCore(
            self.session,
            kernel=kernel,
            heartbeat_timeout=heartbeat_timeout,
            input_handler=input_handler,
        )
        #: Matches replies and outputs to requests (part of the core).
        self.router = self.core.router
        self._context = context if context is not None else self._default_context()
        identity = self.session.bsession
        #: The shell channel's zmq socket. Use the client's methods rather than the sockets:
        #: they keep the matching of replies to requests right.
        self.shell = self._connect("shell", zmq.DEALER, identity)
        #: The control channel's zmq socket.
        self.control = self._connect("control", zmq.DEALER, identity)
        # The kernel's ROUTER drops an input_request to a peer it has not met yet:
        # wait_for_ready waits for the stdin handshake, watched from before the connect.
        #: The stdin channel's zmq socket.
        self.stdin = self._socket(zmq.DEALER, identity)
        self._stdin_monitor: Any = self.stdin.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.stdin.connect(channel_url(self.info, "stdin"))
        #: The IOPub channel's zmq socket (subscribed to everything).
        self.iopub = self._connect("iopub", zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        #: The heartbeat channel's zmq socket.
        self.hb = self._connect("hb", zmq.REQ)
        #: The sockets messages arrive on, and their channel names.
        self._channels = {
            self.shell: "shell",
            self.control: "control",
            self.stdin: "stdin",
            self.iopub: "iopub",
        }
        self._sockets = {channel: socket for socket, channel in self._channels.items()}
        #: True after ``close()``.
        self.closed = False
        self._prepare_io()

    def _default_context(self) -> zmq.Context[Any]:
        """The context sockets are made in when none is given (blocking or asyncio)."""
        raise NotImplementedError

    def _prepare_io(self) -> None:
        """Make what the client needs for its I/O besides the sockets."""

    @property
    def kernel(self) -> KernelProcess | None:
        """The ``KernelProcess`` when we started the kernel, else None."""
        return self.core.kernel  # type: ignore[return-value]

    @kernel.setter
    def kernel(self, kernel: KernelProcess | None) -> None:
        self.core.kernel = kernel

    @property
    def heartbeat_timeout(self) -> float:
        """Seconds a heartbeat may go unanswered before the kernel counts as dead (for a
        kernel we did not start)."""
        return self.core.heartbeat.timeout

    @heartbeat_timeout.setter
    def heartbeat_timeout(self, seconds: float) -> None:
        self.core.heartbeat.timeout = seconds

    @property
    def input_handler(self) -> InputHandler | None:
        """Answers ``input()`` in the kernel: ``input_handler(prompt, password) -> str``;
        None means code that asks for input gets end of input."""
        return self.core.input_handler

    @input_handler.setter
    def input_handler(self, handler: InputHandler | None) -> None:
        self.core.input_handler = handler

    @property
    def on_comm_open(self) -> Callable[[Comm, dict[str, Any]], Any] | None:
        """Called with ``(comm, comm_open message)`` for each comm the kernel opens, as
        messages are handled; set ``comm.on_message`` there to see its messages as they
        come (they also collect in ``comm.received``), and answer with ``comm_msg`` or
        ``comm_close``. While None, comms the kernel opens are not tracked."""
        return self.router.on_comm_open

    @on_comm_open.setter
    def on_comm_open(self, handler: Callable[[Comm, dict[str, Any]], Any] | None) -> None:
        self.router.on_comm_open = handler

    @property
    def on_other_iopub(self) -> Callable[[dict[str, Any]], Any] | None:
        """Called with each IOPub message whose parent is no recent request of this client
        (another client's traffic, or the kernel's own), as messages are handled."""
        return self.router.on_other_iopub

    @on_other_iopub.setter
    def on_other_iopub(self, hook: Callable[[dict[str, Any]], Any] | None) -> None:
        self.router.on_other_iopub = hook

    def _send_frames(self, channel: str, frames: list[Any]) -> Any:
        """Send ``frames`` on the socket of ``channel``: shell, control or stdin."""
        return self._sockets[channel].send_multipart(frames, copy=False)

    def _handshake_seen(self, events: int) -> bool:
        """Whether the stdin monitor saw the handshake (``events``: what its poll gave);
        once it has, the monitor is done."""
        if events:
            self._stop_stdin_monitor()
        return bool(events)

    def _socket(self, kind: int, identity: bytes | None = None) -> Any:
        socket = self._context.socket(kind)
        socket.linger = 0
        if identity is not None:
            socket.identity = identity
        apply_curve(socket, self.info)  # every socket, heartbeat included
        return socket

    def _connect(self, channel: str, kind: int, identity: bytes | None = None) -> Any:
        socket = self._socket(kind, identity)
        socket.connect(channel_url(self.info, channel))
        return socket

    def _stop_stdin_monitor(self) -> None:
        if self._stdin_monitor is not None:
            self.stdin.disable_monitor()
            self._stdin_monitor.close(linger=0)
            self._stdin_monitor = None

    def _close_sockets(self) -> None:
        self._stop_stdin_monitor()
        for socket in (*self._channels, self.hb):
            socket.close(linger=0)


__all__ = ["KernelChannels"]
