"""The shell router starts with the first subshell (see ``kernelwire.kernel.shellport``):
until then the main thread reads the shell ROUTER itself. The switch must not wait for the
main thread, which may be running a long cell the new subshell is there to answer beside.
Each test starts a kernel of its own, as the switch happens once per kernel."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client import BlockingKernelClient

from helpers import stdout_of
from kernelwire.client import BlockingClient, KernelTimeout, start_kernel

TIMEOUT = 60.0  # only turns a hang into a failure


@pytest.fixture
def client(tmp_path: Path) -> Iterator[BlockingClient]:
    process = start_kernel(
        (sys.executable, "-m", "kernelwire.kernel", "-f", "{connection_file}"),
        connection_file=str(tmp_path / "kernel.json"),
        cwd=str(tmp_path),
    )
    try:
        with BlockingClient(process.info, kernel=process) as client:
            client.wait_for_ready(TIMEOUT)
            yield client
    finally:
        process.cleanup()


def send_without_waiting(client: BlockingClient, code: str) -> str:
    """The msg_id of an execute_request whose reply is collected later."""
    try:
        client.execute(code, timeout=0)
    except KernelTimeout as pending:
        assert pending.msg_id is not None
        return pending.msg_id
    raise AssertionError("the cell cannot be done yet")


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def test_first_subshell_created_during_a_long_main_cell_answers_at_once(
    client: BlockingClient, tmp_path: Path
) -> None:
    started, go = tmp_path / f"started-{uuid.uuid4().hex}", tmp_path / f"go-{uuid.uuid4().hex}"
    main_id = send_without_waiting(
        client,
        "import os, time\n"
        f"open({str(started)!r}, 'w').close()\n"
        f"deadline = time.monotonic() + {TIMEOUT}\n"
        f"while not os.path.exists({str(go)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        f"print('main saw go', os.path.exists({str(go)!r}))\n",
    )
    wait_for(started)  # the main thread is inside the cell: it reads no socket now
    queued_id = send_without_waiting(client, "print('queued behind the long cell')")
    subshell_id = client.create_subshell()
    # answered while the main cell still runs: the cell ends only once the flag exists
    result = client.execute("6 * 7", subshell_id=subshell_id, timeout=TIMEOUT)
    assert result.status == "ok" and result.result is not None
    assert result.result["text/plain"] == "42"
    assert not go.exists()
    go.touch()
    for msg_id, text in (
        (main_id, "main saw go True\n"),
        (queued_id, "queued behind the long cell\n"),
    ):
        outputs = client.collect_outputs(msg_id, TIMEOUT)
        assert [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"] == [text]
    # the main shell and the subshell both go on through the router
    assert client.execute("print('main again')", timeout=TIMEOUT).stdout == "main again\n"
    assert client.execute(
        "print('sub again')", subshell_id=subshell_id, timeout=TIMEOUT
    ).stdout == ("sub again\n")


def test_before_any_subshell_an_unknown_one_is_refused_then_the_first_one_serves(
    client: BlockingClient,
) -> None:
    refused = client.execute("1", subshell_id="no-such-subshell", timeout=TIMEOUT)
    assert refused.status == "error"
    assert refused.reply["content"]["evalue"] == "Unknown subshell_id 'no-such-subshell'"
    assert client.execute("x = 5", timeout=TIMEOUT).status == "ok"
    subshell_id = client.create_subshell()
    result = client.execute("x * 2", subshell_id=subshell_id, timeout=TIMEOUT)
    assert result.result is not None and result.result["text/plain"] == "10"
    assert client.execute("print(x + 1)", timeout=TIMEOUT).stdout == "6\n"


def test_an_abort_after_an_error_leaves_requests_naming_a_subshell_to_the_subshells(
    tmp_path: Path,
) -> None:
    """While the main thread reads the ROUTER, a ``stop_on_error`` abort drains it: a queued
    request naming a subshell still gets the subshell answer, not ``aborted``."""
    process = start_kernel(
        (sys.executable, "-m", "kernelwire.kernel", "-f", "{connection_file}"),
        connection_file=str(tmp_path / "kernel.json"),
        cwd=str(tmp_path),
    )
    client = BlockingKernelClient()
    client.load_connection_info(process.info)
    client.start_channels()
    try:
        client.wait_for_ready(TIMEOUT)
        started, go = tmp_path / "started", tmp_path / "go"
        failing_id = client.execute(
            "import os, time\n"
            f"open({str(started)!r}, 'w').close()\n"
            f"deadline = time.monotonic() + {TIMEOUT}\n"
            f"while not os.path.exists({str(go)!r}) and time.monotonic() < deadline:\n"
            "    time.sleep(0.01)\n"
            "raise ValueError('stop here')\n"
        )
        wait_for(started)
        request = client.session.msg("execute_request", {"code": "1", "silent": False})
        request["header"]["subshell_id"] = "no-such-subshell"
        client.shell_channel.send(request)
        go.touch()
        replies = {}
        while len(replies) < 2:
            reply = client.get_shell_msg(timeout=TIMEOUT)
            replies[reply["parent_header"]["msg_id"]] = reply["content"]
        assert replies[failing_id]["ename"] == "ValueError"
        refused = replies[request["header"]["msg_id"]]
        assert (refused["status"], refused.get("ename")) == ("error", "UnknownSubshellError")
    finally:
        client.stop_channels()
        process.cleanup()


ROUTER_RUNS = (
    "import threading\n"
    "print('kernelwire-shell-router' in [thread.name for thread in threading.enumerate()])"
)


def router_runs(client: BlockingClient) -> bool:
    """Whether the kernel's shell router thread runs, as a main-shell cell sees it."""
    return client.execute(ROUTER_RUNS, timeout=TIMEOUT).stdout == "True\n"


def test_the_main_thread_reads_the_router_again_once_the_last_subshell_ended(
    client: BlockingClient,
) -> None:
    """Regression: once started, the router thread stayed for good, and every main-shell
    request after a subshell came and went paid the thread hop each way (a "pass"
    round trip 20-30% slower). It ends once the last subshell's thread has; the next
    subshell starts it again, and both shells keep working throughout."""
    assert not router_runs(client)
    for round_ in range(3):
        first, second = client.create_subshell(), client.create_subshell()
        assert router_runs(client)
        assert client.execute("print(1)", subshell_id=first, timeout=TIMEOUT).stdout == "1\n"
        client.delete_subshell(first)
        assert router_runs(client)  # one subshell is left
        assert client.execute("print(2)", subshell_id=second, timeout=TIMEOUT).stdout == "2\n"
        client.delete_subshell(second)
        deadline = time.monotonic() + TIMEOUT
        while router_runs(client):  # the thread ends after a request of the main shell
            assert time.monotonic() < deadline, f"the router still runs (round {round_})"
        assert client.execute(f"print({round_})", timeout=TIMEOUT).stdout == f"{round_}\n"


def test_requests_queued_while_the_router_hands_back_keep_their_order(
    client: BlockingClient,
) -> None:
    """Requests the router thread had handed to the main shell when it ended are answered
    before those the main thread then reads from the ROUTER itself, in the order sent."""
    for round_ in range(5):
        subshell_id = client.create_subshell()
        client.execute("pass", subshell_id=subshell_id, timeout=TIMEOUT)
        client.delete_subshell(subshell_id)
        msg_ids = [send_without_waiting(client, f"print({round_ * 100 + i})") for i in range(30)]
        for i, msg_id in enumerate(msg_ids):
            assert stdout_of(client.collect_outputs(msg_id, TIMEOUT)) == f"{round_ * 100 + i}\n"
        assert client.execute("print('after')", timeout=TIMEOUT).stdout == "after\n"


def test_a_subshell_created_while_the_router_hands_back_is_served(
    client: BlockingClient,
) -> None:
    """A subshell created just as the main thread takes the ROUTER back starts routing
    again: its requests and the main shell's are all answered."""
    for round_ in range(20):
        old = client.create_subshell()
        client.delete_subshell(old)
        pending = send_without_waiting(client, f"print('main {round_}')")  # may hand back
        new = client.create_subshell()
        result = client.execute(f"print('sub {round_}')", subshell_id=new, timeout=TIMEOUT)
        assert result.stdout == f"sub {round_}\n"
        assert stdout_of(client.collect_outputs(pending, TIMEOUT)) == f"main {round_}\n"
        client.delete_subshell(new)


def test_the_router_hands_back_while_the_main_shells_queue_is_full(tmp_path: Path) -> None:
    """Regression (found by review): with the main shell's queue full behind a long cell,
    the router thread waited for room, missed the hand-back, and the main thread gave up on
    it after 5 s and took the ROUTER anyway: requests were stranded in the queue and two
    threads sent on the ROUTER. Before the hand-back existed, the router waiting for room
    and the main thread waiting to send a reply could wait for each other for good."""
    go = tmp_path / "go"
    process = start_kernel(
        (sys.executable, "-m", "kernelwire.kernel", "-f", "{connection_file}"),
        connection_file=str(tmp_path / "kernel.json"),
        cwd=str(tmp_path),
        env={**os.environ, "KERNELWIRE_LIMITS": "shell_rcvhwm=2"},
    )
    try:
        with BlockingClient(process.info, kernel=process) as client:
            client.wait_for_ready(TIMEOUT)
            subshell_id = client.create_subshell()
            client.execute("pass", subshell_id=subshell_id, timeout=TIMEOUT)
            long_id = send_without_waiting(
                client,
                "import os, time\n"
                f"while not os.path.exists({str(go)!r}):\n"
                "    time.sleep(0.01)\n"
                "print('long')",
            )
            msg_ids = [send_without_waiting(client, f"print({i})") for i in range(20)]
            time.sleep(1.0)  # lets the router fill the main shell's queue and wait for room
            client.delete_subshell(subshell_id)  # its thread ends: the router may go
            time.sleep(0.5)  # lets the subshell's thread end before the long cell does
            go.touch()
            assert stdout_of(client.collect_outputs(long_id, TIMEOUT)) == "long\n"
            for i, msg_id in enumerate(msg_ids):
                assert stdout_of(client.collect_outputs(msg_id, TIMEOUT)) == f"{i}\n"
            assert client.execute("print('after')", timeout=TIMEOUT).stdout == "after\n"
    finally:
        process.cleanup()
