"""Our clients driving a kernel nobody here wrote: xeus-python 0.19 (C++ on xeus-zmq, from
its wheel), started from its installed kernelspec by kernelwire's launcher and by
jupyter_client's KernelManager: execute, outputs, errors, completion, interrupts, shutdown.

Two facts about xeus-python 0.19 shape the interrupt tests: SIGINT (its kernelspec's
interrupt_mode) ends the process instead of interrupting the code (jupyter-xeus/xeus#272,
open), and an ``interrupt_request`` is answered but leaves running code alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import run, start_managed_kernel, stop_managed_kernel
from kernelwire.client import (
    AsyncClient,
    BlockingClient,
    ExecutionError,
    KernelDied,
    KernelProcess,
    start_kernel,
)
from kernelwire.kernelspec import KernelSpec, get_kernel_spec

READY_TIMEOUT = 60.0
OUTPUTS = """
import sys
from IPython.display import HTML, display
print("to stdout")
print("to stderr", file=sys.stderr)
display(HTML("<b>shown</b>"))
6 * 7
"""


@pytest.fixture(scope="module")
def spec() -> KernelSpec:
    return get_kernel_spec("xpython")


def _start(spec: KernelSpec, directory: Path) -> KernelProcess:
    return start_kernel(spec.argv, resource_dir=spec.resource_dir, env=spec.env, cwd=str(directory))


@pytest.fixture(scope="module")
def xeus(spec: KernelSpec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelProcess]:
    kernel = _start(spec, tmp_path_factory.mktemp("xeus"))
    yield kernel
    kernel.cleanup()


@pytest.fixture(scope="module")
def client(xeus: KernelProcess) -> Iterator[BlockingClient]:
    with BlockingClient(xeus.info, kernel=xeus) as blocking:
        blocking.wait_for_ready(READY_TIMEOUT)
        yield blocking


@pytest.fixture
def own_xeus(spec: KernelSpec, tmp_path: Path) -> Iterator[KernelProcess]:
    kernel = _start(spec, tmp_path)
    yield kernel
    kernel.cleanup()


def test_kernel_info_names_xeus_python(client: BlockingClient) -> None:
    content = client.kernel_info()["content"]
    assert content["status"] == "ok"
    assert content["implementation"] == "xeus-python"
    assert content["language_info"]["name"] == "python"


def test_execute_collects_streams_result_and_displays(client: BlockingClient) -> None:
    result = client.execute(OUTPUTS, timeout=READY_TIMEOUT)
    assert result.status == "ok"
    assert result.stdout == "to stdout\n"
    assert result.stderr == "to stderr\n"
    assert [d["content"]["data"]["text/html"] for d in result.displays] == ["<b>shown</b>"]
    assert result.result == {"text/plain": "42"}
    assert result.execution_count == result.reply["content"]["execution_count"]
    assert [m["msg_type"] for m in result.outputs][:2] == ["status", "execute_input"]


def test_an_error_is_reported_and_the_kernel_goes_on(client: BlockingClient) -> None:
    result = client.execute("1 / 0", timeout=READY_TIMEOUT)
    assert result.status == "error"
    assert result.error is not None
    # xeus-python 0.19 names the class as "<class 'ZeroDivisionError'>"
    assert "ZeroDivisionError" in result.error["ename"]
    assert result.error["evalue"] == "division by zero"
    assert any("ZeroDivisionError" in line for line in result.error["traceback"])
    with pytest.raises(ExecutionError, match="division by zero"):
        result.raise_for_error()
    assert client.execute("print('still here')", timeout=READY_TIMEOUT).stdout == "still here\n"


def test_completion_inspection_and_is_complete(client: BlockingClient) -> None:
    completion = client.complete("import o")["content"]
    assert completion["status"] == "ok"
    assert "os" in completion["matches"]
    assert (completion["cursor_start"], completion["cursor_end"]) == (7, 8)
    assert client.is_complete("for i in x:")["content"]["status"] == "incomplete"
    assert client.is_complete("x = 1")["content"]["status"] == "complete"
    inspection = client.inspect("len")["content"]
    assert inspection["status"] == "ok" and inspection["found"]
    assert "len" in inspection["data"]["text/plain"]


def test_async_client_drives_xeus(xeus: KernelProcess) -> None:
    async def main() -> None:
        async with AsyncClient(xeus.info, kernel=xeus) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            result = await client.execute(OUTPUTS, timeout=READY_TIMEOUT)
            assert (result.stdout, result.result) == ("to stdout\n", {"text/plain": "42"})
            assert len(result.displays) == 1
            failed = await client.execute("undefined_name", timeout=READY_TIMEOUT)
            assert failed.error is not None and "NameError" in failed.error["ename"]
            completion = (await client.complete("import o"))["content"]
            assert "os" in completion["matches"]

    run(main, timeout=2 * READY_TIMEOUT)


def test_interrupt_request_is_answered_while_a_cell_runs(
    xeus: KernelProcess, client: BlockingClient
) -> None:
    """A second client asks for an interrupt on control while the first one's cell runs
    on shell: the interrupt_reply comes, the cell's reply comes, the kernel goes on."""
    running = threading.Event()
    replies: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def interrupt_once_running() -> None:
        try:
            assert running.wait(READY_TIMEOUT), "the cell never started"
            with BlockingClient(xeus.info, kernel=xeus) as other:
                replies.append(other.interrupt(timeout=READY_TIMEOUT))
        except BaseException as exc:
            errors.append(exc)

    def on_output(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "execute_input":
            running.set()

    interrupter = threading.Thread(target=interrupt_once_running)
    interrupter.start()
    try:
        result = client.execute(
            "import time; time.sleep(2)", timeout=READY_TIMEOUT, output_callback=on_output
        )
    finally:
        running.set()
        interrupter.join(READY_TIMEOUT)
    assert not errors, errors
    assert [r["content"]["status"] for r in replies] == ["ok"]
    interrupted = result.error is not None and "KeyboardInterrupt" in result.error["ename"]
    assert result.status == "ok" or interrupted
    assert client.execute("1 + 1", timeout=READY_TIMEOUT).result == {"text/plain": "2"}


def test_a_signal_interrupt_ends_a_long_sleep(own_xeus: KernelProcess) -> None:
    """SIGINT during a ten-minute sleep: the client does not wait it out. Today xeus-python
    exits on SIGINT and the client says so (KernelDied with the exit); a xeus-python that
    interrupts instead gives the cell a KeyboardInterrupt error."""
    with BlockingClient(own_xeus.info, kernel=own_xeus) as client:
        client.wait_for_ready(READY_TIMEOUT)

        def on_output(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "execute_input":
                own_xeus.interrupt()

        try:
            result = client.execute(
                "import time; time.sleep(600)", timeout=READY_TIMEOUT, output_callback=on_output
            )
        except KernelDied as died:
            assert f"kernel process {own_xeus.pid} " in str(died)
            assert own_xeus.exit_code is not None
        else:
            assert result.error is not None and "KeyboardInterrupt" in result.error["ename"]


def test_blocking_shutdown_ends_the_process(own_xeus: KernelProcess) -> None:
    with BlockingClient(own_xeus.info, kernel=own_xeus) as client:
        client.wait_for_ready(READY_TIMEOUT)
        reply = client.shutdown(timeout=READY_TIMEOUT)
    assert reply is not None
    assert reply["content"]["status"] == "ok" and reply["content"]["restart"] is False
    assert own_xeus.wait(READY_TIMEOUT), "xeus-python did not exit after shutdown_reply"


def test_a_kernel_manager_started_xeus_is_driven_and_shut_down_by_async_client() -> None:
    """jupyter_client's KernelManager starts xeus-python from its kernelspec; our client
    attaches through the connection file (heartbeat mode) and shuts it down."""
    managed = start_managed_kernel("xpython")
    km = managed[0]
    try:

        async def main() -> dict[str, Any] | None:
            async with AsyncClient(km.connection_file) as client:
                await client.wait_for_ready(READY_TIMEOUT)
                result = await client.execute("print('managed')", timeout=READY_TIMEOUT)
                assert result.stdout == "managed\n"
                return await client.shutdown(timeout=READY_TIMEOUT)

        reply = run(main, timeout=2 * READY_TIMEOUT)
        assert reply is not None and reply["content"]["status"] == "ok"
        km.provisioner.process.wait(READY_TIMEOUT)  # raises if it does not exit
        assert not km.is_alive()
    finally:
        stop_managed_kernel(managed)
