"""The sans-IO client core: everything a client decides, none of what it does.

Each client operation (execute, wait_for_ready, shutdown, answering ``input()``...) is a
*plan*: a generator that yields *effects* (send these frames, wait this long for messages,
ping the heartbeat, ask the input handler...) and returns the operation's result. The
blocking client performs each effect by blocking, the asyncio client by awaiting; both hand
what they receive to ``ClientCore.receive``. So state, the matching of replies and outputs
to requests (``MessageRouter``), deadlines, the input policy, heartbeat and refusal policy
live here once, and unit tests drive them with no socket. This module imports neither zmq
nor traitlets (the Session is only used through its ``msg``/``serialize``/``deserialize``).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ..protocol import EOF_INPUT
from . import requests
from .errors import KernelDied, KernelTimeout, SubshellError
from .requests import Request
from .results import Comm, ExecutionResult
from .router import (
    HEARTBEAT_INTERVAL,
    IOPUB_RETRY,
    Exchange,
    InputHandler,
    MessageRouter,
    OutputCallback,
    input_prompt,
)

if TYPE_CHECKING:
    from ..session import Session

T = TypeVar("T")


class ClientIO(Protocol):
    """What a client does for the core: each method returns its outcome (blocking client)
    or an awaitable of it (asyncio client)."""

    def _send_frames(self, channel: str, frames: list[Any]) -> Any: ...

    def _receive(self, seconds: float, ping: bool) -> Any: ...

    def is_alive(self, timeout: float = 1.0) -> Any: ...

    def _heartbeat_lost(self) -> Any: ...

    def _stdin_connected(self, timeout: float) -> Any: ...

    def _kernel_exit(self, timeout: float) -> Any: ...

    def _call_input_handler(self, handler: InputHandler, prompt: str, password: bool) -> Any: ...


class KernelProcessLike(Protocol):
    """The part of a ``KernelProcess`` the core asks about."""

    def is_running(self) -> bool: ...

    def describe_exit(self) -> str: ...


@dataclass(frozen=True)
class Send:
    """Send ``frames`` on ``channel`` (shell, control or stdin)."""

    channel: str
    frames: list[Any]

    def __call__(self, io: ClientIO) -> Any:
        return io._send_frames(self.channel, self.frames)


@dataclass(frozen=True)
class Receive:
    """Wait up to ``seconds`` for messages and hand each to ``ClientCore.receive``;
    ``ping``: a heartbeat ping is due (for a client that does not ping on its own)."""

    seconds: float
    ping: bool = False

    def __call__(self, io: ClientIO) -> Any:
        return io._receive(self.seconds, self.ping)


@dataclass(frozen=True)
class Ping:
    """Whether the heartbeat answers within ``timeout`` seconds (a bool)."""

    timeout: float

    def __call__(self, io: ClientIO) -> Any:
        return io.is_alive(self.timeout)


@dataclass(frozen=True)
class HeartbeatLost:
    """The ping went unanswered too long: a REQ socket still waiting for its answer can
    send no more, so the client replaces it."""

    def __call__(self, io: ClientIO) -> Any:
        return io._heartbeat_lost()


@dataclass(frozen=True)
class StdinConnected:
    """Whether the stdin channel finished its handshake within ``timeout`` (a bool)."""

    timeout: float

    def __call__(self, io: ClientIO) -> Any:
        return io._stdin_connected(self.timeout)


@dataclass(frozen=True)
class KernelExit:
    """Wait up to ``timeout`` seconds for the started kernel's process to end."""

    timeout: float

    def __call__(self, io: ClientIO) -> Any:
        return io._kernel_exit(self.timeout)


@dataclass(frozen=True)
class AskInput:
    """Call ``handler(prompt, password)`` (awaiting it if it returns an awaitable); its
    answer, or what it raised, goes back into the plan."""

    handler: InputHandler
    prompt: str
    password: bool

    def __call__(self, io: ClientIO) -> Any:
        return io._call_input_handler(self.handler, self.prompt, self.password)


Effect = Send | Receive | Ping | HeartbeatLost | StdinConnected | KernelExit | AskInput
#: An operation: yields effects, is sent each effect's outcome (or has what performing it
#: raised thrown in), returns the operation's result.
Plan = Generator[Effect, Any, T]


class Heartbeat:
    """When to ping, and when silence means death, for a kernel we did not start: dead
    when a ping has gone unanswered for ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.last_pong = time.monotonic()
        #: When the oldest unanswered ping went out (None: none is unanswered).
        self.ping_sent: float | None = None

    def ping_due(self, now: float) -> bool:
        return self.ping_sent is None and now - self.last_pong >= HEARTBEAT_INTERVAL

    def pinged(self, now: float) -> None:
        if self.ping_sent is None:
            self.ping_sent = now

    def answered(self, now: float) -> None:
        self.ping_sent = None
        self.last_pong = now

    def lost(self, now: float) -> bool:
        return self.ping_sent is not None and now - self.ping_sent > self.timeout

    def reset(self, now: float) -> None:
        """Start afresh (a new heartbeat socket): nothing is unanswered."""
        self.answered(now)


class ClientCore:
    """The state of one client's conversation with a kernel, and its operations as plans."""

    def __init__(
        self,
        session: Session,
        *,
        kernel: KernelProcessLike | None = None,
        heartbeat_timeout: float = 5.0,
        input_handler: InputHandler | None = None,
    ) -> None:
        self.router = MessageRouter(session)
        self.kernel = kernel
        self.heartbeat = Heartbeat(heartbeat_timeout)
        #: The client's default input handler (a request may bring its own).
        self.input_handler = input_handler
        self._debug_seq = 0

    def next_debug_seq(self) -> int:
        """The ``seq`` of the next Debug Adapter Protocol request: 1, 2, 3..."""
        self._debug_seq += 1
        return self._debug_seq

    # ------------------------------------------------------------------ what comes in

    def receive(self, channel: str, frames: list[Any]) -> Plan[None] | None:
        """File one received message; returns the plan that answers it when it asks for
        something (an ``input_request``), else None."""
        msg = self.router.receive(channel, frames)
        if msg is not None and channel == "stdin" and msg["msg_type"] == "input_request":
            return self.answer_input(msg)
        return None

    def answer_input(self, input_request: dict[str, Any]) -> Plan[None]:
        """Ask the handler of the request that caused ``input_request`` (else the client's)
        and always reply: a kernel left without an answer waits for input forever. No
        handler, or EOFError, is end of input; another error goes to that request's wait."""
        handler = self.router.input_handler_for(input_request, self.input_handler)
        value = EOF_INPUT
        failure: Exception | None = None
        if handler is not None:
            try:
                value = str((yield AskInput(handler, *input_prompt(input_request))))
            except EOFError:
                pass
            except Exception as exc:
                failure = exc
        yield Send("stdin", self.router.input_reply(input_request, value))
        if failure is not None and not self.router.input_failed(input_request, failure):
            raise failure

    # ------------------------------------------------------------------ building blocks

    def send(self, request: Request, **callbacks: Any) -> Plan[Exchange]:
        """Send ``request``; returns its exchange."""
        exchange, frames = self.router.request(request, **callbacks)
        yield Send(request.channel, frames)
        return exchange

    def check_kernel(self) -> Plan[None]:
        """Raise KernelDied if the kernel we started exited, or one we did not start has
        left a ping unanswered for ``heartbeat.timeout`` seconds."""
        if self.kernel is not None:
            if not self.kernel.is_running():
                raise KernelDied(self.kernel.describe_exit())
            return
        now = time.monotonic()
        if self.heartbeat.lost(now):
            yield HeartbeatLost()
            self.heartbeat.reset(now)
            raise KernelDied(
                f"the kernel did not answer a heartbeat within {self.heartbeat.timeout} s"
            )

    def wait(
        self, exchange: Exchange, timeout: float | None, what: str | None = None
    ) -> Plan[None]:
        """Receive until ``exchange`` is done; bounded by ``timeout`` seconds (None: no
        bound, but the kernel's death or a refused reply still ends the wait)."""
        wait = self.router.wait(exchange, timeout, what)
        try:
            while not wait.finished():
                wait.check_refusals()
                yield from self.check_kernel()
                ping = self.kernel is None and self.heartbeat.ping_due(time.monotonic())
                yield Receive(wait.next_slice(), ping)
        finally:
            wait.end()

    def ask(self, request: Request, timeout: float | None) -> Plan[dict[str, Any]]:
        """Send ``request`` and return its reply."""
        exchange = yield from self.send(request)
        yield from self.wait(exchange, timeout)
        return exchange.final_reply

    def notify(self, request: Request) -> Plan[str]:
        """Send ``request`` without waiting; returns its msg_id."""
        return (yield from self.send(request)).msg_id

    # ------------------------------------------------------------------ operations

    def wait_for_ready(self, timeout: float) -> Plan[dict[str, Any]]:
        """Repeat kernel_info_request until it is answered and some IOPub message arrived
        (a SUB socket misses what is published before its subscription reaches the
        kernel), then wait for the stdin handshake. Returns the kernel_info_reply."""
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] | None = None
        while reply is None or not self.router.iopub_live:
            exchange = yield from self.send(requests.kernel_info())
            try:
                yield from self.wait(exchange, deadline - time.monotonic())
            except KernelTimeout as exc:
                alive = yield Ping(1.0)
                raise self.router.not_ready_error(timeout, alive, exc.msg_id) from None
            reply = exchange.reply
            until = min(deadline, time.monotonic() + IOPUB_RETRY)
            while not self.router.iopub_live and time.monotonic() < until:
                yield Receive(until - time.monotonic())
            if not self.router.iopub_live and time.monotonic() >= deadline:
                raise KernelTimeout(f"no IOPub message from the kernel within {timeout:g} s")
        if not (yield StdinConnected(max(0.0, deadline - time.monotonic()))):
            raise KernelTimeout(f"the stdin channel did not connect within {timeout:g} s")
        return reply

    def execute(
        self,
        code: str,
        *,
        timeout: float | None,
        output_callback: OutputCallback | None,
        input_handler: InputHandler | None,
        subshell_id: str | None = None,
        **options: Any,
    ) -> Plan[ExecutionResult]:
        """Run ``code`` (``options``: those of ``requests.execute``) on the main shell or
        a subshell; returns the reply and the IOPub messages up to the kernel's idle status
        for it."""
        handler = input_handler or self.input_handler
        request = requests.on_subshell(
            requests.execute(code, can_answer_input=handler is not None, **options), subshell_id
        )
        exchange = yield from self.send(
            request, output_callback=output_callback, input_handler=handler
        )
        yield from self.wait(exchange, timeout)
        return ExecutionResult(exchange.final_reply, exchange.outputs)

    def comm_open(self, request: Request) -> Plan[Comm]:
        """Open a comm; it is filed before the request goes out, so that no kernel message
        on it can arrive unseen."""
        comm = self.router.open_comm(request)
        comm.open_msg_id = yield from self.notify(request)
        return comm

    def collect_outputs(self, msg_id: str, timeout: float | None) -> Plan[list[dict[str, Any]]]:
        """Wait until the request ``msg_id`` is complete; returns its IOPub messages."""
        exchange = self.router.exchange(msg_id)
        yield from self.wait(exchange, timeout, f"idle status for {exchange.msg_type}")
        return exchange.outputs

    def subshell(self, request: Request, timeout: float | None) -> Plan[dict[str, Any]]:
        """A subshell request on control: its reply's content, SubshellError when the
        kernel refused it."""
        reply = yield from self.ask(request, timeout)
        content: dict[str, Any] = reply["content"]
        if content.get("status") != "ok":
            raise SubshellError(content)
        return content

    def create_subshell(self, timeout: float | None) -> Plan[str]:
        """JEP 91: a new subshell of the kernel; its id."""
        content = yield from self.subshell(requests.create_subshell(), timeout)
        return str(content["subshell_id"])

    def list_subshells(self, timeout: float | None) -> Plan[list[str]]:
        content = yield from self.subshell(requests.list_subshells(), timeout)
        return [str(subshell_id) for subshell_id in content["subshell_id"]]

    def delete_subshell(self, subshell_id: str, timeout: float | None) -> Plan[dict[str, Any]]:
        return (yield from self.subshell(requests.delete_subshell(subshell_id), timeout))

    def shutdown(self, restart: bool, timeout: float) -> Plan[dict[str, Any] | None]:
        """Ask the kernel to shut down; None when a kernel we started exited before it
        replied. Waits for a started kernel's process to end."""
        exchange = yield from self.send(requests.shutdown(restart))
        deadline = time.monotonic() + timeout
        try:
            yield from self.wait(exchange, timeout)
        except KernelDied:
            return None
        if self.kernel is not None and not restart:
            yield KernelExit(max(0.0, deadline - time.monotonic()))
        return exchange.reply


class PlanRun(Generic[T]):
    """Steps a plan: each effect's outcome (or what performing it raised, thrown in for the
    plan to handle or pass on) goes back in, until the plan returns ``result``."""

    def __init__(self, plan: Plan[T]) -> None:
        self.plan = plan
        self._outcome: Any = None
        self._failure: Exception | None = None
        self.result: T

    def next_effect(self) -> Effect | None:
        """The next effect to perform; None once the plan returned."""
        failure, self._failure = self._failure, None
        try:
            if failure is not None:
                return self.plan.throw(failure)
            return self.plan.send(self._outcome)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def succeeded(self, outcome: Any) -> None:
        self._outcome = outcome

    def failed(self, error: Exception) -> None:
        self._outcome, self._failure = None, error

    def close(self) -> None:
        """End the plan where it stands (its cleanups run), if it has not returned."""
        self.plan.close()


def run_plan(plan: Plan[T], io: ClientIO) -> T:
    """Run ``plan`` to its end, performing each effect on a blocking ``io``."""
    run = PlanRun(plan)
    try:
        while (effect := run.next_effect()) is not None:
            try:
                run.succeeded(effect(io))
            except Exception as exc:
                run.failed(exc)
        return run.result
    finally:
        run.close()


__all__ = [
    "AskInput",
    "ClientCore",
    "ClientIO",
    "Effect",
    "Heartbeat",
    "HeartbeatLost",
    "KernelExit",
    "Ping",
    "Plan",
    "PlanRun",
    "Receive",
    "Send",
    "StdinConnected",
    "run_plan",
]
