"""A kernel and a client wired together in memory, to test kernels in microseconds.

In the spirit of h11's ``ConnectionPair``: :class:`KernelPair` makes a kernel of any
:class:`~.base.KernelBase` subclass whose sockets are in-memory queues, and a client
Session with the same key. What the client sends is signed and serialized as on the wire,
and the kernel's dispatch receives those frames exactly as from a ROUTER socket; what the
kernel sends (replies, IOPub, input requests) is kept as frames and read back by the
client Session. Verification, validation, busy/idle framing, ``execute_input``, aborts,
interrupts, comms and stdin thus run as with sockets, but on the calling thread, in order,
without processes, threads or sockets.

Shell requests wait in the kernel's queue until :meth:`KernelPair.run` handles them, as the
shell loop would, so a test can queue several before a failing cell aborts them. Control
requests are handled at once when sent, as the control thread does even while a cell runs:
a hook may call :meth:`KernelPair.send` on control (an ``interrupt_request``) in the middle
of a cell. An interrupt is then delivered as SIGINT would be, as soon as the control request
is answered: ``KeyboardInterrupt`` raised in the hook, where ``send`` returns.

Requests for a subshell (``subshell_id`` in the header, see :mod:`.subshells`) go to that
subshell's thread as soon as they are sent, as the shell router would route them: they run
concurrently with the test, which waits for their replies (:meth:`KernelPair.receive`).

The pair does not call :meth:`~.base.KernelBase.run`: nothing process-wide is changed
(``print`` in a :class:`~.kernel.PythonKernel` cell goes to the real ``sys.stdout``).
Input requests (``raw_input``) must come from the main thread, as in a real kernel.
"""

from __future__ import annotations

import signal
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Generic, TypeVar

import zmq

from ..connect import session_from_connection_info
from ..protocol import CHANNELS
from ..session import Session
from .base import KernelBase
from .channels import KernelIO

K = TypeVar("K", bound=KernelBase)
#: ``input_handler(prompt, password)``: the answer to an ``input_request``.
InputHandler = Callable[[str, bool], str]

CLIENT_IDENTITY = b"memory-client"


class MemorySocket:
    """One end of an in-memory ROUTER: ``inbox`` holds what the kernel will receive,
    ``sent`` what it sent (frames as bytes), unless ``on_send`` takes each message."""

    def __init__(self, on_send: Callable[[list[bytes]], None] | None = None) -> None:
        self.inbox: deque[list[bytes]] = deque()
        self.sent: deque[list[bytes]] = deque()
        self.on_send = on_send

    def send_multipart(
        self, frames: list[Any], flags: int = 0, copy: bool = True, track: bool = False
    ) -> None:
        message = [bytes(frame) for frame in frames]
        if self.on_send is None:
            self.sent.append(message)
        else:
            self.on_send(message)

    def recv_multipart(self, flags: int = 0, copy: bool = True) -> list[bytes]:
        if self.inbox:
            return self.inbox.popleft()
        if flags & zmq.NOBLOCK:
            raise zmq.Again()
        raise RuntimeError("the kernel waits for a message that nobody will send (in memory)")

    def close(self) -> None:
        """Nothing to release."""


class MemoryIOPub:
    """The kernel's IOPub in memory: each message published is signed and kept in ``sent``
    (subscriptions do not exist here, so there is no ``iopub_welcome``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.socket = MemorySocket()
        self.guard: Callable[[], AbstractContextManager[Any]] = nullcontext
        self._topic_prefix = f"kernel.{session.session}."

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None = None,
        topic: str | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        direct: bool = False,
    ) -> None:
        """Send at once (``direct`` is for IOPubChannel's signature: nothing is queued)."""
        ident = (self._topic_prefix + msg_type if topic is None else topic).encode()
        with self.guard():
            self.session.send(
                self.socket,
                msg_type,
                content,
                parent=parent,
                ident=ident,
                metadata=metadata,
                buffers=buffers,
            )

    def flush(self, timeout: float = 10.0) -> bool:
        return True  # published is delivered


class KernelPair(Generic[K]):
    """A ``kernel_class`` kernel and a client Session talking through memory."""

    def __init__(
        self,
        kernel_class: type[K],
        input_handler: InputHandler | None = None,
        **kernel_kwargs: Any,
    ) -> None:
        # What a connection file holds; the ports are never bound (connect_request shows them).
        info: dict[str, Any] = {
            "transport": "tcp",
            "ip": "127.0.0.1",
            "key": uuid.uuid4().hex,
            "signature_scheme": "hmac-sha256",
            **{f"{channel}_port": port for port, channel in enumerate(CHANNELS, 1)},
        }
        #: Answers the kernel's input requests; None: ``raw_input`` fails with RuntimeError.
        self.input_handler = input_handler
        #: The input requests the kernel sent, in order.
        self.input_requests: list[dict[str, Any]] = []
        self.session = session_from_connection_info(info, username="memory-client")
        self._sockets = {
            "shell": MemorySocket(),
            "control": MemorySocket(),
            "stdin": MemorySocket(self._answer_input),
        }
        self._interrupt_sent = False
        self._iopub: MemoryIOPub | None = None
        self.kernel: K = kernel_class(connection_info=info, io=self._make_io, **kernel_kwargs)

    def _make_io(self, kernel: KernelBase) -> KernelIO:
        self._iopub = MemoryIOPub(kernel.session)
        sockets = self._sockets
        return KernelIO(
            sockets["shell"],
            sockets["control"],
            sockets["stdin"],
            self._iopub,
            self._interrupt,
            lambda: MemorySocket(sockets["shell"].sent.append),  # a subshell's replies
        )

    def _interrupt(self) -> None:
        self._interrupt_sent = True

    # ------------------------------------------------------------------ sending

    def send(
        self,
        msg_type: str,
        content: dict[str, Any] | None = None,
        channel: str = "shell",
        metadata: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Sign and send a message; returns it. On shell it waits for :meth:`run`; on
        control it is handled now (and an interrupt it asked for is delivered)."""
        msg = self.session.msg(msg_type, content, metadata=metadata)
        if header:
            msg["header"] = {**msg["header"], **header}
        self.send_frames(self.session.serialize(msg, ident=[CLIENT_IDENTITY]), channel)
        return msg

    def send_frames(self, frames: list[bytes], channel: str = "shell") -> None:
        """Hand the kernel frames as received on ``channel`` (forged or broken ones too)."""
        if channel == "shell":
            if not self.kernel.subshells.route(frames, self.kernel.shell):
                self._sockets["shell"].inbox.append(frames)
            return
        if channel != "control":
            raise ValueError(f"requests go to shell or control, not {channel!r}")
        kernel = self.kernel
        kernel._dispatch_guarded(kernel.control, kernel.control_handlers, frames, "control")
        if self._interrupt_sent:  # the signal lands in the main thread: here
            self._interrupt_sent = False
            kernel._on_sigint(signal.SIGINT, None)

    def run(self) -> int:
        """Handle the shell requests waiting, in order, as the shell loop does; returns how
        many were taken from the queue (requests aborted count as taken by their cell)."""
        kernel, shell, stdin = self.kernel, self._sockets["shell"], self._sockets["stdin"]
        handled = 0
        while shell.inbox:
            if stdin.inbox:
                kernel.stdin.discard_unexpected()
            kernel._dispatch_guarded(
                kernel.shell, kernel.shell_handlers, shell.inbox.popleft(), "shell"
            )
            handled += 1
        return handled

    def request(
        self, msg_type: str, content: dict[str, Any] | None = None, channel: str = "shell"
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Send one request, handle it, and return its reply (None if it got none) and the
        IOPub messages parented to it, status included."""
        msg = self.send(msg_type, content, channel)
        if channel == "shell":
            self.run()
        msg_id = msg["msg_id"]
        replies = [r for r in self.receive(channel) if r["parent_header"].get("msg_id") == msg_id]
        outputs = [m for m in self.receive("iopub") if m["parent_header"].get("msg_id") == msg_id]
        return (replies[0] if replies else None), outputs

    # ---------------------------------------------------------------- receiving

    def receive(self, channel: str) -> list[dict[str, Any]]:
        """The messages the kernel sent on ``channel`` (shell, control or iopub) since the
        last call, verified and deserialized by the client Session (input requests are in
        :attr:`input_requests`)."""
        if channel == "iopub":
            assert self._iopub is not None
            sent = self._iopub.socket.sent
        else:
            sent = self._sockets[channel].sent
        messages = []
        while sent:
            _idents, msg_list = self.session.feed_identities(sent.popleft())
            messages.append(self.session.deserialize(msg_list))
        return messages

    def _answer_input(self, frames: list[bytes]) -> None:
        """The frontend's side of stdin: answer each input_request with ``input_handler``."""
        _idents, msg_list = self.session.feed_identities(frames)
        request = self.session.deserialize(msg_list)
        self.input_requests.append(request)
        if self.input_handler is None:
            return
        value = self.input_handler(request["content"]["prompt"], request["content"]["password"])
        reply = self.session.msg("input_reply", {"value": value}, parent=request)
        self._sockets["stdin"].inbox.append(self.session.serialize(reply, [CLIENT_IDENTITY]))
