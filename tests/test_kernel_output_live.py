"""Output stays live: what a cell prints reaches the client while the cell still runs, even
when the cell then sleeps, and after a flood of output too (batching must never hold text
back until the cell ends). No timing is asserted: the cell sleeps far longer than the
bounded wait, so the text can only arrive in time by being sent during the sleep."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient

from helpers import stream_texts_until_idle, wait_until_serving
from kernelwire.client import KernelProcess, start_kernel

#: Bounds every wait (generous: the machine may be loaded); the cells sleep much longer.
TIMEOUT = 60.0
SLEEP = 600


@pytest.fixture
def kernel() -> Iterator[tuple[KernelProcess, BlockingKernelClient]]:
    process = start_kernel()
    client = BlockingKernelClient()
    try:
        wait_until_serving(process.info, process.process)
        client.load_connection_info(process.info)
        client.start_channels()
        client.wait_for_ready(timeout=TIMEOUT)
        yield process, client
    finally:
        client.stop_channels()
        process.cleanup(timeout=5)


def _outputs_until(client: BlockingKernelClient, msg_id: str, text: str) -> list[dict[str, Any]]:
    """The cell's outputs up to the stream message that ends with ``text``; fails (after
    TIMEOUT) if the cell ends or nothing comes."""
    seen: list[dict[str, Any]] = []
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        content = msg["content"]
        assert content.get("execution_state") != "idle", f"the cell ended first: {seen}"
        if msg["msg_type"] in ("stream", "display_data", "error"):
            seen.append({"msg_type": msg["msg_type"], **content})
        if msg["msg_type"] == "stream" and content["text"].endswith(text):
            return seen


def _interrupt_and_check(process: KernelProcess, client: BlockingKernelClient, msg_id: str) -> None:
    process.interrupt()
    reply = client.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["ename"] == "KeyboardInterrupt"


def test_a_print_followed_by_sleep_arrives_before_the_sleep_ends(
    kernel: tuple[KernelProcess, BlockingKernelClient],
) -> None:
    process, client = kernel
    msg_id = client.execute(f"import time\nprint('before the sleep')\ntime.sleep({SLEEP})")
    outputs = _outputs_until(client, msg_id, "before the sleep\n")
    assert [o["text"] for o in outputs if o["msg_type"] == "stream"] == ["before the sleep\n"]
    _interrupt_and_check(process, client, msg_id)


def test_the_last_print_of_a_flood_arrives_before_the_sleep_ends_in_order(
    kernel: tuple[KernelProcess, BlockingKernelClient],
) -> None:
    process, client = kernel
    code = (
        "import sys, time\n"
        "for i in range(20000):\n"
        "    print(i)\n"
        "    if i % 5000 == 0:\n"
        "        print('err', i, file=sys.stderr)\n"
        "        display('shown %d' % i)\n"
        "print('last')\n"
        f"time.sleep({SLEEP})"
    )
    msg_id = client.execute(code)
    outputs = _outputs_until(client, msg_id, "last\n")
    runs: list[tuple[str, str]] = []  # adjacent text of one stream joined (batches split lines)
    for output in outputs:
        if output["msg_type"] == "display_data":
            runs.append(("display", output["data"]["text/plain"]))
        elif runs and runs[-1][0] == output["name"]:
            runs[-1] = (output["name"], runs[-1][1] + output["text"])
        else:
            runs.append((output["name"], output["text"]))
    events: list[str] = []
    for kind, text in runs:
        if kind == "display":
            events.append(text)
        else:
            events.extend(f"{kind}:{line}" for line in text.splitlines())
    expected: list[str] = []
    for i in range(20000):
        expected.append(f"stdout:{i}")
        if i % 5000 == 0:
            expected += [f"stderr:err {i}", f"'shown {i}'"]
    assert events == [*expected, "stdout:last"]
    _interrupt_and_check(process, client, msg_id)


def _stream_text(client: BlockingKernelClient, msg_id: str) -> tuple[str, int]:
    """All stream text of a cell up to its idle, and in how many messages it came."""
    texts = stream_texts_until_idle(client, msg_id, TIMEOUT)
    return "".join(texts), len(texts)


def test_a_burst_of_flushed_prints_is_batched_in_order(
    kernel: tuple[KernelProcess, BlockingKernelClient],
) -> None:
    """A loop of ``print(..., flush=True)`` sends its lines in few messages (one per line
    would flood every frontend), all of them, in order, before idle."""
    _process, client = kernel
    msg_id = client.execute("for i in range(3000):\n    print(i, flush=True)")
    text, messages = _stream_text(client, msg_id)
    assert text == "".join(f"{i}\n" for i in range(3000))
    assert messages < 1500  # far fewer than one per line, however slow the machine


def test_a_burst_of_flushed_prints_survives_os_exit(
    kernel: tuple[KernelProcess, BlockingKernelClient],
) -> None:
    """The lines a burst of flushes batched, not published yet, still go out when the
    process ends at once."""
    process, client = kernel
    msg_id = client.execute(
        "import os\nfor i in range(1000):\n    print(i, flush=True)\nos._exit(3)"
    )
    texts: list[str] = []
    expected = "".join(f"{i}\n" for i in range(1000))
    while "".join(texts) != expected:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            texts.append(msg["content"]["text"])
            assert expected.startswith("".join(texts))
    assert process.process.wait(timeout=TIMEOUT) == 3


def test_stopping_the_flusher_does_not_wait_out_its_interval() -> None:
    """A kernel shut down right after a cell printed must not first sit out the flusher's
    wait for more writes: stop() ends the thread at once (here the wait is ten minutes, so
    an old-style sleep would still hold the thread when stop() gives up joining it)."""
    from kernelwire.kernel.outstream import Flusher

    flusher = Flusher(interval=600)
    flusher.start()
    flusher.request()  # as a print does: the thread now waits for more writes...
    time.sleep(0.5)  # ...once it has run (were it slower, this test would pass either way)
    flusher.stop()
    assert not flusher._thread.is_alive()


def test_stdout_stderr_and_display_keep_the_order_the_cell_wrote_them(
    kernel: tuple[KernelProcess, BlockingKernelClient],
) -> None:
    _, client = kernel
    msg_id = client.execute(
        "import sys\nfrom kernelwire.kernel.display import display\n"
        "print('a'); print('b', file=sys.stderr); print('c')\n"
        "display('d'); print('e', file=sys.stderr)\nprint('end')"
    )
    outputs = _outputs_until(client, msg_id, "end\n")
    streams = [
        (o.get("name", o["msg_type"]), o.get("text", ""))
        for o in outputs
        if o["msg_type"] != "error"
    ]
    assert streams == [
        ("stdout", "a\n"),
        ("stderr", "b\n"),
        ("stdout", "c\n"),
        ("display_data", ""),
        ("stderr", "e\n"),
        ("stdout", "end\n"),
    ]
