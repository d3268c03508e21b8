"""IOPub loses nothing for a subscriber that keeps reading, and a subscriber that stops
reading cannot stall the kernel for good (see :mod:`kernelwire.kernel.iopub`).

The real-kernel tests publish floods to a raw pyzmq SUB that reads slowly: with PUB
semantics (drop past the high-water mark) part of the flood, sometimes the idle status,
never arrives. Every wait here is bounded only to turn a hang into a failure.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import zmq

from helpers import wait_until_serving
from kernelwire.connect import channel_url, write_connection_file
from kernelwire.kernel.iopub import IOPubChannel
from kernelwire.kernel.limits import KernelLimits
from kernelwire.session import Session
from test_kernel_limits import ALLOWED_GROWTH, RunningKernel, _idle_rss, _run_cell, _start

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


def peak_rss(kernel: RunningKernel) -> int:
    """The most resident memory the kernel process has had, in bytes (VmHWM)."""
    for line in Path(f"/proc/{kernel.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def test_a_subscriber_that_never_reads_costs_a_bounded_stall(
    tmp_path: Path, context: zmq.Context[Any]
) -> None:
    """It subscribes to everything and reads nothing: once its queue in the kernel is full,
    the kernel waits ``iopub_stall_ms`` for it, then drops what it has no room for (and
    logs it). The kernel still answers a normal client, whose own messages still arrive
    once it reads (it may lose some of a flood while it has fallen behind too), and holds
    far less than the 80 MB of output."""
    limits = "iopub_sndhwm=50,iopub_stall_ms=200,iopub_drop_ms=1000,iopub_queue_bytes=1048576"
    with contextmanager(_start)(tmp_path, limits) as kernel:
        idle = _idle_rss(kernel)
        stuck = context.socket(zmq.SUB)
        stuck.linger = 0
        stuck.rcvhwm = 1
        stuck.rcvbuf = 4096
        stuck.connect(kernel.url("iopub"))
        stuck.setsockopt(zmq.SUBSCRIBE, b"")
        assert stuck.poll(TIMEOUT_MS), "no welcome"  # subscribed; never read from again
        client = kernel.client
        code = "from kernelwire.kernel import display\nfor i in range(800): display('x' * 100_000)"
        flood = client.execute(code)
        reply = client.get_shell_msg(timeout=TIMEOUT_MS / 1000)
        assert reply["parent_header"]["msg_id"] == flood
        assert reply["content"]["status"] == "ok", reply["content"]
        assert _run_cell(client, "print('after')") == "after\n"
        assert peak_rss(kernel) - idle < ALLOWED_GROWTH
        log = kernel.log.read_text()
        assert "IOPub: a subscriber has had 50 messages unread for 0.2 s" in log, log


# The policy on an IOPubChannel alone, with small limits.

TEXT = "x" * 10_000
#: Messages of TEXT that fill what a subscriber that does not read can hold: its queue in
#: the kernel, both TCP buffers and its own queue (with the small buffers set below).
FLOOD = 2_000


def channel_with(context: zmq.Context[Any], **limits: int) -> tuple[IOPubChannel, Session]:
    session = Session(key=b"k")
    channel = IOPubChannel(context, session, "tcp://127.0.0.1:0", KernelLimits(**limits))
    channel.start()
    return channel, session


def stuck_subscriber(context: zmq.Context[Any], channel: IOPubChannel) -> Any:
    """A SUB that has had its welcome and reads nothing more (until a test says so)."""
    sub = context.socket(zmq.SUB)
    sub.linger = 0
    sub.rcvtimeo = TIMEOUT_MS
    sub.rcvhwm = 1
    sub.rcvbuf = 4096
    sub.connect(channel.url)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.recv_multipart()  # the welcome
    return sub


def publish_in_thread(channel: IOPubChannel, count: int) -> threading.Thread:
    def publish() -> None:
        for i in range(count):
            channel.publish("stream", {"name": "stdout", "text": f"{i} {TEXT}"})

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    return thread


def stall_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "iopub_stall_ms" in r.getMessage()]


def wait_until_waiting_for_room(channel: IOPubChannel, publisher: threading.Thread) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not channel._room._waiters:  # type: ignore[attr-defined]
        assert publisher.is_alive(), "published everything to a subscriber not reading"
        assert time.monotonic() < deadline, "the publisher never waited for room"
        time.sleep(0.001)


def test_publishers_wait_for_room_while_a_subscriber_reads_nothing_and_lose_nothing(
    context: zmq.Context[Any],
) -> None:
    """The queue holds at most ``iopub_queue_bytes`` (plus one message) while the publisher
    waits; once the subscriber reads, every message arrives, in order."""
    limit = 100_000
    channel, session = channel_with(
        context, iopub_sndhwm=10, iopub_queue_bytes=limit, iopub_stall_ms=TIMEOUT_MS
    )
    sub = stuck_subscriber(context, channel)
    publisher = publish_in_thread(channel, FLOOD)
    wait_until_waiting_for_room(channel, publisher)
    assert channel._queued_bytes <= limit + len(TEXT) + 1_000
    texts = []
    for _ in range(FLOOD):
        _, frames = session.feed_identities(sub.recv_multipart())
        texts.append(session.deserialize(frames)["content"]["text"])
    assert texts == [f"{i} {TEXT}" for i in range(FLOOD)]
    publisher.join(TIMEOUT_MS / 1000)
    channel.stop()


def test_a_subscriber_not_reading_for_the_stall_budget_puts_iopub_in_drop_mode(
    context: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """One warning for the episode; everything published gets handed on (flush returns)."""
    channel, _ = channel_with(
        context, iopub_sndhwm=10, iopub_stall_ms=100, iopub_drop_ms=TIMEOUT_MS
    )
    sub = stuck_subscriber(context, channel)  # kept: closed, it would read no more
    with caplog.at_level(logging.WARNING, logger="kernelwire.kernel"):
        publish_in_thread(channel, FLOOD).join(TIMEOUT_MS / 1000)
        assert channel.flush(TIMEOUT_MS / 1000)
    assert stall_warnings(caplog) == [
        "IOPub: a subscriber has had 10 messages unread for 0.1 s (iopub_sndhwm, "
        f"iopub_stall_ms): for the next {TIMEOUT_MS / 1000:.1f} s (iopub_drop_ms), messages "
        "are dropped for subscribers that have no room for them"
    ]
    channel.stop()
    sub.close()


def test_drop_mode_ends_and_a_subscriber_still_not_reading_costs_no_second_stall(
    context: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The message that could not wait was dropped for it, and libzmq skips a subscriber
    that way until it reads again: IOPub is back to waiting for slow subscribers, and this
    one costs no more waits."""
    drop_ms = 200
    channel, _ = channel_with(context, iopub_sndhwm=10, iopub_stall_ms=100, iopub_drop_ms=drop_ms)
    sub = stuck_subscriber(context, channel)  # kept: closed, it would read no more
    with caplog.at_level(logging.INFO, logger="kernelwire.kernel"):
        publish_in_thread(channel, FLOOD).join(TIMEOUT_MS / 1000)
        assert channel.flush(TIMEOUT_MS / 1000)
        assert len(stall_warnings(caplog)) == 1
        time.sleep(drop_ms / 1000)  # the period under test, not a wait for something
        publish_in_thread(channel, FLOOD).join(TIMEOUT_MS / 1000)
        assert channel.flush(TIMEOUT_MS / 1000)
    assert "IOPub: waiting for slow subscribers again (drop mode ended)" in caplog.messages
    assert len(stall_warnings(caplog)) == 1
    channel.stop()
    sub.close()


def test_an_interrupt_stops_a_print_flood_that_waits_for_iopub(tmp_path: Path) -> None:
    """The printing thread waits for room in IOPub's queue, interrupts deferred: the
    interrupt still ends the cell, and the kernel serves on."""
    with contextmanager(_start)(tmp_path, "iopub_queue_bytes=65536") as kernel:
        client = kernel.client
        msg_id = client.execute("while True: print('x' * 10_000)")
        while True:  # the flood is on
            msg = client.get_iopub_msg(timeout=TIMEOUT_MS / 1000)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        os.kill(kernel.process.pid, signal.SIGINT)
        reply = client.get_shell_msg(timeout=TIMEOUT_MS / 1000)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
        assert _run_cell(client, "print('after')") == "after\n"


def test_a_print_flood_waits_for_iopub_instead_of_piling_up(tmp_path: Path) -> None:
    """Printing is far faster than serializing and sending: long lines printed in a loop
    are published by the printing thread once the stream holds MAX_PENDING_CHARS, so the
    printer waits for IOPub and the kernel does not hold 100 MB of pending text."""
    with contextmanager(_start)(tmp_path) as kernel:
        idle = _idle_rss(kernel)
        text = _run_cell(kernel.client, "for i in range(1000): print('x' * 100_000)")
        assert text == ("x" * 100_000 + "\n") * 1000
        assert peak_rss(kernel) - idle < ALLOWED_GROWTH
