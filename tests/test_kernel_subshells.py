"""Subshells (JEP 91) on KernelBase, in memory (kernelwire.kernel.memory.KernelPair):
create/list/delete on control, routing by ``header.subshell_id``, order within a subshell,
concurrency between shells, parents of replies and output per thread, per-subshell
aborts, unknown ids, the limit, and interrupts reaching the main shell only.

Subshell requests run on the subshell's real thread; the main shell runs where
``KernelPair.run`` is called (here: a helper thread, so that a main-shell cell can be held
while a subshell answers). Cells wait for ``threading.Event``s the test sets, so every
order asserted is forced by the test, never by timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from kernelwire.kernel import KernelBase
from kernelwire.kernel.limits import KernelLimits
from kernelwire.kernel.memory import KernelPair
from kernelwire.kernel.outstream import Flusher, OutStream

WAIT = 60.0  # only turns a hang into a failure


class Gated(KernelBase):
    """Cells: ``wait:NAME`` waits for ``self.gates[NAME]`` then echoes, ``waitfail:NAME``
    waits then fails, ``fail`` fails, ``ask`` reads a line; anything else is echoed as a
    stream."""

    implementation = "gated"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gates: dict[str, threading.Event] = {}
        self.threads: list[str] = []

    def gate(self, name: str) -> threading.Event:
        return self.gates.setdefault(name, threading.Event())

    def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
    ) -> dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        command, _, name = code.partition(":")
        if command in ("wait", "waitfail") and not self.gate(name).wait(WAIT):
            raise RuntimeError(f"gate {name} never opened")
        if command == "ask":
            code = self.raw_input("name? ")
        if command in ("fail", "waitfail"):
            error = {"ename": "Failure", "evalue": code, "traceback": []}
            self.send_response(self.iopub_socket, "error", error)
            return {"status": "error", "execution_count": self.execution_count, **error}
        self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": code})
        return {"status": "ok", "execution_count": self.execution_count, "user_expressions": {}}


class Client:
    """A KernelPair's client side that collects replies and IOPub as they come (subshell
    threads send them while the test runs) and waits for them."""

    def __init__(self, kernel_class: type[Gated] = Gated, **kernel_kwargs: Any) -> None:
        self.pair: KernelPair[Gated] = KernelPair(kernel_class, **kernel_kwargs)
        self.kernel = self.pair.kernel
        self.replies: list[dict[str, Any]] = []
        self.iopub: list[dict[str, Any]] = []
        self._main: threading.Thread | None = None

    def control(self, msg_type: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
        reply, _ = self.pair.request(msg_type, content, channel="control")
        assert reply is not None
        return reply["content"]  # type: ignore[no-any-return]

    def create(self) -> str:
        content = self.control("create_subshell_request")
        assert content["status"] == "ok"
        return content["subshell_id"]  # type: ignore[no-any-return]

    def execute(self, code: str, subshell_id: str | None = None) -> str:
        """Send; a main-shell request runs on a helper thread (see :meth:`run_main`)."""
        header = {"subshell_id": subshell_id} if subshell_id is not None else None
        msg = self.pair.send("execute_request", {"code": code}, header=header)
        return msg["msg_id"]  # type: ignore[no-any-return]

    def run_main(self) -> None:
        """Handle the main shell's queued requests on a helper thread."""
        self._main = threading.Thread(target=self.pair.run, daemon=True)
        self._main.start()

    def join_main(self) -> None:
        assert self._main is not None
        self._main.join(WAIT)
        assert not self._main.is_alive()

    def collect(self) -> None:
        self.replies += self.pair.receive("shell")
        self.iopub += self.pair.receive("iopub")

    def wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            self.collect()
            if done():
                return
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.002)

    def reply_to(self, msg_id: str) -> dict[str, Any] | None:
        found = [r for r in self.replies if r["parent_header"].get("msg_id") == msg_id]
        return found[0] if found else None

    def wait_reply(self, msg_id: str) -> dict[str, Any]:
        self.wait(lambda: self.idle(msg_id), f"the reply to and idle of {msg_id}")
        reply = self.reply_to(msg_id)
        assert reply is not None
        return reply

    def idle(self, msg_id: str) -> bool:
        return self.reply_to(msg_id) is not None and any(
            m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == msg_id
            for m in self.iopub
        )

    def outputs(self, msg_id: str) -> list[dict[str, Any]]:
        return [m for m in self.iopub if m["parent_header"].get("msg_id") == msg_id]

    def order(self) -> list[str]:
        """The msg_ids of the replies, in the order they came."""
        return [r["parent_header"]["msg_id"] for r in self.replies]

    def close(self) -> None:
        for gate in self.kernel.gates.values():
            gate.set()
        self.kernel.subshells.stop_all(WAIT)


@pytest.fixture
def client() -> Any:
    c = Client()
    yield c
    c.close()


def test_create_list_delete_and_kernel_info(client: Client) -> None:
    info = client.control("kernel_info_request")
    assert "kernel subshells" in info["supported_features"]
    assert client.control("list_subshell_request") == {"status": "ok", "subshell_id": []}
    first, second = client.create(), client.create()
    assert first != second
    listed = client.control("list_subshell_request")
    assert listed["status"] == "ok" and sorted(listed["subshell_id"]) == sorted([first, second])
    assert client.control("delete_subshell_request", {"subshell_id": first}) == {"status": "ok"}
    assert client.control("list_subshell_request")["subshell_id"] == [second]


def test_a_subshell_answers_while_the_main_shell_runs_a_long_cell(client: Client) -> None:
    subshell = client.create()
    long_cell = client.execute("wait:main")
    client.run_main()
    quick = client.execute("quick", subshell)
    reply = client.wait_reply(quick)  # the main cell cannot end before the gate opens
    assert client.reply_to(long_cell) is None
    assert reply["content"]["status"] == "ok"
    assert reply["parent_header"]["subshell_id"] == subshell
    client.kernel.gate("main").set()
    client.wait_reply(long_cell)
    client.join_main()
    assert client.order() == [quick, long_cell]
    # replies and output are parented per thread: the subshell's request did not take over
    # the parent of the main shell's cell, which published after it
    for msg_id, text in ((quick, "quick"), (long_cell, "wait:main")):
        outputs = client.outputs(msg_id)
        kinds = [m["msg_type"] for m in outputs]
        assert kinds == ["status", "execute_input", "stream", "status"], kinds
        assert outputs[2]["content"]["text"] == text
    assert f"kernelwire-subshell-{subshell}" in client.kernel.threads


def test_requests_of_one_subshell_run_in_order_and_subshells_concurrently(
    client: Client,
) -> None:
    one, two = client.create(), client.create()
    held = client.execute("wait:one", one)
    behind = client.execute("after", one)
    other = client.execute("other", two)
    client.wait_reply(other)
    client.collect()
    assert client.reply_to(held) is None and client.reply_to(behind) is None
    client.kernel.gate("one").set()
    client.wait_reply(behind)
    assert client.order() == [other, held, behind]


def test_a_failed_cell_aborts_the_queue_of_its_own_subshell_only(client: Client) -> None:
    subshell = client.create()
    failing = client.execute("waitfail:sub", subshell)
    queued = client.execute("queued", subshell)
    main = client.execute("main")
    client.run_main()
    assert client.wait_reply(main)["content"]["status"] == "ok"
    client.kernel.gate("sub").set()
    assert client.wait_reply(failing)["content"]["status"] == "error"
    assert client.wait_reply(queued)["content"]["status"] == "aborted"
    client.join_main()
    after = client.execute("after", subshell)  # the abort ended with the queue it took
    assert client.wait_reply(after)["content"]["status"] == "ok"


def test_a_request_for_an_unknown_subshell_gets_an_error_reply(client: Client) -> None:
    msg_id = client.execute("1", "no-such-subshell")
    reply = client.wait_reply(msg_id)
    assert reply["content"] == {
        "status": "error",
        "ename": "UnknownSubshellError",
        "evalue": "Unknown subshell_id 'no-such-subshell'",
        "traceback": [],
    }
    assert reply["metadata"]["status"] == "error"
    states = [m["content"].get("execution_state") for m in client.outputs(msg_id)]
    assert states == ["busy", "idle"]
    content = client.control("delete_subshell_request", {"subshell_id": "no-such-subshell"})
    assert content["status"] == "error"
    assert content["evalue"] == "Unknown subshell_id 'no-such-subshell'"
    missing = client.control("delete_subshell_request", {})
    assert missing["status"] == "error" and "subshell_id" in missing["evalue"]


def test_deleting_a_subshell_ends_its_thread_and_its_id(client: Client) -> None:
    subshell = client.create()
    name = f"kernelwire-subshell-{subshell}"
    assert name in [t.name for t in threading.enumerate()]
    client.control("delete_subshell_request", {"subshell_id": subshell})
    client.wait(lambda: name not in [t.name for t in threading.enumerate()], "the thread to end")
    msg_id = client.execute("1", subshell)
    assert client.wait_reply(msg_id)["content"]["ename"] == "UnknownSubshellError"


def test_the_number_of_subshells_is_bounded() -> None:
    client = Client(limits=KernelLimits(max_subshells=2))
    try:
        first = client.create()
        client.create()
        refused = client.control("create_subshell_request")
        assert refused["status"] == "error" and "max_subshells" in refused["evalue"]
        assert len(client.control("list_subshell_request")["subshell_id"]) == 2
        client.control("delete_subshell_request", {"subshell_id": first})
        client.create()  # room again
    finally:
        client.close()


def test_an_interrupt_reaches_the_main_shell_not_a_subshell(client: Client) -> None:
    subshell = client.create()
    running = client.execute("wait:sub", subshell)
    client.wait(lambda: bool(client.kernel.threads), "the subshell's cell to start")
    assert client.control("interrupt_request") == {"status": "ok"}
    client.kernel.gate("sub").set()
    assert client.wait_reply(running)["content"]["status"] == "ok"


class SingleThreaded(Gated):
    allow_subshells = False


@pytest.mark.parametrize(
    "kernel_class, limits",
    [(Gated, KernelLimits(max_subshells=0)), (SingleThreaded, KernelLimits())],
    ids=["max_subshells=0", "allow_subshells=False"],
)
def test_subshells_can_be_turned_off(kernel_class: type[Gated], limits: KernelLimits) -> None:
    client = Client(limits=limits, kernel_class=kernel_class)
    assert "kernel subshells" not in client.control("kernel_info_request")["supported_features"]
    reply, _ = client.pair.request("create_subshell_request", channel="control")
    assert reply is None  # not handled, as by a kernel without subshells
    msg_id = client.execute("on main", "any-id")
    client.run_main()
    assert client.wait_reply(msg_id)["content"]["status"] == "ok"
    client.join_main()


def test_a_subshell_queue_is_bounded() -> None:
    client = Client(limits=KernelLimits(shell_rcvhwm=2))
    try:
        subshell = client.create()
        held = client.execute("wait:sub", subshell)
        client.wait(lambda: bool(client.kernel.threads), "the held cell to start")
        queued = [client.execute(str(n), subshell) for n in range(2)]
        refused = client.execute("one too many", subshell)
        content = client.wait_reply(refused)["content"]
        assert content["status"] == "error" and content["ename"] == "SubshellQueueFull"
        client.kernel.gate("sub").set()
        for msg_id in (held, *queued):
            assert client.wait_reply(msg_id)["content"]["status"] == "ok"
        assert client.kernel.threads.count(f"kernelwire-subshell-{subshell}") == 3
    finally:
        client.close()


def test_stream_text_keeps_the_parent_of_the_thread_that_wrote_it() -> None:
    """Two threads (the main shell and a subshell) write to one stream in turns; every
    published text goes out under the parent of its writer."""
    parents = threading.local()
    published: list[tuple[str, str]] = []
    stream = OutStream(
        "stdout",
        lambda name, text, parent: published.append((text, parent)),
        Flusher(),
        current_parent=lambda: getattr(parents, "value", None),
    )
    turns = [threading.Event() for _ in range(9)]  # the last one: nobody waits for it

    def writer(
        name: str, my_turns: list[threading.Event], next_turns: list[threading.Event]
    ) -> None:
        parents.value = name
        for mine, theirs in zip(my_turns, next_turns, strict=True):
            assert mine.wait(WAIT)
            stream.write(name)
            theirs.set()

    main = threading.Thread(target=writer, args=("main", turns[0:8:2], turns[1:8:2]))
    sub = threading.Thread(target=writer, args=("sub", turns[1:8:2], turns[2::2]))
    main.start(), sub.start()
    turns[0].set()
    main.join(WAIT), sub.join(WAIT)
    stream.publish_pending()
    assert published, "nothing was published"
    for text, parent in published:
        assert set(text.split(parent)) == {""}, (text, parent)
    assert "".join(text for text, _ in published) == "mainsub" * 4


def test_input_is_refused_on_a_subshell(client: Client) -> None:
    subshell = client.create()
    header = {"subshell_id": subshell}
    msg = client.pair.send("execute_request", {"code": "ask", "allow_stdin": True}, header=header)
    content = client.wait_reply(msg["msg_id"])["content"]
    assert content["status"] == "error" and content["ename"] == "StdinNotImplementedError"
    assert "main thread" in content["evalue"]
    assert client.pair.input_requests == []


def test_each_cell_keeps_its_own_execution_count_while_a_subshell_counts(
    client: Client,
) -> None:
    """A subshell's cell, stored in the history while the main shell's cell runs, takes
    the next number; the main cell still answers with its own (its execute_input's)."""
    subshell = client.create()
    long_cell = client.execute("wait:main")
    client.run_main()
    client.wait(lambda: bool(client.outputs(long_cell)[1:]), "the main cell's execute_input")
    quick = client.execute("quick", subshell)
    quick_count = client.wait_reply(quick)["content"]["execution_count"]
    client.kernel.gate("main").set()
    main_count = client.wait_reply(long_cell)["content"]["execution_count"]
    client.join_main()
    announced = {
        msg_id: client.outputs(msg_id)[1]["content"]["execution_count"]
        for msg_id in (long_cell, quick)
    }
    assert (main_count, quick_count) == (1, 2)
    assert announced == {long_cell: 1, quick: 2}
    assert client.kernel.execution_count == 2  # between cells: the last one stored
