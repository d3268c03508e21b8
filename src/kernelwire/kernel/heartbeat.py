"""The heartbeat: a REP socket in its own thread that echoes every message at once.

It runs no Python per-message logic beyond the echo and never touches the Session, so it
keeps answering while user code holds the main thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import zmq


class Heartbeat:
    """Echoes each message on ``url`` until the context is terminated."""

    def __init__(
        self,
        context: zmq.Context[Any],
        url: str,
        secure: Callable[[zmq.Socket[Any]], object] = lambda socket: None,
    ) -> None:
        self._socket = context.socket(zmq.REP)
        secure(self._socket)  # CurveZMQ options go on before the bind
        self._socket.linger = 0
        self._socket.bind(url)
        #: Where it is bound (with port 0, the port the system chose).
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._thread = threading.Thread(target=self._run, name="kernelwire-hb", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        socket = self._socket
        try:
            while True:
                socket.send_multipart(socket.recv_multipart(copy=False), copy=False)
        except zmq.ContextTerminated:
            pass
        finally:
            socket.close()
