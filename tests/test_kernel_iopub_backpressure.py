"""IOPub loses nothing for a subscriber that keeps reading, and a subscriber that stops
reading cannot stall the kernel for good (see :mod:`kernelwire.kernel.iopub`).

The real-kernel tests publish floods to a raw pyzmq SUB that reads slowly: with PUB
semantics (drop past the high-water mark) part of the flood, sometimes the idle status,
never arrives. Every wait here is bounded only to turn a hang into a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import zmq

from helpers import wait_until_serving
from kernelwire.connect import channel_url, write_connection_file
from kernelwire.session import Session

TIMEOUT_MS = 60_000  # only turns a lost message into a failure
#: The slow reader: a pause after every this many messages...
READ_BURST = 2_000
#: ... of this many seconds (during which the kernel fills any queue it has for it).
READ_PAUSE = 0.25

BURST_KERNEL = """
import sys

from kernelwire.kernel import KernelBase


class BurstKernel(KernelBase):
    implementation = "burst"
    implementation_version = "1.0"
    language_info = {"name": "burst", "mimetype": "text/plain", "file_extension": ".txt"}

    async def do_execute(
        self, code, silent, store_history=True, user_expressions=None, allow_stdin=False
    ):
        for i in range(int(code)):
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": f"{i}\\n"})
        return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                "user_expressions": {}}


BurstKernel.launch(sys.argv[1:])
"""


@contextmanager
def running_kernel(
    tmp_path: Path, argv: list[str], limits: str = ""
) -> Iterator[tuple[dict[str, Any], Session]]:
    """A kernel process (``argv`` + ``-f CONNECTION_FILE``), serving; killed after."""
    path, info = write_connection_file(tmp_path / "connection.json")
    env = {**os.environ, "KERNELWIRE_LIMITS": limits}
    with open(tmp_path / "kernel.log", "w") as log:
        process = subprocess.Popen([*argv, "-f", path], stderr=log, env=env)
    try:
        wait_until_serving(info, process)
        yield info, Session(key=info["key"].encode())
    finally:
        process.kill()
        process.wait(timeout=60)


def slow_subscriber(context: zmq.Context[Any], info: dict[str, Any], session: Session) -> Any:
    """A SUB on the kernel's IOPub that has had its welcome (so it misses nothing after)."""
    sub = context.socket(zmq.SUB)
    sub.linger = 0
    sub.rcvtimeo = TIMEOUT_MS
    # What it holds unread stays small (its queue, its TCP window): the kernel has the rest.
    sub.rcvhwm = 100
    sub.rcvbuf = 4096
    sub.connect(channel_url(info, "iopub"))
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    _, frames = session.feed_identities(sub.recv_multipart())
    assert session.deserialize(frames)["header"]["msg_type"] == "iopub_welcome"
    return sub


def execute(context: zmq.Context[Any], info: dict[str, Any], session: Session, code: str) -> str:
    """Send an execute request on shell; its msg_id."""
    shell = context.socket(zmq.DEALER)
    shell.connect(channel_url(info, "shell"))
    msg = session.send(shell, "execute_request", {"code": code, "silent": False})
    shell.close(linger=TIMEOUT_MS)  # once the request is out
    return str(msg["header"]["msg_id"])


def read_until_idle(session: Session, sub: Any, msg_id: str) -> list[dict[str, Any]]:
    """The cell's messages until its idle status (left out), read slowly."""
    messages = []
    count = 0
    while True:
        _, frames = session.feed_identities(sub.recv_multipart())
        msg = session.deserialize(frames)
        count += 1
        if count % READ_BURST == 0:
            time.sleep(READ_PAUSE)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
        messages.append(msg)


@pytest.fixture
def context() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def test_a_wrapper_kernels_flood_reaches_a_slow_subscriber_whole(
    tmp_path: Path, context: zmq.Context[Any]
) -> None:
    script = tmp_path / "burst_kernel.py"
    script.write_text(BURST_KERNEL, encoding="utf-8")
    count = 10_000
    with running_kernel(tmp_path, [sys.executable, str(script)]) as (info, session):
        sub = slow_subscriber(context, info, session)
        msg_id = execute(context, info, session, str(count))
        messages = read_until_idle(session, sub, msg_id)
    streams = [m["content"]["text"] for m in messages if m["header"]["msg_type"] == "stream"]
    assert streams == [f"{i}\n" for i in range(count)]


def test_the_python_kernels_output_reaches_a_slow_subscriber_whole(
    tmp_path: Path, context: zmq.Context[Any]
) -> None:
    """Prints and displays in turn: each display publishes the text printed before it
    first (in one stream message or more: the flusher thread may publish part of it)."""
    turns = 5_000
    code = f"from kernelwire.kernel import display\nfor i in range({turns}):\n print(i); display(i)"
    with running_kernel(tmp_path, [sys.executable, "-m", "kernelwire.kernel"]) as (info, session):
        sub = slow_subscriber(context, info, session)
        msg_id = execute(context, info, session, code)
        messages = read_until_idle(session, sub, msg_id)
    outputs: list[Any] = []  # the text between two displays joined, and each display
    for msg in messages:
        if msg["header"]["msg_type"] == "display_data":
            outputs.append(msg["content"]["data"])
        elif msg["header"]["msg_type"] == "stream":
            if outputs and isinstance(outputs[-1], str):
                outputs[-1] += msg["content"]["text"]
            else:
                outputs.append(msg["content"]["text"])
    expected: list[Any] = []
    for i in range(turns):
        expected += [f"{i}\n", {"text/plain": str(i)}]
    assert outputs == expected
