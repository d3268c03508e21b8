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
        self.info = load_connection_info(connection)
        self.session = session if session is not None else _session_for(self.info)
        self.kernel = kernel
        self.heartbeat_timeout = heartbeat_timeout
        self.input_handler = input_handler
        self.router = MessageRouter(self.session)
        self._context = context
        identity = self.session.bsession
        self.shell = self._connect("shell", zmq.DEALER, identity)
        self.control = self._connect("control", zmq.DEALER, identity)
        # The kernel's ROUTER drops an input_request to a peer it has not met yet:
        # wait_for_ready waits for the stdin handshake, watched from before the connect.
        self.stdin = self._socket(zmq.DEALER, identity)
        self._stdin_monitor: Any = self.stdin.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.stdin.connect(channel_url(self.info, "stdin"))
        self.iopub = self._connect("iopub", zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.hb = self._connect("hb", zmq.REQ)
        #: The sockets messages arrive on, and their channel names.
        self._channels = {
            self.shell: "shell",
            self.control: "control",
            self.stdin: "stdin",
            self.iopub: "iopub",
        }
        self.closed = False

    def _socket(self, kind: int, identity: bytes | None = None) -> Any:
        socket = self._context.socket(kind)
        socket.linger = 0
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
