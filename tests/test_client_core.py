"""The sans-IO client core driven with no socket: its plans run against a scripted kernel
that answers with frames signed by a real kernelwire Session (the kernel's side of the
conversation), so everything but the I/O is the code both clients run."""

from __future__ import annotations

import ast
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernelwire.client import ExecutionResult, KernelDied, KernelTimeout, MessageRefused
from kernelwire.client import requests as client_requests
from kernelwire.client.core import (
    AskInput,
    ClientCore,
    Heartbeat,
    HeartbeatLost,
    Ping,
    Receive,
    Send,
    StdinConnected,
    run_plan,
)
from kernelwire.client.router import HEARTBEAT_INTERVAL, InputHandler
from kernelwire.protocol import EOF_INPUT
from kernelwire.session import Session

KEY = b"core-test-key"
SRC = Path(__file__).parents[1] / "src" / "kernelwire"

#: What the scripted kernel does with a request: (channel, msg_type, content) to send back,
#: parented to the request.
Script = Callable[[dict[str, Any]], list[tuple[str, str, dict[str, Any]]]]


def answer_ok(request: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """busy, an ok reply on the request's channel, idle."""
    reply = request["msg_type"].replace("_request", "_reply")
    return [
        ("iopub", "status", {"execution_state": "busy"}),
        ("shell", reply, {"status": "ok"}),
        ("iopub", "status", {"execution_state": "idle"}),
    ]


class ScriptedKernelIO:
    """Performs the core's effects with no sockets: what the client sends is read by a
    kernel-side Session, and what ``script`` answers is handed to the core on the next
    ``Receive``. A record of the effects is kept for the tests."""

    def __init__(self, core: ClientCore, script: Script = answer_ok) -> None:
        self.core = core
        self.script = script
        #: Reads what the client sends; ``kernel_session`` signs what the kernel sends.
        self.reader = Session(key=KEY)
        self.kernel_session = Session(key=KEY)
        self.pending: deque[tuple[str, list[bytes]]] = deque()
        self.effects: list[Any] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.heartbeat_answers = True
        self.stdin_handshake = True

    def run(self, plan: Any) -> Any:
        return run_plan(plan, self)

    def kernel_says(
        self, channel: str, msg_type: str, content: dict[str, Any], parent: dict[str, Any]
    ) -> None:
        msg = self.kernel_session.msg(msg_type, content, parent=parent)
        self.pending.append((channel, self.kernel_session.serialize(msg)))

    # ------------------------------------------------------------------ ClientIO

    def _send_frames(self, channel: str, frames: list[Any]) -> None:
        self.effects.append(Send)
        request = self.reader.deserialize([bytes(frame) for frame in frames[1:]])
        self.sent.append((channel, request))
        if channel == "stdin":
            return
        for where, msg_type, content in self.script(request):
            self.kernel_says(channel if where == "shell" else where, msg_type, content, request)

    def _receive(self, seconds: float, ping: bool) -> None:
        self.effects.append(Receive(seconds, ping))
        if ping:
            self.core.heartbeat.pinged(time.monotonic())
            if self.heartbeat_answers:
                self.core.heartbeat.answered(time.monotonic())
        if not self.pending:
            time.sleep(seconds)
        while self.pending:
            channel, frames = self.pending.popleft()
            answer = self.core.receive(channel, frames)
            if answer is not None:
                self.run(answer)

    def is_alive(self, timeout: float = 1.0) -> bool:
        self.effects.append(Ping(timeout))
        return self.heartbeat_answers

    def _heartbeat_lost(self) -> None:
        self.effects.append(HeartbeatLost())

    def _stdin_connected(self, timeout: float) -> bool:
        self.effects.append(StdinConnected(timeout))
        return self.stdin_handshake

    def _kernel_exit(self, timeout: float) -> None:
        self.effects.append("kernel exit")

    def _call_input_handler(self, handler: InputHandler, prompt: str, password: bool) -> Any:
        self.effects.append(AskInput(handler, prompt, password))
        return handler(prompt, password)


def make_core(**options: Any) -> ClientCore:
    return ClientCore(Session(key=KEY), **options)


class StoppedKernel:
    """A kernel process that has exited (what the core asks of a ``KernelProcess``)."""

    def __init__(self, running: bool = False) -> None:
        self.running = running

    def is_running(self) -> bool:
        return self.running

    def describe_exit(self) -> str:
        return "the kernel process exited with code 3"


def execute_script(request: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    code = request["content"]["code"]
    return [
        ("iopub", "status", {"execution_state": "busy"}),
        ("iopub", "stream", {"name": "stdout", "text": f"ran {code}\n"}),
        ("shell", "execute_reply", {"status": "ok", "execution_count": 1}),
        ("iopub", "status", {"execution_state": "idle"}),
    ]


# ---------------------------------------------------------------- requests and replies


def test_execute_is_one_send_then_receives_until_reply_and_idle() -> None:
    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core, execute_script)
    result = io.run(core.execute("x = 1", timeout=30, output_callback=None, input_handler=None))
    assert isinstance(result, ExecutionResult)
    assert result.status == "ok"
    assert result.stdout == "ran x = 1\n"
    channel, request = io.sent[0]
    assert (channel, request["msg_type"]) == ("shell", "execute_request")
    assert request["content"]["allow_stdin"] is False  # no input handler anywhere
    assert io.effects[0] is Send and all(isinstance(e, Receive) for e in io.effects[1:])


def test_a_request_on_control_goes_out_on_control() -> None:
    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core)
    reply = io.run(core.ask(client_requests.interrupt(), 30))
    assert reply["msg_type"] == "interrupt_reply"
    assert io.sent[0][0] == "control"


def test_a_wait_ends_with_its_timeout_naming_what_it_waited_for() -> None:
    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core, lambda request: [])
    with pytest.raises(KernelTimeout, match=r"no kernel_info_reply within 0\.2 s") as timed_out:
        io.run(core.ask(client_requests.kernel_info(), 0.2))
    assert timed_out.value.msg_id == io.sent[0][1]["header"]["msg_id"]
    # every slice the plan asked to wait for lies within the timeout
    assert all(0 <= effect.seconds <= 0.2 for effect in io.effects if isinstance(effect, Receive))


def test_the_first_of_two_replies_stands() -> None:
    def twice(request: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            ("shell", "kernel_info_reply", {"status": "ok", "which": "first"}),
            ("shell", "kernel_info_reply", {"status": "ok", "which": "second"}),
        ]

    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core, twice)
    reply = io.run(core.ask(client_requests.kernel_info(), 30))
    assert reply["content"]["which"] == "first"
    io.run(core.ask(client_requests.kernel_info(), 30))  # files the pending duplicate
    assert core.router.duplicate_replies >= 1


def test_a_reply_signed_with_another_key_makes_the_wait_fail_at_once() -> None:
    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core)
    io.kernel_session = Session(key=b"not-the-key")
    with pytest.raises(MessageRefused, match="key"):
        io.run(core.ask(client_requests.kernel_info(), None))


def test_an_output_callback_error_is_raised_by_its_request_once() -> None:
    def broken(msg: dict[str, Any]) -> None:
        raise RuntimeError("callback broke")

    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core, execute_script)
    with pytest.raises(RuntimeError, match="callback broke"):
        io.run(core.execute("1", timeout=30, output_callback=broken, input_handler=None))
    result = io.run(core.execute("2", timeout=30, output_callback=None, input_handler=None))
    assert result.stdout == "ran 2\n"


# ---------------------------------------------------------------- the kernel's death


def test_a_started_kernel_that_exited_ends_the_wait_with_its_exit() -> None:
    core = make_core(kernel=StoppedKernel())
    io = ScriptedKernelIO(core, lambda request: [])
    with pytest.raises(KernelDied, match="exited with code 3"):
        io.run(core.ask(client_requests.kernel_info(), None))


def test_shutdown_of_a_kernel_that_exits_before_replying_is_none() -> None:
    core = make_core(kernel=StoppedKernel())
    io = ScriptedKernelIO(core, lambda request: [])
    assert io.run(core.shutdown(False, 30)) is None


def test_an_unanswered_heartbeat_is_death_and_the_socket_is_replaced() -> None:
    core = make_core(heartbeat_timeout=0.0)
    io = ScriptedKernelIO(core, lambda request: [])
    io.heartbeat_answers = False
    core.heartbeat.last_pong -= HEARTBEAT_INTERVAL  # a ping is due at once
    with pytest.raises(KernelDied, match="did not answer a heartbeat"):
        io.run(core.ask(client_requests.kernel_info(), None))
    assert any(isinstance(effect, Receive) and effect.ping for effect in io.effects)
    assert isinstance(io.effects[-1], HeartbeatLost)
    assert core.heartbeat.ping_sent is None  # a fresh start for the next call


def test_heartbeat_policy() -> None:
    heartbeat = Heartbeat(timeout=5.0)
    start = heartbeat.last_pong
    assert not heartbeat.ping_due(start)
    assert heartbeat.ping_due(start + HEARTBEAT_INTERVAL)
    heartbeat.pinged(start + 1)
    heartbeat.pinged(start + 3)  # the oldest unanswered ping counts
    assert not heartbeat.ping_due(start + 10)
    assert not heartbeat.lost(start + 6)
    assert heartbeat.lost(start + 6.5)
    heartbeat.answered(start + 7)
    assert not heartbeat.lost(start + 100)


# ---------------------------------------------------------------- wait_for_ready


def test_wait_for_ready_needs_a_reply_iopub_and_the_stdin_handshake() -> None:
    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core)
    reply = io.run(core.wait_for_ready(30))
    assert reply["msg_type"] == "kernel_info_reply"
    assert core.router.iopub_live
    assert isinstance(io.effects[-1], StdinConnected)

    io.stdin_handshake = False
    with pytest.raises(KernelTimeout, match="stdin channel did not connect"):
        io.run(core.wait_for_ready(30))


def test_wait_for_ready_of_a_silent_kernel_asks_the_heartbeat_why() -> None:
    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core, lambda request: [])
    with pytest.raises(KernelTimeout, match="answers heartbeats but sent no kernel_info_reply"):
        io.run(core.wait_for_ready(0.3))
    assert isinstance(io.effects[-1], Ping)


# ---------------------------------------------------------------- input


def asks_input(request: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    if request["msg_type"] != "execute_request":
        return []
    return [
        ("iopub", "status", {"execution_state": "busy"}),
        ("stdin", "input_request", {"prompt": "name? ", "password": False}),
        ("shell", "execute_reply", {"status": "ok", "execution_count": 1}),
        ("iopub", "status", {"execution_state": "idle"}),
    ]


def input_replies(io: ScriptedKernelIO) -> list[dict[str, Any]]:
    return [msg for channel, msg in io.sent if channel == "stdin"]


def test_input_is_asked_of_the_requests_handler_and_answered() -> None:
    core = make_core(kernel=StoppedKernel(running=True), input_handler=lambda p, w: "client")
    io = ScriptedKernelIO(core, asks_input)
    plan = core.execute(
        "input()", timeout=30, output_callback=None, input_handler=lambda p, w: f"{p}ada"
    )
    assert io.run(plan).status == "ok"
    assert io.sent[0][1]["content"]["allow_stdin"] is True
    [reply] = input_replies(io)
    assert reply["content"] == {"value": "name? ada"}
    assert reply["parent_header"]["msg_type"] == "input_request"
    assert any(isinstance(effect, AskInput) and effect.prompt == "name? " for effect in io.effects)


@pytest.mark.parametrize("error", [EOFError, ValueError])
def test_a_failing_input_handler_still_answers_end_of_input(error: type[Exception]) -> None:
    def handler(prompt: str, password: bool) -> str:
        raise error("no input")

    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core, asks_input)
    plan = core.execute("input()", timeout=30, output_callback=None, input_handler=handler)
    if error is EOFError:
        assert io.run(plan).status == "ok"
    else:  # raised by the wait of the request that asked for input
        with pytest.raises(ValueError, match="no input"):
            io.run(plan)
    [reply] = input_replies(io)
    assert reply["content"] == {"value": EOF_INPUT}


def test_no_input_handler_answers_end_of_input() -> None:
    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core, asks_input)
    io.run(core.execute("input()", timeout=30, output_callback=None, input_handler=None))
    assert [reply["content"] for reply in input_replies(io)] == [{"value": EOF_INPUT}]
    assert not any(isinstance(effect, AskInput) for effect in io.effects)


# ---------------------------------------------------------------- no I/O in the core


def module_path(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "kernelwire":
        return None
    candidate = SRC.parent.joinpath(*parts)
    if (candidate / "__init__.py").exists():
        return None  # a package's __init__ is not code the core runs
    path = candidate.with_suffix(".py")
    return path if path.exists() else None


def test_the_core_imports_neither_zmq_nor_traitlets() -> None:
    """Everything the core and its router import, followed through kernelwire's own
    modules (the Session only for type checking), stays clear of zmq and traitlets."""
    seen: set[Path] = set()
    todo = [SRC / "client" / "core.py", SRC / "client" / "router.py"]
    imported: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        source = path.read_text()
        tree = ast.parse(source)
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
            for node in ast.walk(block)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import) and id(node) not in type_only:
                names = imported_names(node, path)
                imported |= names
                todo.extend(p for p in map(module_path, names) if p is not None)
    assert not {name for name in imported if name.split(".")[0] in ("zmq", "traitlets")}
    assert "kernelwire.session" not in imported
    assert SRC / "client" / "requests.py" in seen  # the walk followed kernelwire's imports


def imported_names(node: ast.Import | ast.ImportFrom, path: Path) -> set[str]:
    """The absolute names an import statement in the module at ``path`` may load (a
    relative one resolved within kernelwire; ``from . import x`` may load module ``x``)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    if node.level == 0:
        return {node.module or ""}
    package = path.parent.relative_to(SRC.parent).parts
    module = [*package[: len(package) - node.level + 1], *(node.module or "").split(".")]
    module = [part for part in module if part]
    return {".".join(module), *(".".join([*module, alias.name]) for alias in node.names)}


# ---------------------------------------------------------------- kernel comms, other traffic


def test_comms_the_kernel_opens_and_other_traffic_reach_their_hooks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hook that raises is logged; the messages are filed all the same."""

    def opens_a_comm(request: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        comm = {"comm_id": "c1", "target_name": "frontend"}
        return [
            ("iopub", "status", {"execution_state": "busy"}),
            ("iopub", "comm_open", {**comm, "data": {}}),
            ("iopub", "comm_msg", {"comm_id": "c1", "data": {"n": 1}}),
            ("iopub", "comm_close", {"comm_id": "c1", "data": {}}),
            ("shell", "execute_reply", {"status": "ok", "execution_count": 1}),
            ("iopub", "status", {"execution_state": "idle"}),
        ]

    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core, opens_a_comm)
    opened: list[Any] = []
    comm_messages: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []

    def on_comm_open(comm: Any, msg: dict[str, Any]) -> None:
        opened.append(comm)
        comm.on_message = comm_messages.append
        raise RuntimeError("hook broke")

    core.router.on_comm_open = on_comm_open
    core.router.on_other_iopub = others.append
    io.kernel_says("iopub", "stream", {"name": "stdout", "text": "x"}, {"msg_id": "theirs"})
    result = io.run(core.execute("1", timeout=30, output_callback=None, input_handler=None))
    assert [comm.comm_id for comm in opened] == ["c1"]
    assert [msg["msg_type"] for msg in comm_messages] == ["comm_msg", "comm_close"]
    assert opened[0].closed and "c1" not in core.router.comms  # closed: forgotten
    assert [msg["parent_header"]["msg_id"] for msg in others] == ["theirs"]
    assert "comm_open" in [msg["msg_type"] for msg in result.outputs]
    assert any("on_comm_open raised" in record.getMessage() for record in caplog.records)


def test_any_request_and_debug_requests_count_their_seq() -> None:
    core = make_core(kernel=StoppedKernel(running=True))
    io = ScriptedKernelIO(core)
    custom = client_requests.custom(
        "my_request", {"x": 1}, channel="control", buffers=None, metadata=None
    )
    assert io.run(core.ask(custom, 30))["msg_type"] == "my_reply"
    for _ in range(2):
        io.run(core.ask(client_requests.debug("debugInfo", None, core.next_debug_seq()), 30))
    channels_and_seqs = [(channel, msg["content"].get("seq")) for channel, msg in io.sent]
    assert channels_and_seqs == [("control", None), ("control", 1), ("control", 2)]
