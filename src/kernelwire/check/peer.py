"""The checker's side of the wire: raw ZeroMQ sockets to the five channels and a log of
everything the kernel sent, filed by parent.

Not a kernelwire client: a client hides what a checker must see (messages it cannot match,
duplicate replies, what arrives after a reply), and a checker must be able to send frames no
client would. Every message received passes through :meth:`Peer._file`, where the validator
runs (see :mod:`kernelwire.check.validate`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import zmq

from ..connect import channel_url, session_from_connection_info
from ..session import Session
from .validate import Validator

DELIM = b"<IDS|MSG>"
REQUEST_CHANNELS = ("shell", "control", "stdin")
RAW_KEPT = 1000


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def request_header(msg_type: str, session_id: str, **fields: Any) -> dict[str, Any]:
    """A request header; ``fields`` add to it (``subshell_id``) or override it."""
    return {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": "kernelwire-check",
        "session": session_id,
        "date": now_iso(),
        "version": "5.4",
        **fields,
    }


def packed_parts(
    header: dict[str, Any], content: dict[str, Any], parent: dict[str, Any] | None = None
) -> list[bytes]:
    """The four signed parts of a message, as JSON bytes."""
    return [json.dumps(part, default=_iso).encode() for part in (header, parent or {}, {}, content)]


def _iso(value: Any) -> str:
    """Dates (a received header's, as parsed) back to ISO 8601 text."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


@dataclass
class Sent:
    """A request the checker sent, and where."""

    channel: str
    msg_type: str
    msg_id: str
    #: Whether its IOPub framing (busy ... idle) is checked at the end of the run.
    framed: bool = True


@dataclass
class Exchange:
    """A request and what answered it."""

    sent: Sent
    reply: dict[str, Any] | None
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def content(self) -> dict[str, Any]:
        return self.reply["content"] if self.reply else {}

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [msg for msg in self.outputs if msg["header"].get("msg_type") == msg_type]


class Peer:
    """Sockets to a kernel from its connection info, and what it sent on them."""

    def __init__(self, info: dict[str, Any], validator: Validator, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.session_id = uuid.uuid4().hex
        self._validator = validator
        self.context: zmq.Context[Any] = zmq.Context()
        self.sockets: dict[str, zmq.Socket[Any]] = {}
        #: Whether the kernel process still runs (always True when it is not ours).
        self.alive: Callable[[], bool] = lambda: True
        self.connect(info)
        #: Every IOPub message, in arrival order.
        self.iopub: list[dict[str, Any]] = []
        #: IOPub messages by parent msg_id.
        self.outputs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        #: Replies (shell, control) and stdin requests by parent msg_id.
        self.replies: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        #: Requests sent, in order.
        self.sent: list[Sent] = []
        #: "channel msg_type: problem" for each received message the validator faulted.
        self.invalid: list[str] = []
        #: The same after malformed messages were sent: a kernel that echoes one (its bad
        #: header as a parent header) or publishes for it is judged by the security checks.
        self.invalid_after_malformed: list[str] = []
        #: Messages that could not be read (bad signature, not the wire format).
        self.unreadable: list[str] = []
        #: Set once the checker has sent malformed messages: what is unreadable after that
        #: may echo them (a parent header that is a list) and is kept apart.
        self.malformed_sent = False
        self.unreadable_after_malformed: list[str] = []
        #: How many messages arrived (so the validation check can say how many it saw).
        self.received = 0
        #: The iopub_welcome, when one came.
        self.welcome: dict[str, Any] | None = None
        #: The frames of IOPub messages as received, by msg_id (the first RAW_KEPT), for
        #: the reflection check: only the kernel's own signed frames can be reflected.
        self.raw_iopub: dict[str, list[bytes]] = {}
        #: msg_ids of what the security checks sent: their answers are no strays.
        self.probe_ids: set[str] = set()
        #: Answers input_request on stdin: prompt -> the value to reply (None: no reply).
        self.answer_input: Callable[[dict[str, Any]], str | None] = lambda msg: None

    def connect(self, info: dict[str, Any]) -> None:
        """(Re)connect to the kernel of ``info``: a restarted kernel keeps the log."""
        for sock in self.sockets.values():
            sock.close()
        self.info = info
        self.session: Session = session_from_connection_info(info)
        for channel in REQUEST_CHANNELS:
            # One identity on shell and stdin: kernels send input_request to the
            # identity that sent the execute_request.
            self.sockets[channel] = self.socket(
                zmq.DEALER, channel, identity=self.session_id.encode()
            )
        iopub = self.socket(zmq.SUB, "iopub")
        iopub.subscribe(b"")
        self.sockets["iopub"] = iopub
        self.poller = zmq.Poller()
        for sock in self.sockets.values():
            self.poller.register(sock, zmq.POLLIN)
        self.channel_of = {sock: channel for channel, sock in self.sockets.items()}

    def socket(self, kind: int, channel: str, identity: bytes = b"") -> zmq.Socket[Any]:
        """A socket connected to ``channel``, which never lingers nor blocks a send long."""
        sock = self.context.socket(kind)
        if identity:
            sock.identity = identity
        sock.linger = 0
        sock.sndtimeo = int(self.timeout * 1000)
        sock.connect(channel_url(self.info, channel))
        return sock

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.context.term()

    # ------------------------------------------------------------------------ receiving

    def poll(self, timeout: float) -> bool:
        """Read and file whatever arrives within ``timeout`` seconds; whether anything did."""
        events = dict(self.poller.poll(max(0, int(timeout * 1000))))
        for sock in events:
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._file(self.channel_of[sock], frames)
        return bool(events)

    def _file(self, channel: str, frames: list[bytes]) -> None:
        self.received += 1
        try:
            _, rest = self.session.feed_identities(frames)
            msg = self.session.deserialize(rest)
        except Exception as exc:  # what the kernel sent is not a message we can read
            problem = f"{channel}: {type(exc).__name__}: {exc}"
            if self.malformed_sent:
                self.unreadable_after_malformed.append(problem)
            else:
                self.unreadable.append(problem)
            return
        msg_type = msg["header"].get("msg_type")
        problems = [f"{channel} {msg_type}: {problem}" for problem in self._validator(msg)]
        if self.malformed_sent:
            self.invalid_after_malformed += problems
        else:
            self.invalid += problems
        parent = msg.get("parent_header") or {}
        parent_id = parent.get("msg_id") if isinstance(parent, dict) else None
        if channel == "iopub":
            if msg_type == "iopub_welcome" and self.welcome is None:
                self.welcome = msg
            self.iopub.append(msg)
            if len(self.raw_iopub) < RAW_KEPT:
                self.raw_iopub[msg["header"].get("msg_id")] = frames
            if parent_id:
                self.outputs[parent_id].append(msg)
            return
        self.replies[str(parent_id)].append((channel, msg))
        if channel == "stdin" and msg_type == "input_request":
            value = self.answer_input(msg)
            if value is not None:
                self.send("stdin", "input_reply", {"value": value}, parent=msg["header"])

    # -------------------------------------------------------------------------- sending

    def send(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any],
        *,
        parent: dict[str, Any] | None = None,
        framed: bool = True,
        **header_fields: Any,
    ) -> Sent:
        """Send a signed request; ``header_fields`` go into its header."""
        header = request_header(msg_type, self.session_id, **header_fields)
        parts = packed_parts(header, content, parent)
        self.send_frames(channel, [DELIM, self.session.sign(parts), *parts])
        sent = Sent(channel, msg_type, header["msg_id"], framed and channel != "stdin")
        self.sent.append(sent)
        return sent

    def send_frames(self, channel: str, frames: list[Any]) -> None:
        """Send raw frames (for the checks that send what a kernel must refuse)."""
        self.sockets[channel].send_multipart(frames, copy=len(frames) < 8)

    def reply_to(self, msg_id: str) -> dict[str, Any] | None:
        """The first shell/control reply to ``msg_id``."""
        for channel, msg in self.replies.get(msg_id, []):
            if channel != "stdin":
                return msg
        return None

    def is_idle_after(self, msg_id: str) -> bool:
        return any(
            msg["header"].get("msg_type") == "status"
            and msg["content"].get("execution_state") == "idle"
            for msg in self.outputs.get(msg_id, [])
        )

    def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Poll until ``done()`` or ``timeout`` seconds; whether ``done()`` came true."""
        deadline = time.monotonic() + timeout
        while not done():
            if not self.alive():
                self.poll(0.05)  # what it sent before it died
                return done()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.poll(min(left, 0.1))
        return True

    def quiet(self, seconds: float) -> None:
        """Collect what arrives for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.poll(min(left, 0.1))

    def idle_grace(self) -> float:
        """How long to wait for idle after a reply: kernels that never publish a status
        (seen so far) get a short wait, so checking them does not take minutes."""
        sends_status = any(msg["header"].get("msg_type") == "status" for msg in self.iopub)
        return min(self.timeout, 3.0) if sends_status else 0.3

    def request(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any],
        timeout: float | None = None,
        framed: bool = True,
        **header_fields: Any,
    ) -> Exchange:
        """Send a request and wait for its reply and then its idle (each bounded)."""
        sent = self.send(channel, msg_type, content, framed=framed, **header_fields)
        self.wait(lambda: self.reply_to(sent.msg_id) is not None, timeout or self.timeout)
        if self.reply_to(sent.msg_id) is not None:
            self.wait(lambda: self.is_idle_after(sent.msg_id), self.idle_grace())
        return Exchange(sent, self.reply_to(sent.msg_id), self.outputs.get(sent.msg_id, []))

    def heartbeat(self, timeout: float) -> bool:
        """Whether the heartbeat echoes a ping within ``timeout`` seconds."""
        sock = self.socket(zmq.REQ, "hb")
        try:
            ping = uuid.uuid4().bytes
            sock.send(ping)
            return bool(sock.poll(int(timeout * 1000))) and sock.recv() == ping
        finally:
            sock.close()

    def wait_ready(self, timeout: float) -> Exchange | None:
        """Nudge with kernel_info until it replies and IOPub delivers (the subscription is
        up: nothing published is lost from then on); the last exchange, None if no reply."""
        deadline = time.monotonic() + timeout
        exchange = None
        replied_at: float | None = None
        while time.monotonic() < deadline:
            # Not framed: busy may be published before the subscription is up.
            exchange = self.request("shell", "kernel_info_request", {}, timeout=1.0, framed=False)
            if exchange.reply is not None:
                replied_at = replied_at or time.monotonic()
                if self.iopub or time.monotonic() - replied_at > 3.0:
                    return exchange
        return exchange if exchange and exchange.reply else None
