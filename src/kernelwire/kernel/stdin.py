"""``input()`` and ``getpass.getpass()`` for user code, answered over the stdin channel.

The kernel asks the frontend that sent the running ``execute_request``: it sends
``input_request`` on its stdin ROUTER to that client's identities and blocks until an
``input_reply`` comes. A frontend that set ``allow_stdin: false`` gets
:class:`StdinNotImplementedError` raised in the user code instead.

The socket belongs to the main thread. Messages that arrive while no ``input()`` waits
answer nothing: the shell loop reads and discards them whenever it is idle, and
``input()`` discards what came before its request, so the kernel holds at most
``stdin_rcvhwm`` of them per connection (while a cell runs), not whatever a peer sends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import zmq

from ..errors import WireError
from ..protocol import EOF_INPUT
from ..session import Session

log = logging.getLogger("kernelwire.kernel")


class StdinNotImplementedError(NotImplementedError):
    """Raised by ``input()`` when the frontend cannot answer input requests."""


class StdinChannel:
    """Input requests for the cell running in the main thread."""

    def __init__(self, socket: zmq.Socket[Any], session: Session) -> None:
        self.socket = socket
        self.session = session
        self.idents: list[bytes] = []
        self.parent: dict[str, Any] = {}
        self.allowed = False
        #: Called before prompting, so output printed before ``input()`` shows first.
        self.before_request: Callable[[], None] = lambda: None
        #: Wraps the send of ``input_request``, so that no interrupt cuts it in half.
        self.guard: Callable[[], AbstractContextManager[Any]] = nullcontext

    def begin(self, idents: list[bytes], parent: dict[str, Any], allowed: bool) -> None:
        """Route the next input requests to the sender of ``parent``."""
        self.idents, self.parent, self.allowed = idents, parent, allowed

    def end(self) -> None:
        self.begin([], {}, False)

    def request(self, prompt: str = "", password: bool = False) -> str:
        """Ask the frontend for a line of input and return it (without newline)."""
        if threading.current_thread() is not threading.main_thread():  # a subshell's too
            raise StdinNotImplementedError("input() works only in the kernel's main thread")
        if not self.allowed:
            raise StdinNotImplementedError(
                "input() is not available: the frontend does not support input requests "
                "(allow_stdin is false)"
            )
        self.before_request()
        # Replies to an earlier, abandoned request must not answer this one.
        self.discard_unexpected()
        with self.guard():
            self.session.send(
                self.socket,
                "input_request",
                {"prompt": str(prompt), "password": bool(password)},
                parent=self.parent,
                ident=self.idents,
            )
        while True:
            frames = self.socket.recv_multipart(copy=False)
            try:
                _idents, msg_list = self.session.feed_identities(frames)
                reply = self.session.deserialize(msg_list)
            except WireError as exc:
                log.warning("dropped a message on stdin: %s", exc)
                continue
            if reply["msg_type"] != "input_reply":
                log.warning("ignored %s on stdin while waiting for input_reply", reply["msg_type"])
                continue
            content = reply["content"]
            if not isinstance(content, dict) or not isinstance(content.get("value"), str):
                log.warning(
                    "ignored an input_reply whose content has no str 'value': %.200r", content
                )
                continue
            value = content["value"]
            if value == EOF_INPUT:  # the frontend's input ended (Ctrl-D, stdin at EOF)
                raise EOFError("EOF when reading a line")
            return value

    def discard_unexpected(self) -> None:
        """Read and drop what waits on stdin: nothing asked for it (no ``input()`` waits)."""
        count = 0
        while True:
            try:
                self.socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            count += 1
        if count:
            log.warning("discarded %d message(s) on stdin: no input() was waiting", count)

    def input(self, prompt: Any = "") -> str:
        """The ``builtins.input`` replacement."""
        return self.request(str(prompt), password=False)

    def getpass(self, prompt: str = "Password: ", stream: Any = None) -> str:
        """The ``getpass.getpass`` replacement."""
        return self.request(prompt, password=True)
