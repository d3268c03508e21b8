"""What a frontend beyond execute needs (issue 8 defect 6): comms the kernel opens, IOPub
traffic of other clients, and any request on any channel (``request``, ``debug_request``),
in both clients, against the reference kernel and ipykernel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelwire.client import AsyncClient, BlockingClient, Comm, KernelProcess, start_kernel

IPYKERNEL = ("python", "-m", "ipykernel_launcher", "-f", "{connection_file}")
READY_TIMEOUT = 60.0
#: Only turns a hang into a failure.
HANG_GUARD = 60.0

#: Code that opens a comm from the kernel, sends on it and closes it, per kernel.
KERNEL_OPENS_A_COMM = {
    "reference": (
        "from kernelwire.kernel import get_kernel\n"
        "comm = get_kernel().comms.open('kw-frontend', {'hello': 1})\n"
        "comm.send({'ping': 2})\n"
        "comm.close({'bye': 3})\n"
    ),
    "ipykernel": (
        "from comm import create_comm\n"
        "comm = create_comm(target_name='kw-frontend', data={'hello': 1})\n"
        "comm.send({'ping': 2})\n"
        "comm.close({'bye': 3})\n"
    ),
}


def _start(kind: str, directory: Path) -> KernelProcess:
    if kind == "reference":
        return start_kernel(connection_file=str(directory / "kernel.json"), cwd=str(directory))
    return start_kernel(
        IPYKERNEL, connection_file=str(directory / "kernel.json"), cwd=str(directory)
    )


@pytest.fixture(scope="module", params=["reference", "ipykernel"])
def kernel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, KernelProcess]]:
    process = _start(request.param, tmp_path_factory.mktemp("kernel"))
    yield request.param, process
    process.cleanup()


class KernelComms:
    """Records the comms the kernel opens and what arrives on them."""

    def __init__(self) -> None:
        self.opened: list[tuple[Comm, dict[str, Any]]] = []
        self.messages: list[dict[str, Any]] = []

    def on_comm_open(self, comm: Comm, msg: dict[str, Any]) -> None:
        self.opened.append((comm, msg))
        comm.on_message = self.messages.append

    def check(self) -> None:
        [(comm, open_msg)] = self.opened
        assert comm.opened_by_kernel and comm.target_name == "kw-frontend"
        assert open_msg["content"]["data"] == {"hello": 1}
        assert [msg["msg_type"] for msg in self.messages] == ["comm_msg", "comm_close"]
        assert [msg["content"]["data"] for msg in self.messages] == [{"ping": 2}, {"bye": 3}]
        assert comm.received == self.messages and comm.closed


def test_blocking_client_sees_a_comm_the_kernel_opens(kernel: tuple[str, KernelProcess]) -> None:
    kind, process = kernel
    comms = KernelComms()
    with BlockingClient(process.info, kernel=process) as client:
        client.wait_for_ready(READY_TIMEOUT)
        client.on_comm_open = comms.on_comm_open
        client.execute(KERNEL_OPENS_A_COMM[kind], timeout=HANG_GUARD).raise_for_error()
    comms.check()


def test_async_client_sees_a_comm_the_kernel_opens(kernel: tuple[str, KernelProcess]) -> None:
    kind, process = kernel
    comms = KernelComms()

    async def scenario() -> None:
        async with AsyncClient(process.info, kernel=process) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            client.on_comm_open = comms.on_comm_open
            result = await client.execute(KERNEL_OPENS_A_COMM[kind], timeout=HANG_GUARD)
            result.raise_for_error()

    asyncio.run(asyncio.wait_for(scenario(), HANG_GUARD))
    comms.check()


def test_iopub_traffic_of_another_client_reaches_the_hook(
    kernel: tuple[str, KernelProcess],
) -> None:
    _, process = kernel
    seen: list[dict[str, Any]] = []

    async def scenario() -> None:
        async with AsyncClient(process.info) as watcher:
            await watcher.wait_for_ready(READY_TIMEOUT)
            watcher.on_other_iopub = seen.append
            own = await watcher.kernel_info(timeout=HANG_GUARD)
            with BlockingClient(process.info, kernel=process) as other:
                other.wait_for_ready(READY_TIMEOUT)
                sent = other.execute("print('from the other client')", timeout=HANG_GUARD)
            request_id = sent.reply["parent_header"]["msg_id"]
            deadline = time.monotonic() + HANG_GUARD
            while not any(
                msg["msg_type"] == "stream" and msg["parent_header"]["msg_id"] == request_id
                for msg in seen
            ):
                assert time.monotonic() < deadline, "the other client's output never came"
                await asyncio.sleep(0.05)
            # the watcher's own traffic is its requests', not the hook's
            own_id = own["parent_header"]["msg_id"]
            assert not any(msg["parent_header"].get("msg_id") == own_id for msg in seen)

    asyncio.run(asyncio.wait_for(scenario(), 2 * HANG_GUARD))


def test_any_request_on_control_gets_its_reply(kernel: tuple[str, KernelProcess]) -> None:
    _, process = kernel
    with BlockingClient(process.info, kernel=process) as client:
        client.wait_for_ready(READY_TIMEOUT)
        reply = client.request("kernel_info_request", channel="control", timeout=HANG_GUARD)
    assert reply["msg_type"] == "kernel_info_reply"
    assert reply["content"]["status"] == "ok"


def test_requests_go_on_shell_or_control_only(kernel: tuple[str, KernelProcess]) -> None:
    _, process = kernel
    with (
        BlockingClient(process.info, kernel=process) as client,
        pytest.raises(ValueError, match="shell or control"),
    ):
        client.request("kernel_info_request", channel="iopub")


@pytest.mark.parametrize("kernel", ["ipykernel"], indirect=True)  # ours has no debugger
def test_debug_request_to_ipykernel(kernel: tuple[str, KernelProcess]) -> None:
    _, process = kernel

    async def scenario() -> list[dict[str, Any]]:
        async with AsyncClient(process.info, kernel=process) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            first = await client.debug_request("debugInfo", timeout=HANG_GUARD)
            second = await client.debug_request("debugInfo", timeout=HANG_GUARD)
            return [first, second]

    replies = asyncio.run(asyncio.wait_for(scenario(), HANG_GUARD))
    for seq, reply in enumerate(replies, start=1):
        assert reply["msg_type"] == "debug_reply"
        assert reply["content"]["command"] == "debugInfo"
        assert reply["content"]["success"] is True
        assert reply["content"]["request_seq"] == seq
