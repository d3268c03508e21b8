"""KernelBase's protocol rules, driven in memory (kernelwire.kernel.memory.KernelPair):
busy/idle framing, execute_input and the execution count, stop_on_error aborts,
interrupts, stdin, the hook API (sync and async), comms, shutdown and hostile input.

No process, thread or socket: the client's messages are signed and serialized as on the
wire and the kernel's dispatch reads those frames; what it sends is verified and read back
by the client Session. Each test runs in milliseconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kernelwire.kernel import KernelBase, PythonKernel, StdinNotImplementedError
from kernelwire.kernel.memory import KernelPair


class Recorder(KernelBase):
    """A wrapper kernel whose cells are tiny commands: ``fail`` errors, ``ask`` reads a
    line, ``call`` runs ``self.during_cell`` (a test's callback) mid-cell; anything else
    is echoed on stdout."""

    implementation = "recorder"
    implementation_version = "0.1"
    banner = "records what it is asked"

    def __init__(self, **kwargs: Any) -> None:  # as wrappers written for ipykernel do
        super().__init__(**kwargs)
        self.cells: list[tuple[str, bool, bool]] = []
        self.during_cell = lambda: None
        self.shutdowns: list[bool] = []

    def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
    ) -> dict[str, Any]:
        self.cells.append((code, silent, store_history))
        if code == "fail":
            error = {"ename": "Failure", "evalue": "as asked", "traceback": []}
            self.send_response(self.iopub_socket, "error", error)
            return {"status": "error", "execution_count": self.execution_count, **error}
        if code == "ask":
            code = self.raw_input("name? ") + "/" + self.getpass("secret? ")
        if code == "call":
            self.during_cell()
        self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": code})
        return {"status": "ok", "execution_count": self.execution_count, "user_expressions": {}}

    def do_shutdown(self, restart: bool) -> dict[str, Any]:
        self.shutdowns.append(restart)
        return {"status": "ok", "restart": restart}


def types_of(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m["content"]["execution_state"] if m["msg_type"] == "status" else m["msg_type"]
        for m in messages
    ]


def test_each_request_is_framed_by_busy_and_idle() -> None:
    pair = KernelPair(Recorder)
    reply, outputs = pair.request("kernel_info_request")
    assert reply is not None
    assert types_of(outputs) == ["busy", "idle"]
    assert reply["content"]["implementation"] == "recorder"
    assert reply["content"]["banner"] == "records what it is asked"
    reply, outputs = pair.request("execute_request", {"code": "hello"})
    assert reply is not None
    assert types_of(outputs) == ["busy", "execute_input", "stream", "idle"]
    assert outputs[2]["content"] == {"name": "stdout", "text": "hello"}
    reply, outputs = pair.request("kernel_info_request", channel="control")
    assert reply is not None and reply["content"]["status"] == "ok"
    assert types_of(outputs) == ["busy", "idle"]


def test_execution_count_counts_stored_cells_only() -> None:
    pair = KernelPair(Recorder)
    counts = []
    for content in (
        {"code": "a"},
        {"code": "b", "silent": True},
        {"code": "c", "store_history": False},
        {"code": "d"},
    ):
        reply, outputs = pair.request("execute_request", content)
        assert reply is not None
        inputs = [m["content"] for m in outputs if m["msg_type"] == "execute_input"]
        counts.append((reply["content"]["execution_count"], inputs))
    assert counts == [
        (1, [{"code": "a", "execution_count": 1}]),
        (1, []),  # silent: no execute_input
        (1, [{"code": "c", "execution_count": 1}]),
        (2, [{"code": "d", "execution_count": 2}]),
    ]
    assert pair.kernel.cells[1:3] == [("b", True, False), ("c", False, False)]


def test_a_failed_cell_aborts_the_requests_queued_before_its_reply() -> None:
    pair = KernelPair(Recorder)
    failing = pair.send("execute_request", {"code": "fail"})
    queued = [pair.send("execute_request", {"code": "never"}) for _ in range(2)]
    info = pair.send("kernel_info_request")
    assert pair.run() == 1  # the failed cell took the others from the queue
    replies = {r["parent_header"]["msg_id"]: r for r in pair.receive("shell")}
    assert replies[failing["msg_id"]]["content"]["status"] == "error"
    assert replies[failing["msg_id"]]["metadata"]["status"] == "error"
    for msg in queued:
        assert replies[msg["msg_id"]]["content"]["status"] == "aborted"
    assert replies[info["msg_id"]]["content"]["status"] == "ok"  # not an execute: answered
    assert [code for code, _, _ in pair.kernel.cells] == ["fail"]
    iopub = pair.receive("iopub")
    for msg in queued:  # each aborted request is framed too
        mine = [m for m in iopub if m["parent_header"]["msg_id"] == msg["msg_id"]]
        assert types_of(mine) == ["busy", "idle"]
    # What a client sends after seeing the error reply runs.
    reply, _ = pair.request("execute_request", {"code": "later"})
    assert reply is not None and reply["content"]["status"] == "ok"


def test_stop_on_error_false_aborts_nothing() -> None:
    pair = KernelPair(Recorder)
    pair.send("execute_request", {"code": "fail", "stop_on_error": False})
    pair.send("execute_request", {"code": "next"})
    assert pair.run() == 2
    assert [r["content"]["status"] for r in pair.receive("shell")] == ["error", "ok"]


def test_an_interrupt_raises_keyboardinterrupt_in_the_running_hook() -> None:
    pair = KernelPair(Recorder)
    interrupt_replies = []

    def interrupt() -> None:
        pair.send("interrupt_request", channel="control")
        interrupt_replies.extend(pair.receive("control"))  # reached only if not raised

    pair.kernel.during_cell = interrupt
    reply, outputs = pair.request("execute_request", {"code": "call"})
    assert reply is not None
    assert (reply["content"]["status"], reply["content"]["ename"]) == ("error", "KeyboardInterrupt")
    assert "error" in types_of(outputs) and "stream" not in types_of(outputs)
    assert interrupt_replies == []
    assert [r["content"]["status"] for r in pair.receive("control")] == ["ok"]


def test_an_interrupt_stops_an_async_hook_and_its_loop_serves_on() -> None:
    pair = KernelPair(AsyncHooks)
    pair.kernel.during_cell = lambda: pair.send("interrupt_request", channel="control")
    statuses = []
    for code in ("before", "call", "after"):
        reply, _ = pair.request("execute_request", {"code": code})
        assert reply is not None
        statuses.append((reply["content"]["status"], reply["content"].get("ename")))
    assert statuses == [("ok", None), ("error", "KeyboardInterrupt"), ("ok", None)]


def test_an_interrupt_while_idle_is_ignored() -> None:
    pair = KernelPair(Recorder)
    reply, _ = pair.request("interrupt_request", channel="control")
    assert reply is not None and reply["content"]["status"] == "ok"
    reply, outputs = pair.request("execute_request", {"code": "fine"})
    assert reply is not None and reply["content"]["status"] == "ok"
    assert "stream" in types_of(outputs)


def test_raw_input_and_getpass_ask_the_sender_of_the_cell() -> None:
    answers = {"name? ": "ada", "secret? ": "pw"}
    pair = KernelPair(Recorder, input_handler=lambda prompt, password: answers[prompt])
    reply, outputs = pair.request("execute_request", {"code": "ask", "allow_stdin": True})
    assert reply is not None and reply["content"]["status"] == "ok"
    assert [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"] == ["ada/pw"]
    requests = [(r["content"]["prompt"], r["content"]["password"]) for r in pair.input_requests]
    assert requests == [("name? ", False), ("secret? ", True)]
    assert pair.input_requests[0]["parent_header"] == reply["parent_header"]


def test_raw_input_without_allow_stdin_raises_in_the_hook() -> None:
    pair = KernelPair(Recorder, input_handler=lambda prompt, password: "unused")
    reply, _ = pair.request("execute_request", {"code": "ask", "allow_stdin": False})
    assert reply is not None
    assert reply["content"]["ename"] == StdinNotImplementedError.__name__
    assert pair.input_requests == []


class AsyncHooks(KernelBase):
    """Every hook a coroutine, as ipykernel 7 prefers them; the cell ``call`` runs
    ``self.during_cell`` between two awaits."""

    during_cell: Any = staticmethod(lambda: None)

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        await asyncio.sleep(0)
        if code == "call":
            self.during_cell()
        await asyncio.sleep(0)
        self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": str(cell_id)})
        return {"status": "ok", "execution_count": self.execution_count}

    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        return {"status": "ok", "matches": [code * 2], "cursor_start": 0, "cursor_end": cursor_pos}

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        return {"status": "incomplete", "indent": "  "}


def test_async_hooks_are_awaited_and_cell_id_comes_from_the_metadata() -> None:
    pair = KernelPair(AsyncHooks)
    msg = pair.send("execute_request", {"code": "x"}, metadata={"cellId": "cell-7"})
    pair.run()
    (reply,) = pair.receive("shell")
    assert reply["content"] == {"status": "ok", "execution_count": 1}
    streams = [m["content"]["text"] for m in pair.receive("iopub") if m["msg_type"] == "stream"]
    assert streams == ["cell-7"]
    assert reply["parent_header"]["msg_id"] == msg["msg_id"]
    reply, _ = pair.request("complete_request", {"code": "ab", "cursor_pos": 2})
    assert reply is not None and reply["content"]["matches"] == ["abab"]
    reply, _ = pair.request("is_complete_request", {"code": "if x:"})
    assert reply is not None and reply["content"] == {"status": "incomplete", "indent": "  "}


class Broken(KernelBase):
    def do_execute(self, code: str, silent: bool, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the wrapper")

    def do_inspect(self, code: str, cursor_pos: int, *args: Any) -> Any:
        return None  # a forgotten return


def test_a_failing_hook_still_gets_a_reply_and_the_kernel_serves_on(quiet_logs: None) -> None:
    pair = KernelPair(Broken)
    reply, outputs = pair.request("execute_request", {"code": "x"})
    assert reply is not None
    assert (reply["content"]["status"], reply["content"]["ename"]) == ("error", "RuntimeError")
    assert reply["content"]["execution_count"] == 1
    assert types_of(outputs) == ["busy", "execute_input", "error", "idle"]
    reply, outputs = pair.request("inspect_request", {"code": "x", "cursor_pos": 1})
    assert reply is not None
    assert reply["content"]["ename"] == "TypeError"
    assert "do_inspect returned NoneType, not a dict" in reply["content"]["evalue"]
    assert types_of(outputs) == ["busy", "idle"]
    reply, _ = pair.request("kernel_info_request")
    assert reply is not None and reply["content"]["status"] == "ok"


def test_default_hooks_answer_with_valid_empty_replies() -> None:
    pair = KernelPair(KernelBase)
    requests = {
        "complete_request": {"code": "ab", "cursor_pos": 1},
        "inspect_request": {"code": "ab", "cursor_pos": 1},
        "is_complete_request": {"code": "ab"},
        "history_request": {"hist_access_type": "tail", "n": 3, "output": False, "raw": True},
    }
    contents = {}
    for msg_type, content in requests.items():
        reply, _ = pair.request(msg_type, content)
        assert reply is not None
        contents[msg_type] = reply["content"]
    assert contents["complete_request"]["matches"] == []
    assert contents["complete_request"]["cursor_start"] == 1
    assert contents["inspect_request"]["found"] is False
    assert contents["is_complete_request"]["status"] == "unknown"
    assert contents["history_request"]["history"] == []
    reply, _ = pair.request("execute_request", {"code": "x"})
    assert reply is not None and reply["content"]["ename"] == "NotImplementedError"


def test_send_response_publishes_on_iopub_only() -> None:
    pair = KernelPair(Recorder)
    with pytest.raises(TypeError, match="IOPub only"):
        pair.kernel.send_response(pair.kernel.shell, "stream", {"name": "stdout", "text": ""})


def test_shutdown_calls_do_shutdown_and_announces_it_on_iopub() -> None:
    pair = KernelPair(Recorder)
    reply, outputs = pair.request("shutdown_request", {"restart": True}, channel="control")
    assert reply is not None and reply["content"] == {"status": "ok", "restart": True}
    assert pair.kernel.shutdowns == [True]
    assert types_of(outputs) == ["busy", "shutdown_reply", "idle"]


def test_comms_open_to_registered_targets() -> None:
    pair = KernelPair(Recorder)
    opened = []
    pair.kernel.comms.register_target("t", lambda comm, msg: opened.append(comm.comm_id))
    pair.send("comm_open", {"comm_id": "c1", "target_name": "t", "data": {}})
    pair.run()
    assert opened == ["c1"]
    reply, _ = pair.request("comm_info_request", {})
    assert reply is not None and reply["content"]["comms"] == {"c1": {"target_name": "t"}}


def test_malformed_and_reflected_requests(quiet_logs: None) -> None:
    pair = KernelPair(Recorder)
    reply, outputs = pair.request("execute_request", {"code": 7})
    assert reply is not None
    assert (reply["content"]["status"], reply["content"]["ename"]) == ("error", "TypeError")
    assert types_of(outputs) == ["busy", "idle"]
    # A message carrying the kernel's own session id is dropped unanswered, unframed.
    pair.send("kernel_info_request", header={"session": pair.kernel.session.session})
    assert pair.run() == 1
    assert pair.receive("shell") == [] and pair.receive("iopub") == []
    # Frames that are not a message at all.
    pair.send_frames([b"garbage"])
    assert pair.run() == 1
    assert pair.receive("shell") == [] and pair.receive("iopub") == []
    assert pair.kernel.cells == []


def test_the_python_kernel_runs_in_memory_too() -> None:
    pair = KernelPair(PythonKernel)
    for code in ("x = 6 * 7", "x", "1 / 0", "x"):
        pair.send("execute_request", {"code": code})
    pair.run()
    replies = pair.receive("shell")
    assert [r["content"]["status"] for r in replies] == ["ok", "ok", "error", "aborted"]
    assert replies[2]["content"]["ename"] == "ZeroDivisionError"
    results = [m["content"] for m in pair.receive("iopub") if m["msg_type"] == "execute_result"]
    assert [(r["execution_count"], r["data"]["text/plain"]) for r in results] == [(2, "42")]
