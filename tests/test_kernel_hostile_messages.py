"""Hostile but validly signed messages against the reference kernel, a real process.

Every message here is signed with the kernel's own key and sent over real ZeroMQ sockets:
malformed headers and contents, the kernel's own messages reflected back to it, floods of
bad messages. The kernel must drop or refuse them (an error reply where the spec has one),
keep every channel alive, and keep its log small. Every wait is bounded; none is a timing
threshold: each waits for an event only correct behaviour produces.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from kernelwire.connect import channel_url, write_connection_file

TIMEOUT = 30
DELIM = b"<IDS|MSG>"
CLIENT_SESSION = "hostile-client"
EMPTY: dict[str, Any] = {}


def _packed(part: Any) -> bytes:
    return part if isinstance(part, bytes) else json.dumps(part).encode()


def header(msg_type: Any, **fields: Any) -> dict[str, Any]:
    """A protocol 5.4 header from a client session; ``fields`` override or add."""
    return {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "session": CLIENT_SESSION,
        "username": "hostile",
        "date": "2026-01-02T03:04:05.000000Z",
        "version": "5.4",
        **fields,
    }


class Peer:
    """A client of one kernel on raw sockets: signs whatever it is given with the key."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.key = info["key"].encode()
        self.context: zmq.Context[Any] = zmq.Context()
        self.shell = self._socket(zmq.DEALER, "shell")
        self.control = self._socket(zmq.DEALER, "control")
        self.iopub = self._socket(zmq.SUB, "iopub")
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")

    def _socket(self, kind: int, channel: str) -> zmq.Socket[Any]:
        sock = self.context.socket(kind)
        sock.linger = 0
        sock.rcvhwm = 0  # a flood's replies must not crowd out the one a test waits for
        sock.connect(channel_url(self.info, channel))
        return sock

    def close(self) -> None:
        self.context.destroy(linger=0)

    def sign(self, parts: list[bytes]) -> bytes:
        return hmac.new(self.key, b"".join(parts), hashlib.sha256).hexdigest().encode()

    def frames(
        self, head: Any, content: Any = EMPTY, parent: Any = EMPTY, metadata: Any = EMPTY
    ) -> list[bytes]:
        parts = [_packed(head), _packed(parent), _packed(metadata), _packed(content)]
        return [DELIM, self.sign(parts), *parts]

    def send(self, sock: zmq.Socket[Any], head: Any, content: Any = EMPTY, **kw: Any) -> None:
        sock.send_multipart(self.frames(head, content, **kw))

    def recv(self, sock: zmq.Socket[Any]) -> dict[str, Any]:
        """The next message on ``sock``, signature checked, parts unpacked."""
        assert sock.poll(TIMEOUT * 1000), "no message within the timeout"
        frames = sock.recv_multipart()
        index = frames.index(DELIM)
        signature, *parts = frames[index + 1 : index + 6]
        assert hmac.compare_digest(signature, self.sign(parts))
        head, parent, metadata, content = (json.loads(p) for p in parts)
        return {"header": head, "parent_header": parent, "metadata": metadata, "content": content}

    def request(self, sock: zmq.Socket[Any], msg_type: str, content: Any = EMPTY) -> dict[str, Any]:
        """Send a well-formed request; its reply (anything answered before it fails)."""
        head = header(msg_type)
        self.send(sock, head, content)
        reply = self.recv(sock)
        assert reply["parent_header"].get("msg_id") == head["msg_id"], reply
        return reply

    def execute(self, code: str) -> dict[str, Any]:
        reply = self.request(self.shell, "execute_request", {"code": code, "silent": False})
        assert reply["content"]["status"] == "ok", reply["content"]
        return reply

    def iopub_until_idle(self, *msg_ids: str) -> list[dict[str, Any]]:
        """Every IOPub message up to the ``idle`` parented to each of ``msg_ids`` (control
        and shell requests are handled by two threads: their idles come in any order)."""
        seen = []
        waiting = set(msg_ids)
        while waiting:
            msg = self.recv(self.iopub)
            seen.append(msg)
            if (
                msg["header"]["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                waiting.discard(msg["parent_header"].get("msg_id"))
        return seen

    def wait_for_iopub(self) -> None:
        """Until IOPub delivers (the welcome), so nothing published later is missed."""
        self.recv(self.iopub)


class KernelProcess:
    """``python -m kernelwire.kernel`` with its stderr (its log) in a file."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        # ipc: free tcp ports picked ahead may be taken before the kernel binds them on a
        # busy machine (a connecting peer may even self-connect to one)
        path, self.info = write_connection_file(
            tmp_path / "connection.json", transport="ipc", ip=str(tmp_path / "kw")
        )
        self.log_path = tmp_path / "kernel.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kernelwire.kernel", "-f", path, *args], stderr=self._log
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)
        self._log.close()


def _start(tmp_path: Path, *args: str) -> Iterator[tuple[KernelProcess, Peer]]:
    kernel = KernelProcess(tmp_path, *args)
    peer = Peer(kernel.info)
    try:
        try:
            peer.wait_for_iopub()
            ready = peer.request(peer.shell, "kernel_info_request")
            peer.iopub_until_idle(ready["parent_header"]["msg_id"])  # IOPub now holds nothing
        except AssertionError:
            raise AssertionError(f"the kernel did not start; its log:\n{kernel.log()}") from None
        yield kernel, peer
    finally:
        peer.close()
        kernel.stop()


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[tuple[KernelProcess, Peer]]:
    yield from _start(tmp_path)


def _wait_for_log(kernel: KernelProcess, pattern: str) -> str:
    """The log once ``pattern`` (a regex) is in it."""
    deadline = time.monotonic() + TIMEOUT
    while not re.search(pattern, kernel.log()):
        assert time.monotonic() < deadline, kernel.log()
        time.sleep(0.05)
    return kernel.log()


def _assert_both_channels_serve(kernel: KernelProcess, peer: Peer) -> None:
    assert kernel.alive(), kernel.log()
    for sock in (peer.shell, peer.control):
        assert peer.request(sock, "kernel_info_request")["content"]["status"] == "ok"
    assert peer.execute("1 + 1")["content"]["status"] == "ok"


# ------------------------------------------------------------------- malformed headers

DEEP = 1000


def _deep_header() -> bytes:
    """A header with a field nested DEEP levels, packed by hand (json would recurse)."""
    fields = json.dumps(header("kernel_info_request")).encode()[:-1]
    return fields + b', "x": ' + b'{"x": ' * DEEP + b"1" + b"}" * DEEP + b"}"


#: a fresh header (a new signature for each channel), and what the kernel's log must say
BAD_HEADERS: list[tuple[Callable[[], Any], str]] = [
    (lambda: header(["execute_request"]), "header.msg_type"),
    (lambda: header({"execute_request": 1}), "header.msg_type"),
    (lambda: header(None), "header.msg_type"),
    (lambda: header("kernel_info_request", msg_id=[uuid.uuid4().hex]), "header.msg_id"),
    (lambda: header("kernel_info_request", session={"s": 1}), "header.session"),
    (lambda: header("kernel_info_request", username=7), "header.username"),
    (lambda: header("kernel_info_request", date=[2026]), "header.date"),
    (lambda: header("kernel_info_request", version=5.4), "header.version"),
    (_deep_header, "header: nested"),
    (lambda: header("kernel_info_request", padding="x" * 200_000), "header: too large"),
]


def test_malformed_headers_are_dropped_on_shell_and_control(
    kernel: tuple[KernelProcess, Peer],
) -> None:
    """No reply and no status for a header the kernel cannot trust; the reason logged;
    both channels keep serving (a list msg_type used to end the process on shell and
    the control thread on control; a deep header raised RecursionError in busy)."""
    process, peer = kernel
    for sock in (peer.shell, peer.control):
        for make_header, _reason in BAD_HEADERS:
            peer.send(sock, make_header())
        follow_up = header("kernel_info_request")
        peer.send(sock, follow_up)
        reply = peer.recv(sock)  # one connection delivers in order: nothing came before
        assert reply["parent_header"]["msg_id"] == follow_up["msg_id"]
        statuses = peer.iopub_until_idle(follow_up["msg_id"])
        assert {m["parent_header"].get("msg_id") for m in statuses} == {follow_up["msg_id"]}
        assert process.alive(), process.log()
    log = process.log()
    for _make_header, reason in BAD_HEADERS:
        for channel in ("shell", "control"):
            assert f"dropped a message on {channel}: {reason}" in log, (reason, log)
    _assert_both_channels_serve(process, peer)
    assert process.info["key"] not in process.log()


# ------------------------------------------------------------------ malformed contents

#: msg_type, content, channel, ename of the error reply, field named in evalue
BAD_REQUESTS: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("execute_request", {"code": ["1"]}, "shell", "TypeError", "code"),
    ("execute_request", {}, "shell", "ValueError", "code"),
    ("execute_request", {"code": "1", "silent": "no"}, "shell", "TypeError", "silent"),
    ("execute_request", {"code": "1", "store_history": 1}, "shell", "TypeError", "store_history"),
    ("execute_request", {"code": "1", "user_expressions": ["a"]}, "shell", "TypeError", "user_"),
    ("execute_request", {"code": "1", "user_expressions": {"a": 1}}, "shell", "TypeError", "user_"),
    ("execute_request", {"code": "1", "allow_stdin": None}, "shell", "TypeError", "allow_stdin"),
    ("execute_request", {"code": "1", "stop_on_error": []}, "shell", "TypeError", "stop_on_error"),
    ("complete_request", {"code": "ab", "cursor_pos": "2"}, "shell", "TypeError", "cursor_pos"),
    ("complete_request", {"code": "ab", "cursor_pos": 9}, "shell", "ValueError", "cursor_pos"),
    ("complete_request", {"code": "ab", "cursor_pos": -1}, "shell", "ValueError", "cursor_pos"),
    ("complete_request", {"code": {"x": 1}, "cursor_pos": 0}, "shell", "TypeError", "code"),
    (
        "inspect_request",
        {"code": "ab", "cursor_pos": 1, "detail_level": "1"},
        "shell",
        "TypeError",
        "detail_level",
    ),
    (
        "inspect_request",
        {"code": "ab", "cursor_pos": 1, "detail_level": 7},
        "shell",
        "ValueError",
        "detail_level",
    ),
    ("inspect_request", {"code": 3, "cursor_pos": 0}, "shell", "TypeError", "code"),
    ("is_complete_request", {"code": None}, "shell", "TypeError", "code"),
    ("history_request", {"hist_access_type": ["tail"]}, "shell", "TypeError", "hist_access_type"),
    ("history_request", {"hist_access_type": "all"}, "shell", "ValueError", "hist_access_type"),
    ("history_request", {"hist_access_type": "tail", "n": "5"}, "shell", "TypeError", "n"),
    ("history_request", {"hist_access_type": "range", "start": [1]}, "shell", "TypeError", "start"),
    (
        "history_request",
        {"hist_access_type": "search", "pattern": 1},
        "shell",
        "TypeError",
        "pattern",
    ),
    ("history_request", {"output": "yes"}, "shell", "TypeError", "output"),
    ("comm_info_request", {"target_name": ["t"]}, "shell", "TypeError", "target_name"),
    ("shutdown_request", {"restart": "no"}, "control", "TypeError", "restart"),
]


def test_malformed_requests_get_error_replies(kernel: tuple[KernelProcess, Peer]) -> None:
    """A request with a trusted header but a malformed content gets its reply with
    status error, naming the field (a shutdown_request among them must not shut down)."""
    process, peer = kernel
    for msg_type, content, channel, ename, field in BAD_REQUESTS:
        sock = peer.shell if channel == "shell" else peer.control
        reply = peer.request(sock, msg_type, content)
        assert reply["header"]["msg_type"] == msg_type.replace("_request", "_reply")
        assert reply["content"]["status"] == "error", (msg_type, content, reply)
        assert reply["content"]["ename"] == ename, (msg_type, content, reply)
        assert f"content.{field}" in reply["content"]["evalue"], (msg_type, reply)
        if msg_type == "execute_request":
            assert isinstance(reply["content"]["execution_count"], int)
    _assert_both_channels_serve(process, peer)


def test_malformed_comm_messages_and_frames_are_dropped(
    kernel: tuple[KernelProcess, Peer],
) -> None:
    """Comm messages have no reply: malformed ones are logged and dropped. A content,
    metadata or parent header that is not a dict is dropped whatever the type."""
    process, peer = kernel
    peer.execute(
        "from kernelwire.kernel import get_kernel\n"
        "opened = []\n"
        "get_kernel().comms.register_target('t', lambda comm, msg: opened.append(msg))\n"
    )
    bad = [
        ("comm_open", {"comm_id": ["c"], "target_name": "t", "data": {}}),
        ("comm_open", {"comm_id": "c", "target_name": {"t": 1}, "data": {}}),
        ("comm_open", {"comm_id": "c", "target_name": "t", "data": [1]}),
        ("comm_msg", {"comm_id": 5, "data": {}}),
        ("comm_msg", {"comm_id": "c", "data": "x"}),
        ("comm_close", {"comm_id": None}),
        ("execute_request", b'["print(1)"]'),
        ("kernel_info_request", b"7"),
    ]
    for msg_type, content in bad:
        peer.send(peer.shell, header(msg_type), content)
    peer.send(peer.shell, header("kernel_info_request"), metadata=b"[1]")
    peer.send(peer.shell, header("kernel_info_request"), parent=b'"a parent"')
    assert peer.request(peer.shell, "kernel_info_request")["content"]["status"] == "ok"
    log = process.log()
    assert "metadata frame: unpacked to a list" in log
    assert "parent_header frame: unpacked to a str" in log
    for field in ("comm_id", "target_name", "data"):
        assert f"content.{field}" in log, (field, log)
    assert "content frame: unpacked to a list" in log
    reply = peer.execute("print(len(opened))")
    outputs = peer.iopub_until_idle(reply["parent_header"]["msg_id"])
    assert [m["content"]["text"] for m in outputs if m["header"]["msg_type"] == "stream"] == ["0\n"]
    _assert_both_channels_serve(process, peer)


def test_a_handler_that_raises_anything_leaves_the_kernel_serving(
    kernel: tuple[KernelProcess, Peer],
) -> None:
    """A comm callback that calls sys.exit() or raises KeyboardInterrupt is a handler
    failure, logged; it neither ends the shell loop nor the process."""
    process, peer = kernel
    peer.execute(
        "import sys\n"
        "from kernelwire.kernel import get_kernel\n"
        "def fail(msg):\n"
        "    if msg['content']['data'].get('how') == 'exit':\n"
        "        sys.exit(3)\n"
        "    raise KeyboardInterrupt\n"
        "get_kernel().comms.register_target('t', lambda comm, msg: comm.on_msg(fail))\n"
    )
    peer.send(peer.shell, header("comm_open"), {"comm_id": "c1", "target_name": "t", "data": {}})
    for how in ("exit", "interrupt"):
        sent = header("comm_msg")
        peer.send(peer.shell, sent, {"comm_id": "c1", "data": {"how": how}})
        peer.iopub_until_idle(sent["msg_id"])
    _assert_both_channels_serve(process, peer)
    assert "SystemExit" in process.log()


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any type, sometimes nested."""
    choice = rng.randrange(9 if depth < 3 else 6)
    scalars = [None, True, False, rng.randint(-5, 5), rng.random() * 1e6, "", "ab", -(2**70)]
    if choice < 6:
        return rng.choice(scalars)
    if choice < 8:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(["a", "code", "data"]): _random_json(rng, depth + 1)}


#: handled types, with the fields their handlers read. Left out: shutdown_request (a valid
#: one ends the kernel, correctly) and interrupt_request (an interrupt may rightly land in
#: a comm handler, which then fails with KeyboardInterrupt).
FUZZED_FIELDS = {
    "execute_request": ["code", "silent", "store_history", "user_expressions", "allow_stdin",
                        "stop_on_error"],
    "complete_request": ["code", "cursor_pos"],
    "inspect_request": ["code", "cursor_pos", "detail_level"],
    "is_complete_request": ["code"],
    "history_request": ["output", "raw", "hist_access_type", "session", "start", "stop", "n",
                        "pattern", "unique"],
    "comm_info_request": ["target_name"],
    "comm_open": ["comm_id", "target_name", "data", "target_module"],
    "comm_msg": ["comm_id", "data"],
    "comm_close": ["comm_id", "data"],
    "kernel_info_request": ["anything"],
    "connect_request": ["anything"],
}  # fmt: skip
SAFE_CODE = ["", "1", "x", "pass", "print(1)", "1/0", "def f(:", "a.b", "import sys"]


def _fuzzed_content(rng: random.Random, fields: list[str]) -> dict[str, Any]:
    """Some of ``fields`` (code, when a str, is harmless), with values of any type."""
    content = {}
    for field in fields:
        if rng.random() < 0.7:
            value = _random_json(rng)
            if field == "code" and (isinstance(value, str) or rng.random() < 0.5):
                value = rng.choice(SAFE_CODE)
            content[field] = value
    return content


def test_random_contents_never_make_a_handler_fail(kernel: tuple[KernelProcess, Peer]) -> None:
    """Seeded random contents (every field a handler reads, any JSON type) for every
    handled message type, on shell and control: every one is handled or refused by the
    checks, none makes a handler raise, and both channels keep serving."""
    process, peer = kernel
    rng = random.Random(7)
    for _ in range(600):
        msg_type = rng.choice(list(FUZZED_FIELDS))
        sock = peer.control if rng.random() < 0.3 else peer.shell
        peer.send(sock, header(msg_type), _fuzzed_content(rng, FUZZED_FIELDS[msg_type]))
    for sock in (peer.shell, peer.control):
        follow_up = header("kernel_info_request")
        peer.send(sock, follow_up)
        while peer.recv(sock)["parent_header"]["msg_id"] != follow_up["msg_id"]:
            pass  # the replies to the fuzzed requests
    _assert_both_channels_serve(process, peer)
    log = process.log()
    assert "failed" not in log and "Traceback" not in log, log[-5000:]
    assert "refused a message on shell" in log and "dropped a message on shell" in log


# -------------------------------------------------------------------------- reflection


def test_the_kernels_own_messages_replayed_to_it_are_refused(
    kernel: tuple[KernelProcess, Peer],
) -> None:
    """One key signs both directions: IOPub output and replies, replayed to shell and
    control, are validly signed. The kernel refuses what it signed itself: no handler
    runs (a kernel-side comm's callback would count), no busy/idle for them."""
    process, peer = kernel
    code = (
        "from kernelwire.kernel import get_kernel\n"
        "received = []\n"
        "comm = get_kernel().comms.open('frontend-target')\n"
        "comm.on_msg(received.append)\n"
        "comm.send({'ping': 1})\n"
        "print('some output')\n"
    )
    head = header("execute_request")
    peer.send(peer.shell, head, {"code": code, "silent": False})
    reply_frames = peer.shell.recv_multipart() if peer.shell.poll(TIMEOUT * 1000) else []
    assert reply_frames, "no execute_reply"
    captured: list[list[bytes]] = []
    while True:
        assert peer.iopub.poll(TIMEOUT * 1000), "no idle on IOPub"
        frames = peer.iopub.recv_multipart()
        captured.append(frames[frames.index(DELIM) :])  # without the topic
        parent, content = (json.loads(f) for f in captured[-1][3:6:2])
        if content.get("execution_state") == "idle" and parent.get("msg_id") == head["msg_id"]:
            break
    types = [json.loads(f[2])["msg_type"] for f in captured]
    assert {"status", "execute_input", "comm_open", "comm_msg", "stream"} <= set(types)
    replayed = [*captured, reply_frames[reply_frames.index(DELIM) :]]
    replayed_ids = {json.loads(f[2])["msg_id"] for f in replayed}
    for sock in (peer.shell, peer.control):
        for frames in replayed:
            sock.send_multipart(frames)
    follow_up = header("execute_request")
    peer.send(peer.shell, follow_up, {"code": "print(len(received))", "silent": False})
    reply = peer.recv(peer.shell)
    assert reply["parent_header"]["msg_id"] == follow_up["msg_id"]  # nothing answered before
    control_follow_up = peer.request(peer.control, "kernel_info_request")
    outputs = peer.iopub_until_idle(
        follow_up["msg_id"], control_follow_up["parent_header"]["msg_id"]
    )
    assert not [m for m in outputs if m["parent_header"].get("msg_id") in replayed_ids]
    statuses = [m for m in outputs if m["header"]["msg_type"] == "status"]
    assert len(statuses) == 4  # busy and idle of the two follow-ups, nothing else
    printed = [m["content"]["text"] for m in outputs if m["header"]["msg_type"] == "stream"]
    assert printed == ["0\n"]  # the comm callback never ran
    assert "sent by this kernel" in process.log()


# ----------------------------------------------------------------------------- logging

FLOOD = 3000
#: Far below one line per message (old behaviour: one WARNING line of ~100 bytes each).
MAX_LOG_BYTES = 32 * 1024
_SUMMARY_COUNT = re.compile(r"(shell|control) [^;:\n]+: (\d+)")


def _logged_rejections(log: str) -> int:
    """Messages the log accounts for: one per immediate line, the counts of summaries."""
    count = 0
    for line in log.splitlines():
        if "dropped a message on " in line or "refused a message on " in line:
            count += 1
        elif "more messages in the last" in line:
            count += sum(int(n) for _channel, n in _SUMMARY_COUNT.findall(line.split(": ", 1)[1]))
    return count


def test_a_flood_of_bad_messages_keeps_the_log_small(kernel: tuple[KernelProcess, Peer]) -> None:
    """Thousands of rejected messages of a few kinds: the first of each kind is logged at
    once, the rest are counted in periodic summary lines; the log stays small and still
    accounts for every message."""
    process, peer = kernel
    before = len(process.log().encode())
    wrong_key = [DELIM, b"0" * 64, *(_packed(p) for p in (header("x"), {}, {}, {}))]
    kinds = [
        lambda: wrong_key,
        lambda: peer.frames(header("kernel_info_request", username=7)),
        lambda: peer.frames(header("comm_msg"), {"comm_id": "nobody", "data": {}}),
        lambda: peer.frames(header("complete_request"), {"code": 1}),
    ]
    for index in range(FLOOD):
        peer.shell.send_multipart(kinds[index % len(kinds)]())
    follow_up = header("kernel_info_request")
    peer.send(peer.shell, follow_up)
    while peer.recv(peer.shell)["parent_header"]["msg_id"] != follow_up["msg_id"]:
        pass  # the error replies to the complete_requests came first: one connection
    grown = len(process.log().encode()) - before
    assert grown < MAX_LOG_BYTES, process.log()[-3000:]
    deadline = time.monotonic() + TIMEOUT
    while _logged_rejections(process.log()) < FLOOD:
        assert time.monotonic() < deadline, process.log()[-3000:]
        time.sleep(0.1)
    assert _logged_rejections(process.log()) == FLOOD
    assert len(process.log().encode()) - before < MAX_LOG_BYTES
    _assert_both_channels_serve(process, peer)


@pytest.fixture
def debug_kernel(tmp_path: Path) -> Iterator[tuple[KernelProcess, Peer]]:
    yield from _start(tmp_path, "--debug")


def test_debug_logs_each_message_type_per_channel(
    debug_kernel: tuple[KernelProcess, Peer],
) -> None:
    process, peer = debug_kernel
    peer.request(peer.control, "kernel_info_request")
    peer.execute("1")
    log = _wait_for_log(process, r"iopub -> status")
    for line in (
        "DEBUG] shell <- kernel_info_request",
        "DEBUG] shell -> kernel_info_reply",
        "DEBUG] control <- kernel_info_request",
        "DEBUG] control -> kernel_info_reply",
        "DEBUG] shell <- execute_request",
        "DEBUG] iopub -> execute_input",
        "DEBUG] iopub -> execute_result",
    ):
        assert line in log, (line, log)
