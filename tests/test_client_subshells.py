"""Subshells (JEP 91) from both clients: ``create_subshell``, ``list_subshells``,
``delete_subshell`` and ``execute(..., subshell_id=...)``, against ipykernel 7.4 and the
reference kernel, real processes.

The long main-shell cell waits for a file the test writes only once the subshell's cell
has returned, so what is asserted is forced by the order of events, not by timing.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ipykernel_answers_unknown_subshells, run
from kernelwire.client import (
    AsyncClient,
    BlockingClient,
    KernelProcess,
    KernelTimeout,
    SubshellError,
    start_kernel,
)
from kernelwire.client.requests import execute as execute_request
from kernelwire.client.requests import on_subshell

TIMEOUT = 60.0  # only turns a hang into a failure
KERNELS = {
    "ipykernel": (sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"),
    "kernelwire": (sys.executable, "-m", "kernelwire.kernel", "-f", "{connection_file}"),
}


@pytest.fixture(scope="module", params=sorted(KERNELS))
def kernel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KernelProcess]:
    directory = tmp_path_factory.mktemp("kernel")
    process = start_kernel(
        KERNELS[request.param], connection_file=str(directory / "kernel.json"), cwd=str(directory)
    )
    yield process
    process.cleanup()


@pytest.fixture
def client(kernel: KernelProcess) -> Iterator[BlockingClient]:
    with BlockingClient(kernel.info, kernel=kernel) as client:
        client.wait_for_ready(TIMEOUT)
        yield client


def long_cell(flag: Path) -> str:
    """A main-shell cell that prints, then runs until ``flag`` exists."""
    return (
        "import os, time\n"
        "print('main started', flush=True)\n"
        f"deadline = time.monotonic() + {TIMEOUT}\n"
        f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print('main done')\n"
    )


def test_requests_carry_the_subshell_id_in_their_header() -> None:
    request = on_subshell(execute_request("1"), "abc")
    assert request.subshell_id == "abc" and request.channel == "shell"
    with pytest.raises(ValueError, match="shell requests"):
        on_subshell(execute_request("1").__class__("interrupt_request", {}, "control"), "abc")


def test_create_list_delete(client: BlockingClient) -> None:
    subshell_id = client.create_subshell()
    assert subshell_id in client.list_subshells()
    assert client.delete_subshell(subshell_id)["status"] == "ok"
    assert subshell_id not in client.list_subshells()
    with pytest.raises(SubshellError) as refused:
        client.delete_subshell(subshell_id)
    expected = f"Unknown subshell_id {subshell_id!r}"
    if _is_old_ipykernel(client):
        expected = repr(subshell_id)
    assert refused.value.evalue == expected


def _is_old_ipykernel(client: BlockingClient) -> bool:
    implementation = client.kernel_info()["content"]["implementation"]
    return implementation == "ipython" and not ipykernel_answers_unknown_subshells()


def test_blocking_client_runs_a_subshell_cell_while_the_main_shell_is_busy(
    client: BlockingClient, tmp_path: Path
) -> None:
    subshell_id = client.create_subshell()
    flag = tmp_path / f"go-{uuid.uuid4().hex}"
    try:  # send the main cell without waiting for it (it waits for the flag)
        client.execute(long_cell(flag), timeout=0)
        raise AssertionError("the long cell cannot be done yet")
    except KernelTimeout as pending:
        main_id = pending.msg_id
    assert main_id is not None
    result = client.execute(
        "print('sub')\n6 * 7", subshell_id=subshell_id, store_history=False, timeout=TIMEOUT
    )
    assert result.status == "ok" and result.stdout == "sub\n"
    assert result.result is not None and result.result["text/plain"] == "42"
    assert result.reply["parent_header"]["subshell_id"] == subshell_id
    completion = client.complete("resu", subshell_id=subshell_id)
    assert completion["parent_header"]["subshell_id"] == subshell_id
    flag.touch()
    outputs = client.collect_outputs(main_id, TIMEOUT)
    text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert text == "main started\nmain done\n"
    client.delete_subshell(subshell_id)


def test_an_unknown_subshell_id_fails_the_execution(client: BlockingClient) -> None:
    if _is_old_ipykernel(client):  # it leaves the request unanswered
        with pytest.raises(KernelTimeout):
            client.execute("1", subshell_id="no-such-subshell", timeout=3)
        return
    result = client.execute("1", subshell_id="no-such-subshell", timeout=TIMEOUT)
    assert result.status == "error"
    assert result.reply["content"]["ename"] == "UnknownSubshellError"
    assert result.reply["content"]["evalue"] == "Unknown subshell_id 'no-such-subshell'"


def test_async_client(kernel: KernelProcess, tmp_path: Path) -> None:
    flag = tmp_path / f"go-{uuid.uuid4().hex}"

    async def scenario() -> tuple[Any, Any, list[str], list[str]]:
        async with AsyncClient(kernel.info, kernel=kernel) as client:
            await client.wait_for_ready(TIMEOUT)
            subshell_id = await client.create_subshell()
            listed = await client.list_subshells()
            main = asyncio.ensure_future(client.execute(long_cell(flag), timeout=TIMEOUT))
            sub = await client.execute(
                "6 * 7", subshell_id=subshell_id, store_history=False, timeout=TIMEOUT
            )
            assert not main.done()  # it cannot be: the flag does not exist yet
            flag.touch()
            main_result = await main
            await client.delete_subshell(subshell_id)
            return sub, main_result, listed, [subshell_id]

    sub, main_result, listed, created = run(scenario, timeout=2 * TIMEOUT)
    assert created[0] in listed
    assert sub.status == "ok" and sub.result["text/plain"] == "42"
    assert main_result.status == "ok" and main_result.stdout == "main started\nmain done\n"
