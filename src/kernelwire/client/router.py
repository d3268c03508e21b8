"""The part of a client that does no I/O: builds requests and files what comes back.

The blocking and the asyncio clients own sockets and waiting; this class decides, for each
received message, which request it answers, so both clients match replies and IOPub
outputs to requests (by parent ``msg_id``) in exactly the same way.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DuplicateSignature, WireError
from ..protocol import EOF_INPUT, reply_type
from ..wire import feed_identities
from .errors import KernelTimeout, MessageRefused
from .requests import Request
from .results import Comm

if TYPE_CHECKING:
    from ..session import Session

OutputCallback = Callable[[dict[str, Any]], None]
#: ``input_handler(prompt, password) -> str``: answers the kernel's ``input_request``.
InputHandler = Callable[[str, bool], Any]

#: How many requests are remembered for late replies and outputs.
TRACKED_REQUESTS = 256
#: Default bound, in seconds, for requests other than execute.
REQUEST_TIMEOUT = 60.0
#: Between heartbeats while waiting for a kernel we did not start (seconds).
HEARTBEAT_INTERVAL = 1.0
#: Longest wait between checks that the kernel still lives (seconds).
WAIT_SLICE = 0.25
#: How long wait_for_ready waits for IOPub before it asks kernel_info again (seconds).
IOPUB_RETRY = 0.5
#: How many messages the blocking client reads from one socket before it checks its
#: deadline and the kernel again.
PUMP_BATCH = 100
#: How many IOPub messages are held for requests no call is waiting for (say, after an
#: execute timed out): the newest are kept, and handed over when a wait for the request
#: (``collect_outputs``) begins. A kernel flooding output cannot grow a client without bound.
UNCLAIMED_OUTPUTS = 10_000

log = logging.getLogger("kernelwire.client")


def _str_id(msg: dict[str, Any], where: str, value: Any) -> str | None:
    """``value`` if it is a str id (or None); else None, with a warning: a validly signed
    message may still carry a list there, which names no request or comm (and is not even
    hashable, so it cannot be looked up)."""
    if value is None or isinstance(value, str):
        return value
    log.warning(
        "%s from the kernel has a %s %s, not a str: it belongs to no request or comm",
        msg.get("msg_type"),
        type(value).__name__,
        where,
    )
    return None


def input_prompt(input_request: dict[str, Any]) -> tuple[str, bool]:
    """The ``(prompt, password)`` an input handler is called with."""
    content = input_request["content"]
    return content.get("prompt", ""), bool(content.get("password"))


def _log_once(count: int, message: str, *args: Any) -> None:
    """A warning for the first drop of a kind, debug lines after it: a peer repeating
    itself must not flood the log (the router's counters hold the totals)."""
    log.log(logging.WARNING if count == 1 else logging.DEBUG, message, *args)


def _call_hook(name: str, hook: Callable[..., Any], *args: Any) -> None:
    """Call a hook for messages no request waits for: what it raises is logged, for there
    is no call to raise it in, and the message is filed all the same."""
    try:
        hook(*args)
    except Exception:
        log.exception("%s raised; the message is filed all the same", name)


def _not_ready_message(timeout: float, alive: bool) -> str:
    """Why wait_for_ready gave up, judging by whether the heartbeat answers."""
    if not alive:
        return f"the kernel answered neither kernel_info_request nor heartbeats in {timeout:g} s."
    return (
        f"the kernel answers heartbeats but sent no kernel_info_reply in {timeout:g} s: it "
        "is busy, or refuses our messages (check that the key and signature_scheme match)."
    )


@dataclass
class Exchange:
    """One request and what has come back for it so far."""

    msg_id: str
    msg_type: str
    wants_reply: bool
    wants_idle: bool
    output_callback: OutputCallback | None = None
    input_handler: InputHandler | None = None
    reply: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    idle: bool = False
    #: What the output callback (or input handler) raised, until the wait for this
    #: request raises it.
    failure: Exception | None = None
    #: How many calls wait for this request now; its outputs go to ``outputs`` only while
    #: one does (else to the router's bounded ``unclaimed``).
    waiters: int = 0

    @property
    def done(self) -> bool:
        return (self.reply is not None or not self.wants_reply) and (
            self.idle or not self.wants_idle
        )

    @property
    def awaited(self) -> str:
        """What completes this exchange, for timeout messages."""
        reply = reply_type(self.msg_type) or self.msg_type
        if not self.wants_idle:
            return reply
        return (
            f"{reply} and idle status" if self.wants_reply else f"idle status for {self.msg_type}"
        )

    @property
    def final_reply(self) -> dict[str, Any]:
        """The reply of a done exchange that wanted one."""
        assert self.reply is not None
        return self.reply

    def progress(self) -> str:
        """What has come back so far, for timeout messages."""
        got = "the reply" if self.reply is not None else "no reply"
        idle = ", idle" if self.idle else ""
        return f"got {got}{idle} and {len(self.outputs)} IOPub message(s) for {self.msg_type}"


class BoundedWait:
    """The bookkeeping of one wait for an exchange, shared by both clients: its time limit
    (``timeout`` None: no limit, but the kernel's death or a refused reply still ends it)
    and the count of replies refused before it began."""

    def __init__(
        self, router: MessageRouter, exchange: Exchange, timeout: float | None, what: str
    ) -> None:
        self.router = router
        self.exchange = exchange
        self.timeout = timeout
        self.what = what
        self.started = time.monotonic()
        self.refused_before = router.refused_replies
        exchange.waiters += 1
        router.claim(exchange)

    def finished(self) -> bool:
        """Whether the exchange is done; first raises (once) what its output callback
        raised, so the error reaches the call that the callback belongs to."""
        failure = self.exchange.failure
        if failure is not None:
            self.exchange.failure = None
            raise failure
        return self.exchange.done

    def end(self) -> None:
        """The wait is over, however it ended: later outputs count as unclaimed."""
        self.exchange.waiters -= 1

    def check_refusals(self) -> None:
        """Raise MessageRefused when waiting has become futile (see
        ``MessageRouter.check_refusals``)."""
        self.router.check_refusals(self.refused_before, self.what)

    def next_slice(self) -> float:
        """How long to wait for messages before checking again; KernelTimeout when the
        time is up."""
        if self.timeout is None:
            return WAIT_SLICE
        remaining = self.started + self.timeout - time.monotonic()
        if remaining <= 0:
            raise KernelTimeout(
                f"no {self.what} within {self.timeout:g} s ({self.exchange.progress()})."
                + self.router.refusal_report(),
                msg_id=self.exchange.msg_id,
            )
        return min(remaining, WAIT_SLICE)


@dataclass
class Refusal:
    """A received message that failed verification or could not be parsed."""

    channel: str
    error: WireError


class MessageRouter:
    """Requests in, frames out; frames in, filed under the request they answer."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.exchanges: OrderedDict[str, Exchange] = OrderedDict()
        self.comms: dict[str, Comm] = {}
        #: Every refused message, counted, and the last one kept for the error report.
        self.refused = 0
        self.refused_replies = 0
        self.accepted = 0
        self.last_refusal: Refusal | None = None
        #: True once any valid IOPub message arrived: the subscription is live.
        self.iopub_live = False
        #: ``(parent msg_id, message)`` of IOPub messages for requests no call waits for:
        #: the newest ``unclaimed_limit`` (``UNCLAIMED_OUTPUTS``) of them.
        self.unclaimed: deque[tuple[str, dict[str, Any]]] = deque()
        self.unclaimed_limit = UNCLAIMED_OUTPUTS
        #: How many unclaimed messages were dropped for the limit.
        self.dropped_unclaimed = 0
        #: Replies dropped because their request already had one (the first one stands),
        #: and validly signed copies of messages already received.
        self.duplicate_replies = 0
        self.replayed = 0
        #: Called with ``(comm, comm_open message)`` for each comm the kernel opens; while
        #: it is None such comms are not tracked.
        self.on_comm_open: Callable[[Comm, dict[str, Any]], Any] | None = None
        #: Called with each IOPub message whose parent is no recent request of this
        #: client: another client's traffic, or the kernel's own.
        self.on_other_iopub: OutputCallback | None = None

    def request(
        self,
        request: Request,
        *,
        output_callback: OutputCallback | None = None,
        input_handler: InputHandler | None = None,
    ) -> tuple[Exchange, list[Any]]:
        """A new request: its ``Exchange`` and the frames to send."""
        msg = self.session.msg(request.msg_type, request.content, metadata=request.metadata)
        if request.subshell_id is not None:
            msg["header"]["subshell_id"] = request.subshell_id
        frames: list[Any] = self.session.serialize(msg)
        if request.buffers:
            frames.extend(request.buffers)
        exchange = Exchange(
            msg["msg_id"],
            request.msg_type,
            request.wants_reply,
            request.wants_idle,
            output_callback,
            input_handler,
        )
        self.exchanges[exchange.msg_id] = exchange
        while len(self.exchanges) > TRACKED_REQUESTS:
            self.exchanges.popitem(last=False)
        return exchange, frames

    def wait(self, exchange: Exchange, timeout: float | None, what: str | None) -> BoundedWait:
        """Start a wait for ``exchange``; ``what`` it waits for defaults to what completes it."""
        return BoundedWait(self, exchange, timeout, what or exchange.awaited)

    def exchange(self, msg_id: str) -> Exchange:
        """The exchange of a recent request (KeyError for an unknown or forgotten one)."""
        exchange = self.exchanges.get(msg_id)
        if exchange is None:
            raise KeyError(f"no recent request has msg_id {msg_id!r}")
        return exchange

    def claim(self, exchange: Exchange) -> None:
        """Move the unclaimed messages of ``exchange`` to its outputs, in arrival order."""
        if not any(parent_id == exchange.msg_id for parent_id, _ in self.unclaimed):
            return
        others: deque[tuple[str, dict[str, Any]]] = deque()
        for parent_id, msg in self.unclaimed:
            if parent_id == exchange.msg_id:
                exchange.outputs.append(msg)
            else:
                others.append((parent_id, msg))
        self.unclaimed = others

    def open_comm(self, request: Request) -> Comm:
        """The ``Comm`` a ``comm_open`` request opens, filed before it is sent so
        that no kernel message on it can arrive unseen."""
        content = request.content
        comm = Comm(content["comm_id"], content["target_name"], "")
        self.comms[comm.comm_id] = comm
        return comm

    def input_handler_for(
        self, input_request: dict[str, Any], default: InputHandler | None
    ) -> InputHandler | None:
        """Who answers ``input_request``: the handler of the request that caused it, else
        ``default`` (the client's)."""
        parent_id = _str_id(
            input_request, "parent_header.msg_id", input_request["parent_header"].get("msg_id")
        )
        exchange = self.exchanges.get(parent_id) if parent_id else None
        handler = exchange.input_handler if exchange is not None else None
        return handler or default

    def input_failed(self, input_request: dict[str, Any], error: Exception) -> bool:
        """File what an input handler raised with the request that caused
        ``input_request``, for its wait to raise; False when no recent request did."""
        exchange = self.exchanges.get(input_request["parent_header"].get("msg_id", ""))
        if exchange is None:
            return False
        exchange.failure = error
        return True

    def input_reply(self, input_request: dict[str, Any], value: str) -> list[Any]:
        """The frames answering ``input_request`` on the stdin channel."""
        msg = self.session.msg("input_reply", {"value": value}, parent=input_request)
        return self.session.serialize(msg)

    def receive(self, channel: str, frames: list[Any]) -> dict[str, Any] | None:
        """Verify and file one message; returns it, or None when it was refused or dropped."""
        try:
            _, msg_list = feed_identities(frames)
            msg = self.session.deserialize(msg_list)
        except DuplicateSignature:
            # Validly signed, so no sign of a wrong key: a resent copy of a message already
            # handled. Counted as refused, it would fail whichever wait it lands in.
            self.replayed += 1
            _log_once(self.replayed, "dropped a replayed message on %s", channel)
            return None
        except WireError as exc:
            self.refused += 1
            if channel in ("shell", "control"):
                self.refused_replies += 1
            self.last_refusal = Refusal(channel, exc)
            return None
        self.accepted += 1
        parent_id = _str_id(msg, "parent_header.msg_id", msg["parent_header"].get("msg_id"))
        exchange = self.exchanges.get(parent_id) if parent_id else None
        if channel == "iopub":
            self.iopub_live = True
            self._file_output(msg, exchange)
        elif channel in ("shell", "control") and exchange is not None:
            if exchange.reply is not None:
                # The first reply stands, however late the second arrives.
                self.duplicate_replies += 1
                _log_once(
                    self.duplicate_replies,
                    "dropped a second %s on %s for request %s (the first reply stands)",
                    msg["msg_type"],
                    channel,
                    exchange.msg_id,
                )
                return None
            exchange.reply = msg
        return msg

    def _file_output(self, msg: dict[str, Any], exchange: Exchange | None) -> None:
        content = msg["content"]
        msg_type = msg["msg_type"]
        if msg_type == "comm_open" and self.on_comm_open is not None:
            self._kernel_opened_comm(msg, self.on_comm_open)
        elif msg_type in ("comm_msg", "comm_close"):
            comm_id = _str_id(msg, "content.comm_id", content.get("comm_id"))
            comm = self.comms.get(comm_id) if comm_id else None
            if comm is not None:
                self._file_comm_message(comm, msg)
        if exchange is None:
            if self.on_other_iopub is not None:
                _call_hook("on_other_iopub", self.on_other_iopub, msg)
            return
        if exchange.waiters:
            exchange.outputs.append(msg)
        else:
            self._hold_unclaimed(exchange.msg_id, msg)
        if msg["msg_type"] == "status" and content.get("execution_state") == "idle":
            exchange.idle = True
        callback = exchange.output_callback
        if callback is not None:
            try:
                callback(msg)
            except Exception as exc:
                # Kept for the wait of this request to raise, once (not for whichever wait
                # is reading now); later outputs of the request are only kept.
                exchange.output_callback = None
                exchange.failure = exc
            except BaseException:
                exchange.output_callback = None
                raise

    def _kernel_opened_comm(
        self, msg: dict[str, Any], on_comm_open: Callable[[Comm, dict[str, Any]], Any]
    ) -> None:
        content = msg["content"]
        comm_id = _str_id(msg, "content.comm_id", content.get("comm_id"))
        target_name = content.get("target_name")
        if not comm_id or not isinstance(target_name, str):
            log.warning("comm_open from the kernel without a str comm_id and target_name")
            return
        comm = Comm(comm_id, target_name, msg["msg_id"], opened_by_kernel=True)
        self.comms[comm_id] = comm
        _call_hook("on_comm_open", on_comm_open, comm, msg)

    def _file_comm_message(self, comm: Comm, msg: dict[str, Any]) -> None:
        comm.received.append(msg)
        if msg["msg_type"] == "comm_close":
            comm.closed = True
            if comm.opened_by_kernel:
                # Nobody sends on it any more: forgotten, so that comms come and go unbounded.
                self.comms.pop(comm.comm_id, None)
        if comm.on_message is not None:
            _call_hook("a comm's on_message", comm.on_message, msg)

    def _hold_unclaimed(self, parent_id: str, msg: dict[str, Any]) -> None:
        self.unclaimed.append((parent_id, msg))
        while len(self.unclaimed) > self.unclaimed_limit:
            self.dropped_unclaimed += 1
            _log_once(
                self.dropped_unclaimed,
                "more than %d IOPub messages arrived for requests no call waits for: "
                "the oldest are dropped",
                self.unclaimed_limit,
            )
            self.unclaimed.popleft()

    def check_refusals(self, replies_refused_before: int, what: str) -> None:
        """Raise MessageRefused when a reply was refused since the count was
        ``replies_refused_before``, or when messages were refused and none accepted yet:
        either way the key (or scheme) differs from the kernel's, and waiting is futile."""
        if self.refused_replies == replies_refused_before and (self.accepted or not self.refused):
            return
        refusal = self.last_refusal
        raise MessageRefused(
            f"a message from the kernel failed verification while waiting for {what}."
            + self.refusal_report()
        ) from (refusal.error if refusal else None)

    def not_ready_error(self, timeout: float, alive: bool, msg_id: str | None) -> KernelTimeout:
        """Why wait_for_ready gave up waiting for kernel_info_reply."""
        return KernelTimeout(_not_ready_message(timeout, alive) + self.refusal_report(), msg_id)

    def refusal_report(self) -> str:
        """A sentence about refused messages, for error messages ("" when none)."""
        last = self.last_refusal
        if last is None:
            return ""
        return (
            f" {self.refused} message(s) from the kernel were refused; the last, on "
            f"{last.channel}: {type(last.error).__name__}: {last.error}. Check that the "
            "key and signature_scheme match the kernel's."
        )


__all__ = [
    "EOF_INPUT",
    "HEARTBEAT_INTERVAL",
    "IOPUB_RETRY",
    "PUMP_BATCH",
    "REQUEST_TIMEOUT",
    "TRACKED_REQUESTS",
    "UNCLAIMED_OUTPUTS",
    "WAIT_SLICE",
    "BoundedWait",
    "Exchange",
    "InputHandler",
    "MessageRouter",
    "OutputCallback",
    "input_prompt",
]
