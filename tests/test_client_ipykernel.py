"""The blocking and asyncio clients driving a real ipykernel process.

The kernel uses a non-default signature scheme (hmac-sha512). One kernel serves the module;
the tests that break a kernel (os._exit, a changed key) start their own.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import threading

import pytest

from kernelwire.client import (
    AsyncClient,
    BlockingClient,
    ExecutionError,
    KernelDied,
    KernelTimeout,
    MessageRefused,
    start_kernel,
)
from kernelwire.errors import InvalidSignature

IPYKERNEL = ("python", "-m", "ipykernel_launcher", "-f", "{connection_file}")
SCHEME = "hmac-sha512"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()

ECHO_TARGET = """
from comm import get_comm_manager

def _kw_echo(comm, open_msg):
    buffers = [bytes(b) for b in open_msg["buffers"]]
    comm.send({"opened": open_msg["content"]["data"]}, buffers=[b[::-1] for b in buffers])

    @comm.on_msg
    def _echo(msg):
        comm.send({"echo": msg["content"]["data"]},
                  buffers=[bytes(b).upper() for b in msg["buffers"]])

    @comm.on_close
    def _closed(msg):
        print("closed with", msg["content"]["data"])

get_comm_manager().register_target("kw_echo", _kw_echo)
"""


def _start(tmp_path_factory):
    directory = tmp_path_factory.mktemp("kernel")
    return start_kernel(
        IPYKERNEL,
        connection_file=str(directory / "kernel.json"),
        signature_scheme=SCHEME,
        cwd=str(directory),
    )


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    process = _start(tmp_path_factory)
    yield process
    process.cleanup()


@pytest.fixture(scope="module")
def client(kernel):
    client = BlockingClient(kernel.info, kernel=kernel)
    client.wait_for_ready(60)
    yield client
    client.close()


@pytest.fixture
def own_kernel(tmp_path_factory):
    process = _start(tmp_path_factory)
    yield process
    process.cleanup()


def test_kernel_info_over_the_negotiated_scheme(client, kernel):
    assert kernel.info["signature_scheme"] == "hmac-sha512"
    reply = client.kernel_info()
    assert reply["msg_type"] == "kernel_info_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["implementation"] == "ipython"
    assert reply["header"]["session"] != client.session.session  # the kernel's own session
    assert client.router.refused == 0
    assert client.is_alive()


def test_execute_collects_streams_and_result_in_order(client):
    seen = []
    result = client.execute(
        "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7",
        output_callback=seen.append,
        timeout=30,
    )
    assert result.status == "ok"
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.result == {"text/plain": "42"}
    assert seen == result.outputs  # the callback saw every message, as it arrived
    request_id = result.reply["parent_header"]["msg_id"]
    assert all(m["parent_header"]["msg_id"] == request_id for m in result.outputs)
    states = [m["content"]["execution_state"] for m in result.outputs if m["msg_type"] == "status"]
    assert states == ["busy", "idle"]
    assert result.outputs[-1]["msg_type"] == "status"
    assert isinstance(result.execution_count, int)


def test_display_data_carries_rich_bundles(client):
    code = (
        "from IPython.display import display\n"
        f"display({{'image/png': '{PNG}', 'text/plain': '<image>'}}, raw=True)\n"
        "display({'text/html': '<b>hi</b>'}, raw=True)"
    )
    result = client.execute(code, timeout=30)
    assert [d["content"]["data"] for d in result.displays] == [
        {"image/png": PNG, "text/plain": "<image>"},
        {"text/html": "<b>hi</b>"},
    ]
    assert result.result is None


def test_an_exception_is_reported_and_can_be_raised(client):
    result = client.execute("def f():\n    raise KeyError('nope')\nf()", timeout=30)
    assert result.status == "error"
    assert result.error is not None and result.error["ename"] == "KeyError"
    assert any("nope" in line for line in result.error["traceback"])
    with pytest.raises(ExecutionError, match="KeyError") as caught:
        result.raise_for_error()
    assert caught.value.ename == "KeyError"
    assert client.execute("1 + 1", timeout=30).result == {"text/plain": "2"}


def test_other_shell_requests(client):
    client.execute("kw_value = 17", timeout=30)
    matches = client.complete("kw_va")["content"]["matches"]
    assert "kw_value" in matches
    inspected = client.inspect("kw_value")["content"]
    assert inspected["found"] and "17" in inspected["data"]["text/plain"]
    assert client.is_complete("for i in range(3):")["content"]["status"] == "incomplete"
    assert client.is_complete("x = 1")["content"]["status"] == "complete"
    history = client.history("tail", n=50)["content"]["history"]
    assert any("kw_value = 17" in entry[2] for entry in history)
    assert client.comm_info()["content"]["status"] == "ok"


def test_comms_carry_binary_buffers_both_ways(client):
    client.execute(ECHO_TARGET, timeout=30).raise_for_error()
    comm = client.comm_open("kw_echo", {"hello": 1}, buffers=[b"\x00\x01\xff", bytearray(b"abc")])
    client.collect_outputs(comm.open_msg_id, timeout=30)
    assert len(comm.received) == 1
    opened = comm.received[0]
    assert opened["content"]["data"] == {"opened": {"hello": 1}}
    assert [bytes(b) for b in opened["buffers"]] == [b"\xff\x01\x00", b"cba"]
    info = client.comm_info("kw_echo")["content"]["comms"]
    assert info == {comm.comm_id: {"target_name": "kw_echo"}}

    msg_id = client.comm_msg(comm, {"n": 2}, buffers=[memoryview(b"binary\x00data")])
    outputs = client.collect_outputs(msg_id, timeout=30)
    echoed = [m for m in outputs if m["msg_type"] == "comm_msg"]
    assert echoed == comm.received[1:]
    assert echoed[0]["content"]["data"] == {"echo": {"n": 2}}
    assert [bytes(b) for b in echoed[0]["buffers"]] == [b"BINARY\x00DATA"]

    closing = client.collect_outputs(client.comm_close(comm, {"bye": True}), timeout=30)
    assert comm.closed
    assert "closed with {'bye': True}" in "".join(
        m["content"].get("text", "") for m in closing if m["msg_type"] == "stream"
    )
    assert client.comm_info("kw_echo")["content"]["comms"] == {}


def test_input_requests_are_answered_by_the_handler(client):
    prompts = []

    def answer(prompt, password):
        prompts.append((prompt, password))
        return "s3cret" if password else "Ada"

    code = (
        "import getpass\n"
        "name = input('Name: ')\n"
        "pw = getpass.getpass('Secret: ')\n"
        "print(name, len(pw))"
    )
    result = client.execute(code, input_handler=answer, timeout=30)
    assert result.status == "ok", result.error
    assert prompts == [("Name: ", False), ("Secret: ", True)]
    assert result.stdout.endswith("Ada 6\n")


def test_input_without_a_handler_or_at_eof(client):
    refused = client.execute("input('x')", timeout=30)
    assert refused.error is not None and refused.error["ename"] == "StdinNotImplementedError"

    def end_of_input(prompt, password):
        raise EOFError

    at_eof = client.execute("input('x')", input_handler=end_of_input, timeout=30)
    assert at_eof.error is not None and at_eof.error["ename"] == "EOFError"


def test_timeout_then_signal_interrupt_then_resume(client, kernel):
    with pytest.raises(KernelTimeout, match="no execute_reply and idle status within 1") as caught:
        client.execute("print('sleeping', flush=True)\nimport time\ntime.sleep(30)", timeout=1)
    assert caught.value.msg_id is not None
    kernel.interrupt()  # SIGINT: ipykernel's kernelspec interrupt_mode is "signal"
    outputs = client.collect_outputs(caught.value.msg_id, timeout=20)
    errors = [m["content"]["ename"] for m in outputs if m["msg_type"] == "error"]
    assert errors == ["KeyboardInterrupt"]
    assert client.execute("'still here'", timeout=30).result == {"text/plain": "'still here'"}


def test_interrupt_from_another_client_in_another_thread(client, kernel):
    started = threading.Event()

    def on_output(msg):
        if msg["msg_type"] == "stream" and "sleeping" in msg["content"]["text"]:
            started.set()

    def interrupter():
        if started.wait(30):
            with BlockingClient(kernel.connection_file) as other:
                other.interrupt(timeout=10)

    thread = threading.Thread(target=interrupter)
    thread.start()
    try:
        # No flush=True, as in the async test below: the interrupt lands in the sleep.
        result = client.execute(
            "import time\nprint('sleeping')\ntime.sleep(30)",
            output_callback=on_output,
            timeout=20,
        )
    finally:
        started.set()
        thread.join(30)
    assert result.error is not None and result.error["ename"] == "KeyboardInterrupt"


def test_an_output_callback_error_reaches_the_caller(client, kernel):
    def broken(msg):
        raise RuntimeError("callback broke")

    with pytest.raises(RuntimeError, match="callback broke"):
        client.execute("print('x')", output_callback=broken, timeout=30)

    async def asynchronously():
        async with AsyncClient(kernel.info, kernel=kernel) as other:
            await other.wait_for_ready(30)
            with pytest.raises(RuntimeError, match="callback broke"):
                await other.execute("print('x')", output_callback=broken, timeout=30)

    asyncio.run(asynchronously())
    assert client.execute("'fine'", timeout=30).result == {"text/plain": "'fine'"}


def test_a_client_with_the_wrong_key_gets_a_clear_error(client, kernel):
    wrong = BlockingClient({**kernel.info, "key": "not-the-key"})
    try:
        with pytest.raises(KernelTimeout, match="answers heartbeats but sent no") as caught:
            wrong.wait_for_ready(timeout=2)
        assert "check that the key and signature_scheme match" in str(caught.value)
        assert wrong.is_alive()  # the heartbeat needs no key: the kernel is there
        client.execute("print('traffic')", timeout=30)  # IOPub the wrong client must refuse
        with pytest.raises(MessageRefused, match="failed verification") as again:
            wrong.kernel_info(timeout=10)  # refused and nothing accepted: no need to wait
        message = str(again.value)
        assert "refused" in message and "InvalidSignature" in message
        assert "key and signature_scheme" in message
        assert "not-the-key" not in message and kernel.info["key"] not in message
        assert caught.value.msg_id is not None
    finally:
        wrong.close()


def test_async_client_execute_interrupt_comm_and_input(kernel):
    async def scenario():
        async with AsyncClient(kernel.info, kernel=kernel) as client:
            await client.wait_for_ready(30)
            started = asyncio.Event()

            def on_output(msg):
                if msg["msg_type"] == "stream" and "sleeping" in msg["content"]["text"]:
                    started.set()

            # No flush=True: "sleeping" then reaches us from ipykernel's background flush,
            # while the cell sleeps. With an explicit flush the interrupt could land inside
            # ipykernel's own flush, and once (in a loaded CI run) the cell then slept on.
            sleeper = asyncio.create_task(
                client.execute(
                    "import time\nprint('sleeping')\ntime.sleep(30)",
                    output_callback=on_output,
                    timeout=30,
                )
            )
            await asyncio.wait_for(started.wait(), 30)
            await client.interrupt(timeout=10)
            interrupted = await asyncio.wait_for(sleeper, 20)

            async def answer(prompt, password):
                return prompt.upper()

            echoed = await client.execute("print(input('shout'))", input_handler=answer, timeout=30)
            await client.execute(ECHO_TARGET, timeout=30)
            comm = await client.comm_open("kw_echo", {}, buffers=[b"xyz"])
            await client.collect_outputs(comm.open_msg_id, timeout=30)
            msg_id = await client.comm_msg(comm, {"k": 1}, buffers=[b"abc"])
            await client.collect_outputs(msg_id, timeout=30)
            await client.collect_outputs(await client.comm_close(comm), timeout=30)
            info = await client.kernel_info()
            alive = await client.is_alive()
            await client.execute("async_value = 5", timeout=30)
            others = [
                "async_value" in (await client.complete("async_va"))["content"]["matches"],
                (await client.inspect("async_value"))["content"]["found"],
                (await client.is_complete("if x:"))["content"]["status"] == "incomplete",
                any(
                    "async_value = 5" in entry[2]
                    for entry in (await client.history(n=20))["content"]["history"]
                ),
                (await client.comm_info())["content"]["status"] == "ok",
            ]
            return interrupted, echoed, comm, info, alive, others

    interrupted, echoed, comm, info, alive, others = asyncio.run(scenario())
    assert others == [True] * 5
    assert interrupted.error is not None and interrupted.error["ename"] == "KeyboardInterrupt"
    assert echoed.stdout.endswith("SHOUT\n")
    assert [bytes(b) for m in comm.received for b in m["buffers"]] == [b"zyx", b"ABC"]
    assert info["content"]["status"] == "ok"
    assert alive


def test_a_kernel_dying_mid_request_is_reported(own_kernel):
    watcher = BlockingClient(own_kernel.info, kernel=own_kernel)
    bystander = BlockingClient(own_kernel.info, heartbeat_timeout=2.0)  # knows no process
    try:
        watcher.wait_for_ready(60)
        bystander.wait_for_ready(60)
        with pytest.raises(KernelDied, match="exited with code 3"):
            watcher.execute("import os\nos._exit(3)")  # no timeout: death ends the wait
        with pytest.raises(KernelDied, match="did not answer a heartbeat"):
            bystander.execute("1")
        assert not watcher.is_alive()
        assert not bystander.is_alive(timeout=0.5)
    finally:
        watcher.close()
        bystander.close()

    async def asynchronously():
        async with AsyncClient(own_kernel.info, kernel=own_kernel) as watching:
            with pytest.raises(KernelDied, match="exited with code 3"):
                await watching.execute("1")
        async with AsyncClient(own_kernel.info, heartbeat_timeout=1.0) as heartbeat_only:
            with pytest.raises(KernelDied, match="did not answer a heartbeat"):
                await heartbeat_only.execute("1")
            assert not await heartbeat_only.is_alive(timeout=0.5)

    asyncio.run(asynchronously())


def test_a_reply_signed_with_another_key_is_refused_then_shutdown(own_kernel):
    client = BlockingClient(own_kernel.info, kernel=own_kernel)
    try:
        client.wait_for_ready(60)
        with pytest.raises(MessageRefused, match="failed verification") as caught:
            client.execute("get_ipython().kernel.session.key = b'changed'")
        assert isinstance(caught.value.__cause__, InvalidSignature)
        assert "changed" not in str(caught.value)
        client.session.key = b"changed"  # adopt the kernel's new key: talking works again
        reply = client.shutdown(timeout=20)
        assert reply is not None and reply["content"]["status"] == "ok"
        assert own_kernel.wait(20) and own_kernel.exit_code == 0
    finally:
        client.close()


def test_a_kernel_that_fails_to_start_is_reported_with_its_output(tmp_path):
    code = "import sys; print('boom: no such module', file=sys.stderr); sys.exit(4)"
    with start_kernel(
        [sys.executable, "-c", code, "{connection_file}"],
        connection_file=str(tmp_path / "k.json"),
    ) as process:
        client = BlockingClient(process.info, kernel=process)
        try:
            with pytest.raises(KernelDied, match="exited with code 4") as caught:
                client.wait_for_ready(60)
            assert "boom: no such module" in str(caught.value)
        finally:
            client.close()
    assert not os.path.exists(tmp_path / "k.json")
