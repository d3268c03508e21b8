"""What a peer can make the reference kernel hold (kernelwire.kernel.limits), measured on a
real kernel process: its resident memory is read from /proc/<pid>/status.

No key is needed for any of this: IOPub subscriptions are never signed, and a message is
only checked once the kernel has received all of it. So each test attacks with raw pyzmq
sockets and then checks that the kernel still serves a normal client. Every wait is for an
event (a disconnect, a reply, a log line); the timeouts only turn a hang into a failure.
The memory bound (+50 MB over idle) is generous: without the limits the same attacks add
hundreds of megabytes.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.session import Session as JCSession
from zmq.utils.monitor import recv_monitor_message

from helpers import stream_texts_until_idle, wait_until_serving
from kernelwire.connect import channel_url, write_connection_file

ENV_VAR = "KERNELWIRE_LIMITS"  # the documented interface, spelled out

TIMEOUT = 60
MB = 1024 * 1024
#: How much more than idle the kernel may hold after an attack (generous on purpose).
ALLOWED_GROWTH = 50 * MB


@dataclass
class RunningKernel:
    process: subprocess.Popen[bytes]
    client: BlockingKernelClient
    info: dict[str, Any]
    log: Path

    def rss(self) -> int:
        """The kernel process's resident memory, in bytes."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def session(self) -> JCSession:
        return JCSession(key=self.info["key"].encode(), signature_scheme="hmac-sha256")

    def url(self, channel: str) -> str:
        return channel_url(self.info, channel)


def _start(tmp_path: Path, limits: str = "") -> Iterator[RunningKernel]:
    path, info = write_connection_file(tmp_path / "connection.json")
    log_path = tmp_path / "kernel.log"
    env = {**os.environ, ENV_VAR: limits}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kernelwire.kernel", "-f", path], stderr=log, env=env
        )
    client = BlockingKernelClient()
    client.load_connection_file(path)
    try:
        wait_until_serving(info, process)
        client.start_channels()
        client.wait_for_ready(timeout=TIMEOUT)
        yield RunningKernel(process, client, info, log_path)
    finally:
        client.stop_channels()
        process.kill()
        process.wait(timeout=TIMEOUT)


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[RunningKernel]:
    yield from _start(tmp_path)


@pytest.fixture
def context() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def _run_cell(client: BlockingKernelClient, code: str) -> str:
    """Execute ``code``; its stdout, once the reply is there."""
    msg_id = client.execute(code)
    text = stream_texts_until_idle(client, msg_id, TIMEOUT)
    reply = client.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(text)


def _idle_rss(kernel: RunningKernel) -> int:
    """Resident memory once the kernel has run a cell (everything it needs is loaded)."""
    assert _run_cell(kernel.client, "print('warm')") == "warm\n"
    return kernel.rss()


def _monitored(context: zmq.Context[Any], kind: int) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    """A socket and a monitor telling when the kernel drops its connection."""
    sock = context.socket(kind)
    sock.linger = 0
    monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    return sock, monitor


def _dropped(monitor: zmq.Socket[Any]) -> bool:
    while monitor.poll(0):
        if recv_monitor_message(monitor)["event"] == zmq.EVENT_DISCONNECTED:
            return True
    return False


# --------------------------------------------------------------------------- IOPub


def _subscribe_all(
    kernel: RunningKernel, context: zmq.Context[Any], topics: list[bytes], limit: int = 64
) -> str:
    """Subscribe to every topic on one connection: "dropped" once the kernel drops it,
    "welcomed" once it has welcomed every topic, "accepted beyond the limit" once it has
    welcomed more than ``limit`` (the default max_subscriptions_per_peer)."""
    session = kernel.session()
    sub, monitor = _monitored(context, zmq.SUB)
    sub.sndhwm = 0  # send every subscription (beyond the high-water mark libzmq drops them)
    sub.connect(kernel.url("iopub"))
    for topic in topics:
        sub.setsockopt(zmq.SUBSCRIBE, topic)
    waiting = set(topics)
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(topics) - len(waiting) <= limit:
            if not waiting:
                return "welcomed"
            assert time.monotonic() < deadline, (
                f"{len(waiting)} topics neither welcomed nor refused"
            )
            if _dropped(monitor):
                return "dropped"
            while sub.poll(50):
                _idents, msg_list = session.feed_identities(sub.recv_multipart())
                welcome = session.deserialize(msg_list)
                waiting.discard(welcome["content"]["subscription"].encode())
        return "accepted beyond the limit"
    finally:
        sub.close()
        monitor.close()


def _wait_until_back_near_idle(kernel: RunningKernel, idle: int) -> None:
    """libzmq stores a burst of subscriptions before the kernel can refuse any; the kernel
    must give that memory back once it has closed the connection."""
    deadline = time.monotonic() + TIMEOUT
    while (grown := kernel.rss() - idle) >= ALLOWED_GROWTH:
        assert time.monotonic() < deadline, f"the kernel holds {grown / MB:.0f} MB more than idle"
        time.sleep(0.05)


def _zmtp_frame(body: bytes, command: bool = False) -> bytes:
    """One ZMTP 3.0 frame (short or long form)."""
    flags = 0x04 if command else 0x00
    if len(body) < 256:
        return bytes([flags, len(body)]) + body
    return bytes([flags | 0x02]) + struct.pack(">Q", len(body)) + body


def _raw_subscriber(kernel: RunningKernel) -> socket.socket:
    """A plain TCP connection that speaks just enough ZMTP 3.0 to subscribe: what any
    local process can do, without a libzmq of its own that stores its topics."""
    conn = socket.create_connection((kernel.info["ip"], kernel.info["iopub_port"]))
    greeting = b"\xff" + bytes(8) + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\0")
    ready = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 3) + b"SUB"
    conn.sendall(greeting + bytes(32) + _zmtp_frame(ready, command=True))
    return conn


def test_huge_topics_are_refused_at_the_transport(kernel: RunningKernel) -> None:
    """Four 1 MB topics: the kernel drops the connection before storing any."""
    idle = _idle_rss(kernel)
    conn = _raw_subscriber(kernel)
    conn.settimeout(0.05)
    try:
        for n in range(4):
            conn.sendall(_zmtp_frame(b"\x01" + bytes([65 + n]) * MB))
    except OSError:
        pass  # dropped while sending
    deadline = time.monotonic() + TIMEOUT
    closed = False
    # Until the kernel closes the connection, or has stored the topics (hundreds of MB).
    while not closed and kernel.rss() - idle < 4 * ALLOWED_GROWTH:
        assert time.monotonic() < deadline, "the kernel neither refused nor stored the topics"
        try:
            closed = conn.recv(65536) == b""
        except TimeoutError:
            pass
        except OSError:
            closed = True
    conn.close()
    grown = kernel.rss() - idle
    assert grown < ALLOWED_GROWTH, f"the kernel holds {grown / MB:.0f} MB more than idle"
    assert closed
    assert _run_cell(kernel.client, "print('alive')") == "alive\n"


def _welcome_then_output(kernel: RunningKernel, context: zmq.Context[Any], topic: bytes) -> None:
    """A normal subscriber gets its welcome first, then the output of a cell."""
    session = kernel.session()
    sub = context.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.connect(kernel.url("iopub"))
    try:
        assert sub.poll(TIMEOUT * 1000), "no welcome"
        first = session.deserialize(session.feed_identities(sub.recv_multipart())[1])
        assert first["msg_type"] == "iopub_welcome"
        assert first["content"] == {"subscription": topic.decode()}
        msg_id = kernel.client.execute("print('after the flood')")
        while True:  # the cell's stream (topic stream.stdout) or its idle status (kernel.*)
            assert sub.poll(TIMEOUT * 1000), "no output"
            msg = session.deserialize(session.feed_identities(sub.recv_multipart())[1])
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                assert msg["content"]["text"] == "after the flood\n"
                break
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        kernel.client.get_shell_msg(timeout=TIMEOUT)
    finally:
        sub.close()


def test_subscription_flood_is_refused_its_memory_returned_and_subscribers_served(
    kernel: RunningKernel, context: zmq.Context[Any]
) -> None:
    idle = _idle_rss(kernel)
    # 10,000 distinct topics of 1000 bytes each, all within the topic length limit.
    topics = [b"%05d" % n + b"t" * 995 for n in range(10_000)]
    assert _subscribe_all(kernel, context, topics) == "dropped"
    _wait_until_back_near_idle(kernel, idle)
    for topic in (b"", b"kernel.", b"stream.stdout"):
        _welcome_then_output(kernel, context, topic)
    assert "refused subscription 65 " in kernel.log.read_text()
    assert _run_cell(kernel.client, "print(1)") == "1\n"


def test_subscriptions_within_the_limits_are_all_welcomed(
    tmp_path: Path, context: zmq.Context[Any]
) -> None:
    for kernel in _start(tmp_path, "max_subscriptions_per_peer=3,max_topic_bytes=8"):
        topics = [b"", b"stream.", b"kernel.x"]  # three topics, the longest 8 bytes
        assert _subscribe_all(kernel, context, topics, limit=3) == "welcomed"
        assert _subscribe_all(kernel, context, [b"kernel.xy"], limit=3) == "dropped"
        assert _subscribe_all(kernel, context, [b"a", b"b", b"c", b"d"], limit=3) == "dropped"
        _welcome_then_output(kernel, context, b"")


# -------------------------------------------------------------------- message size


def _signed(session: JCSession, msg_type: str, content: dict[str, Any]) -> list[bytes]:
    msg = session.msg(msg_type, content)
    return session.serialize(msg)


@pytest.mark.parametrize("channel", ["shell", "control", "stdin"])
def test_an_oversized_message_drops_the_connection_and_nothing_else(
    tmp_path: Path, context: zmq.Context[Any], channel: str
) -> None:
    limits = (
        "shell_max_message_bytes=65536,control_max_message_bytes=4096,stdin_max_message_bytes=4096"
    )
    for kernel in _start(tmp_path, limits):
        session = kernel.session()
        cap = {"shell": 65536, "control": 4096, "stdin": 4096}[channel]
        dealer, monitor = _monitored(context, zmq.DEALER)
        dealer.connect(kernel.url(channel))
        # Signed and valid: only its size is wrong (one frame just over the limit).
        dealer.send_multipart(_signed(session, "kernel_info_request", {"pad": "x" * cap}))
        deadline = time.monotonic() + TIMEOUT
        while not _dropped(monitor):
            assert time.monotonic() < deadline, "the kernel kept the connection"
            assert not dealer.poll(50), "the kernel answered an oversized request"
        # Just under the limit is served (on stdin nothing answers: it is discarded).
        if channel != "stdin":
            small = _signed(session, "kernel_info_request", {"pad": "x" * (cap - 1024)})
            dealer.send_multipart(small)
            assert dealer.poll(TIMEOUT * 1000), "no reply within the limit"
            reply = session.deserialize(session.feed_identities(dealer.recv_multipart())[1])
            assert reply["msg_type"] == "kernel_info_reply"
        assert _run_cell(kernel.client, "print('alive')") == "alive\n"
        dealer.close()
        monitor.close()


# --------------------------------------------------------------------------- stdin


def _wait_for_log(kernel: RunningKernel, text: str) -> str:
    deadline = time.monotonic() + TIMEOUT
    while text not in (log := kernel.log.read_text()):
        assert time.monotonic() < deadline, log
        time.sleep(0.05)
    return log


def _discarded(log: str) -> int:
    marker = "discarded "
    return sum(int(line.split(marker)[1].split()[0]) for line in log.splitlines() if marker in line)


def test_stdin_messages_while_idle_are_not_held(tmp_path: Path, context: zmq.Context[Any]) -> None:
    """Ten unsigned 40 MB messages on stdin while no input() waits: read and dropped at once
    (without the drain they stay queued until the next input())."""
    for kernel in _start(tmp_path, f"stdin_max_message_bytes={64 * MB},stdin_rcvhwm=2"):
        idle = _idle_rss(kernel)
        dealer = context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.sndhwm = 0
        dealer.connect(kernel.url("stdin"))
        junk = os.urandom(40 * MB)
        for _ in range(10):
            dealer.send_multipart([b"<IDS|MSG>", b"", b"{}", b"{}", b"{}", b"{}", junk], copy=False)
        # Wait until all ten are discarded, or held at once (which two queued at most,
        # stdin_rcvhwm=2, plus one being read, can never reach).
        deadline = time.monotonic() + TIMEOUT
        while _discarded(kernel.log.read_text()) < 10 and kernel.rss() - idle < 9 * 40 * MB:
            assert time.monotonic() < deadline, kernel.log.read_text()
            time.sleep(0.05)
        grown = kernel.rss() - idle
        assert grown < ALLOWED_GROWTH, f"the kernel holds {grown / MB:.0f} MB more than idle"
        msg_id = kernel.client.execute("print(input('name? '))", allow_stdin=True)
        request = kernel.client.get_stdin_msg(timeout=TIMEOUT)
        assert request["content"]["prompt"] == "name? "
        kernel.client.input("Ada")
        assert kernel.client.get_shell_msg(timeout=TIMEOUT)["parent_header"]["msg_id"] == msg_id
        dealer.close()


@pytest.mark.parametrize(
    ("content", "logged"),
    [
        ({"value": 42}, "ignored an input_reply"),
        ({"value": None}, "ignored an input_reply"),
        ({}, "ignored an input_reply"),
        ([1, 2], "dropped a message on stdin"),
        ("text", "dropped a message on stdin"),
    ],
    ids=repr,
)
def test_malformed_input_reply_is_ignored_and_input_keeps_waiting(
    kernel: RunningKernel, content: Any, logged: str
) -> None:
    client = kernel.client
    msg_id = client.execute("print('got', repr(input('x? ')))", allow_stdin=True)
    request = client.get_stdin_msg(timeout=TIMEOUT)
    assert request["msg_type"] == "input_request"
    # Sent from the client's own stdin socket, so it is the reply the kernel waits for.
    bad = client.session.msg("input_reply", {}, parent=request["header"])
    bad["content"] = json.dumps(content).encode()  # sent as packed, signed as is
    client.stdin_channel.send(bad)
    _wait_for_log(kernel, logged)
    client.input("fine")
    assert "".join(stream_texts_until_idle(client, msg_id, TIMEOUT)) == "got 'fine'\n"
    with pytest.raises(Empty):
        client.get_stdin_msg(timeout=0.1)


# --------------------------------------------------------------------- configuration


def test_limits_from_the_environment() -> None:
    from kernelwire.kernel.limits import KernelLimits

    limits = KernelLimits.from_environment({ENV_VAR: "max_topic_bytes=64, stdin_rcvhwm=3"})
    assert limits == KernelLimits(max_topic_bytes=64, stdin_rcvhwm=3)
    assert KernelLimits.from_environment({}) == KernelLimits()
    for bad in ("max_topic_bytes", "nope=1", "max_topic_bytes=x", "max_topic_bytes=0"):
        with pytest.raises(ValueError, match=r"max_topic_bytes|nope"):
            KernelLimits.from_environment({ENV_VAR: bad})


def test_a_bad_limits_variable_stops_the_kernel_with_a_message(tmp_path: Path) -> None:
    path, _info = write_connection_file(tmp_path / "connection.json")
    result = subprocess.run(
        [sys.executable, "-m", "kernelwire.kernel", "-f", path],
        env={**os.environ, ENV_VAR: "shell_rcvhwm=lots"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert "shell_rcvhwm must be an integer" in result.stderr
