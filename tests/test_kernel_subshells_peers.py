"""Subshells (JEP 91) over real sockets: jupyter_client-built requests on the control and
shell channels, against the reference kernel (``python -m kernelwire.kernel``) and against
ipykernel 7.4, with the same test body, so both answer alike.

jupyter_client 8.10 has no subshell helpers: the requests are built with its Session, as
ipykernel's own tests do. The long main-shell cell waits for a file the test writes only
once the subshell has answered, so the order of replies is forced, not timed.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient

from helpers import (
    ipykernel_answers_unknown_subshells,
    start_managed_kernel,
    stdout_of,
    stop_managed_kernel,
)

TIMEOUT = 60.0  # only turns a hang into a failure
KERNELS = {
    "kernelwire-subshells": [sys.executable, "-m", "kernelwire.kernel"],
    "ipykernel-subshells": [sys.executable, "-m", "ipykernel_launcher"],
}


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    data = tmp_path_factory.mktemp("jupyter")
    for name, argv in KERNELS.items():
        spec = data / "kernels" / name
        spec.mkdir(parents=True)
        kernel_json = {
            "argv": [*argv, "-f", "{connection_file}"],
            "display_name": name,
            "language": "python",
        }
        (spec / "kernel.json").write_text(json.dumps(kernel_json))
    return str(data)


@pytest.fixture(scope="module", params=sorted(KERNELS))
def kc(request: pytest.FixtureRequest, spec_dir: str) -> Iterator[BlockingKernelClient]:
    kernel = start_managed_kernel(request.param, spec_dir, TIMEOUT)
    try:
        yield kernel[1]
    finally:
        stop_managed_kernel(kernel)


def control(kc: BlockingKernelClient, msg_type: str, content: Any = None) -> dict[str, Any]:
    msg = kc.session.msg(msg_type, content or {})
    kc.control_channel.send(msg)
    deadline = time.monotonic() + TIMEOUT
    while True:
        reply = kc.control_channel.get_msg(timeout=max(0.0, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            assert reply["msg_type"] == msg_type.replace("_request", "_reply")
            return reply["content"]  # type: ignore[no-any-return]


def execute(kc: BlockingKernelClient, code: str, subshell_id: str | None = None) -> str:
    """Send an execute_request (on a subshell without history: ipykernel's history
    database prints errors when two threads store cells at once)."""
    content = {
        "code": code,
        "silent": False,
        "store_history": subshell_id is None,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }
    msg = kc.session.msg("execute_request", content)
    if subshell_id is not None:
        msg["header"]["subshell_id"] = subshell_id
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]  # type: ignore[no-any-return]


def shell_replies(
    kc: BlockingKernelClient, msg_ids: set[str], timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    """The replies to ``msg_ids``, in the order they came."""
    replies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(replies) < len(msg_ids):
        reply = kc.get_shell_msg(timeout=max(0.0, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") in msg_ids:
            replies.append(reply)
    return replies


def iopub_until_idle(kc: BlockingKernelClient, *msg_ids: str) -> dict[str, list[dict[str, Any]]]:
    """The IOPub messages parented to each of ``msg_ids``, up to the idle status of all."""
    found: dict[str, list[dict[str, Any]]] = {msg_id: [] for msg_id in msg_ids}
    idle: set[str] = set()
    deadline = time.monotonic() + TIMEOUT
    while idle != set(msg_ids):
        try:
            msg = kc.get_iopub_msg(timeout=max(0.0, deadline - time.monotonic()))
        except Empty:
            raise AssertionError(f"no idle for all of {msg_ids}; got {found}") from None
        parent_id = msg["parent_header"].get("msg_id")
        if parent_id not in found:
            continue
        found[parent_id].append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle.add(parent_id)
    return found


def test_kernel_info_announces_subshells(kc: BlockingKernelClient) -> None:
    assert "kernel subshells" in control(kc, "kernel_info_request")["supported_features"]


def test_create_list_and_delete(kc: BlockingKernelClient) -> None:
    created = control(kc, "create_subshell_request")
    assert set(created) == {"status", "subshell_id"} and created["status"] == "ok"
    subshell_id = created["subshell_id"]
    listed = control(kc, "list_subshell_request")
    assert set(listed) == {"status", "subshell_id"} and subshell_id in listed["subshell_id"]
    assert control(kc, "delete_subshell_request", {"subshell_id": subshell_id}) == {"status": "ok"}
    assert subshell_id not in control(kc, "list_subshell_request")["subshell_id"]


def test_a_subshell_answers_while_the_main_shell_runs_a_long_cell(
    kc: BlockingKernelClient, tmp_path: Path
) -> None:
    subshell_id = control(kc, "create_subshell_request")["subshell_id"]
    flag = tmp_path / f"go-{uuid.uuid4().hex}"
    long_cell = execute(
        kc,
        "import os, time\n"
        "print('main started', flush=True)\n"
        f"deadline = time.monotonic() + {TIMEOUT}\n"
        f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print('main done')\n",
    )
    started = time.monotonic() + TIMEOUT
    while "main started" not in stdout_of([kc.get_iopub_msg(timeout=TIMEOUT)]):
        assert time.monotonic() < started, "the main cell did not start"
    quick = execute(kc, "print('from the subshell')\n6 * 7", subshell_id)
    (first,) = shell_replies(kc, {quick})  # the main cell cannot end before the file exists
    assert first["content"]["status"] == "ok"
    assert first["parent_header"]["subshell_id"] == subshell_id
    sub_outputs = iopub_until_idle(kc, quick)[quick]
    assert stdout_of(sub_outputs) == "from the subshell\n"
    results = [m for m in sub_outputs if m["msg_type"] == "execute_result"]
    assert results[0]["content"]["data"]["text/plain"] == "42"
    flag.touch()
    (second,) = shell_replies(kc, {long_cell})
    assert second["content"]["status"] == "ok"
    assert stdout_of(iopub_until_idle(kc, long_cell)[long_cell]) == "main done\n"
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})


def test_requests_of_one_subshell_run_in_order(kc: BlockingKernelClient) -> None:
    subshell_id = control(kc, "create_subshell_request")["subshell_id"]
    ids = [execute(kc, f"{n}", subshell_id) for n in range(5)]
    replies = shell_replies(kc, set(ids))
    assert [r["parent_header"]["msg_id"] for r in replies] == ids
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})


def test_unknown_subshell_ids_get_the_same_errors(
    kc: BlockingKernelClient, request: pytest.FixtureRequest
) -> None:
    msg_id = execute(kc, "1", "no-such-subshell")
    old_ipykernel = "ipykernel" in request.node.callspec.id and not (
        ipykernel_answers_unknown_subshells()
    )
    if old_ipykernel:  # 7.3 leaves the request unanswered and names only the id
        with pytest.raises(Empty):
            shell_replies(kc, {msg_id}, timeout=3)
        deleted = control(kc, "delete_subshell_request", {"subshell_id": "no-such-subshell"})
        assert (deleted["status"], deleted["evalue"]) == ("error", "'no-such-subshell'")
        return
    (reply,) = shell_replies(kc, {msg_id})
    assert reply["content"] == {
        "status": "error",
        "ename": "UnknownSubshellError",
        "evalue": "Unknown subshell_id 'no-such-subshell'",
        "traceback": [],
    }
    states = [m["content"].get("execution_state") for m in iopub_until_idle(kc, msg_id)[msg_id]]
    assert states == ["busy", "idle"]
    deleted = control(kc, "delete_subshell_request", {"subshell_id": "no-such-subshell"})
    assert deleted["status"] == "error"
    assert deleted["evalue"] == "Unknown subshell_id 'no-such-subshell'"


def test_prints_of_concurrent_cells_go_to_their_own_cells(
    kc: BlockingKernelClient, tmp_path: Path
) -> None:
    subshell_id = control(kc, "create_subshell_request")["subshell_id"]
    flag = tmp_path / f"go-{uuid.uuid4().hex}"
    main = execute(
        kc,
        "import os, time\n"
        f"deadline = time.monotonic() + {TIMEOUT}\n"
        f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
        "    print('M')\n"
        "    time.sleep(0.002)\n",
    )
    sub = execute(
        kc,
        "import time\nfor _ in range(100):\n    print('S')\n    time.sleep(0.002)\n",
        subshell_id,
    )
    shell_replies(kc, {sub})
    flag.touch()
    shell_replies(kc, {main})
    outputs = iopub_until_idle(kc, sub, main)
    sub_text, main_text = stdout_of(outputs[sub]), stdout_of(outputs[main])
    assert sub_text == "S\n" * 100
    assert main_text and set(main_text.splitlines()) == {"M"}
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})


def test_an_interrupt_stops_the_main_shell_and_spares_subshells(
    kc: BlockingKernelClient, tmp_path: Path
) -> None:
    """SIGINT lands in the main thread: the main shell's cell is interrupted, a cell
    running on a subshell at the same time runs to its end."""
    subshell_id = control(kc, "create_subshell_request")["subshell_id"]
    flag = tmp_path / f"go-{uuid.uuid4().hex}"
    wait_for_flag = (
        "import os, time\n"
        "print('started', flush=True)\n"
        f"deadline = time.monotonic() + {TIMEOUT}\n"
        f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
    )
    on_subshell = execute(kc, wait_for_flag, subshell_id)
    on_main = execute(kc, wait_for_flag)
    started: set[str] = set()
    deadline = time.monotonic() + TIMEOUT
    while started != {on_subshell, on_main}:  # both cells run: interrupt now
        msg = kc.get_iopub_msg(timeout=max(0.0, deadline - time.monotonic()))
        if msg["msg_type"] == "stream" and "started" in msg["content"]["text"]:
            started.add(msg["parent_header"]["msg_id"])
    assert control(kc, "interrupt_request")["status"] == "ok"
    (main_reply,) = shell_replies(kc, {on_main})
    assert main_reply["content"]["status"] == "error"
    assert main_reply["content"]["ename"] == "KeyboardInterrupt"
    flag.touch()
    (sub_reply,) = shell_replies(kc, {on_subshell})
    assert sub_reply["content"]["status"] == "ok"
    control(kc, "delete_subshell_request", {"subshell_id": subshell_id})


def test_the_reference_kernel_without_subshells(tmp_path: Path) -> None:
    """``KERNELWIRE_LIMITS=max_subshells=0``: no subshells, and no router thread between
    the shell socket and the main shell; requests still run, whatever their header says."""
    from kernelwire.client import BlockingClient, start_kernel

    process = start_kernel(
        connection_file=str(tmp_path / "kernel.json"),
        env={"KERNELWIRE_LIMITS": "max_subshells=0"},
    )
    try:
        with BlockingClient(process.info, kernel=process) as client:
            info = client.wait_for_ready(TIMEOUT)
            assert "kernel subshells" not in info["content"]["supported_features"]
            result = client.execute("6 * 7", subshell_id="ignored", timeout=TIMEOUT)
            assert result.status == "ok" and result.result == {"text/plain": "42"}
            threads = client.execute(
                "import threading; print(sorted(t.name for t in threading.enumerate()))",
                timeout=TIMEOUT,
            )
            assert "kernelwire-control" in threads.stdout
            assert "kernelwire-shell-router" not in threads.stdout
    finally:
        process.cleanup()
