"""The sockets and state both clients hold, made the same way for either kind of context.

A ``zmq.Context`` gives blocking sockets and a ``zmq.asyncio.Context`` awaitable ones;
creating, connecting and closing them is the same either way, so it is done here once.
"""

from __future__ import annotations

import os
from typing import Any

import zmq

from ..connect import channel_url, load_connection_info
from ..connect import session_from_connection_info as _session_for
from ..session import Session
from .launcher import KernelProcess
from .requests import Request
from .router import InputHandler, MessageRouter


class KernelChannels:
    """Connection info, session and router, and a socket per channel to the kernel."""

    def __init__(
        self,
        connection: dict[str, Any] | str | os.PathLike[str],
        *,
        session: Session | None,
        kernel: KernelProcess | None,
        context: Any,
        heartbeat_timeout: float,
        input_handler: InputHandler | None,
    ) -> None:
        #: The connection info (checked), from the file or dict given.
        self.info = load_connection_info(connection)
        #: The Session messages are signed and checked with (made from the connection info
        #: unless given).
        self.session = session if session is not None else _session_for(self.info)
        #: The ``KernelProcess`` when we started the kernel, else None.
        self.kernel = kernel
        #: Seconds without a heartbeat answer after which the kernel counts as dead (for a
        #: kernel we did not start).
        self.heartbeat_timeout = heartbeat_timeout
        #: Answers ``input()`` in the kernel: ``input_handler(prompt, password) -> str``; None
        #: means code that asks for input gets an error.
        self.input_handler = input_handler
        #: Matches replies and outputs to requests (shared logic of both clients).
        self.router = MessageRouter(self.session)
        self._context = context
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
        #: True after ``close()``.
        self.closed = False

    def _socket(self, kind: int, identity: bytes | None = None) -> Any:
        socket = self._context.socket(kind)
        socket.linger = 0
        # A kernel just started binds its ports a moment after we connect: retry soon
        # (libzmq waits 100 ms by default), backing off to that while it stays away.
        socket.reconnect_ivl = 10
        socket.reconnect_ivl_max = 100
        if identity is not None:
            socket.identity = identity
        return socket

    def _connect(self, channel: str, kind: int, identity: bytes | None = None) -> Any:
        socket = self._socket(kind, identity)
        socket.connect(channel_url(self.info, channel))
        return socket

    def _socket_for(self, request: Request) -> Any:
        """The socket ``request`` goes out on: shell or control."""
        return self.control if request.channel == "control" else self.shell

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
