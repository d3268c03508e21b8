"""Hostile peers against a kernel: does it survive, keep answering, and stay small?

Each attack runs against a fresh kernel process, started from a connection file this script
writes (a random key, hmac-sha256, tcp on 127.0.0.1, free ports), with its stdout and stderr
captured into a log file:

a. IOPub subscription flood: 10,000 subscriptions with distinct topics and 4 topics of 1 MB,
   sent over a raw ZMTP connection, as an XSUB would (subscribing needs no key).
b. Reflection replay: a client runs a few cells (one registers a comm target and opens a comm
   from the kernel side, then the client opens one and messages it), captures the kernel's own
   signed IOPub messages and replays them, topic removed, from DEALER sockets: once to shell
   (a kernel accepts a signature once, on whichever channel reads it first), then to shell
   and control for a while; what they make the kernel publish is replayed too. Counted: status
   messages and other output parented to a replayed message, and whether a kernel-side comm
   handler ran because of a replay.
c. Oversized messages, over each channel's limit in the reference kernel: ten unsigned 100 MB
   messages to stdin while the kernel is idle; to control (limit 1 MiB) 100 MB and to shell
   (limit 256 MiB) 300 MB each: a signed request, a signed request with a buffer that size,
   and a message with a wrong signature.
d. Malformed but validly signed messages on shell and on control: msg_type a list or a dict,
   headers and other parts nested 1,000 (and 50,000) deep, parts that are not JSON objects,
   and fields of the wrong type in execute, complete, inspect, is_complete, history, comm_*
   and kernel_info requests.
e. A flood of 10,000 messages with bad signatures (wrong key, none, not hex) on shell and
   control.
f. Big shell messages within the reference kernel's limits: as c, 100 MB each, on shell only.
   Any kernel must read such a message before it can refuse its signature; its RSS is
   reported for information and not held to the goal.

After each attack (and the drain of what it queued) the channels are probed, each within a
bounded wait: shell and control must answer kernel_info, the heartbeat must echo, and a fresh
IOPub subscriber must receive the output of an execute. The same probes run before the
attack (a channel counts as dead only if it answered then) and once more after the
attacker's sockets are closed (its leaving must not hurt either). Reported per kernel and
attack: crash (the process exited), dead channels, idle RSS (before the attack), peak RSS
(VmRSS sampled from the attack's start until the probes end, and VmHWM when it rose), their
ratio, and the bytes the kernel wrote to its log over the same span.

    python benchmarks/hostile_peers.py [--kernels kernelwire,ipykernel] [--attacks a,b,c,d,e]
        [--scale 1.0] [--timeout S] [--json FILE] [--log-dir DIR]

--scale multiplies every size and count (and the replay duration); small values make a quick
run. The goal (for kernelwire only; ipykernel's figures are for comparison) is printed last.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import zmq

from kernelwire.check.zmtp import RawSubscriber
from kernelwire.client import requests
from kernelwire.connect import channel_url, session_from_connection_info, write_connection_file
from kernelwire.session import Session

DELIM = b"<IDS|MSG>"
MB = 1024 * 1024
KERNELS = {
    "kernelwire": ["-m", "kernelwire.kernel"],
    "ipykernel": ["-m", "ipykernel_launcher"],
}
ATTACKS = {
    "a": "IOPub subscription flood",
    "b": "reflection replay",
    "c": "oversized messages",
    "d": "malformed, validly signed",
    "e": "bad-signature flood",
    "f": "big shell msgs, in limit",
}
#: Attacks whose RSS is reported for information, not held to the goal: a 100 MB shell
#: message is within the reference kernel's limits (shell carries real buffers), and any
#: kernel must read a message before it can refuse its signature.
RSS_FOR_INFORMATION = {"f"}
PROBED = ("shell", "control", "hb", "iopub")
RSS_GOAL = 2.0
START_TIMEOUT = 90.0

#: Kernel-side code for attack b: comm handlers that count their calls in ``_hp_hits``, a
#: target "hostile" served by them, and a comm opened from the kernel to that same target
#: (its comm_open and comm_msg on IOPub, replayed to shell, are requests they would serve).
COMM_HANDLERS = """
_hp_hits = 0
def _hp_on_msg(msg):
    global _hp_hits
    _hp_hits += 1
def _hp_on_open(comm, msg):
    global _hp_hits
    _hp_hits += 1
    comm.on_msg(_hp_on_msg)
    comm.send({"opened": True})
"""
COMM_SETUP = {
    "kernelwire": COMM_HANDLERS
    + """
from kernelwire.kernel import get_kernel as _hp_get_kernel
_hp_get_kernel().comms.register_target("hostile", _hp_on_open)
_hp_comm = _hp_get_kernel().comms.open("hostile", {"from": "kernel"})
_hp_comm.on_msg(_hp_on_msg)
_hp_comm.send({"hello": "from kernel"})
""",
    "ipykernel": COMM_HANDLERS
    + """
import comm as _hp_comm_module
_hp_comm_module.get_comm_manager().register_target("hostile", _hp_on_open)
_hp_comm = _hp_comm_module.create_comm(target_name="hostile", data={"from": "kernel"})
_hp_comm.on_msg(_hp_on_msg)
_hp_comm.send({"hello": "from kernel"})
""",
}

CTX: zmq.Context[Any] = zmq.Context()


# ----------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    scale: float
    timeout: float
    log_dir: str

    @property
    def quiet(self) -> float:
        """How long a silence ends a drain of replies: shorter for quick (scaled) runs."""
        return 2.0 if self.scale >= 0.1 else 0.5

    def count(self, full: int) -> int:
        """A count scaled, never below 1."""
        return max(1, round(full * self.scale))


# ---------------------------------------------------------------------- the kernels


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in kB ({} once the process is gone)."""
    figures: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    figures[name] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return figures


class KernelUnderTest:
    """One kernel process, its connection info, a Session with its key, and its log."""

    def __init__(self, kind: str, log_dir: str, label: str) -> None:
        self.kind = kind
        self.connection_file, self.info = write_connection_file(
            os.path.join(log_dir, f"{label}.json"), ip="127.0.0.1", transport="tcp"
        )
        self.session: Session = session_from_connection_info(self.info)
        self.log_path = os.path.join(log_dir, f"{label}.log")
        env = dict(os.environ, PYTHONUNBUFFERED="1", JPY_PARENT_PID=str(os.getpid()))
        env["IPYTHONDIR"] = os.path.join(log_dir, "ipython")  # no shared history database
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *KERNELS[kind], "-f", self.connection_file],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches this script only; it kills them
            )
        LIVE.add(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def url(self, channel: str) -> str:
        return channel_url(self.info, channel)

    def log_bytes(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.kind} exited at start; see {self.log_path}")
            if request_reply(self, "shell", "kernel_info_request", {}, 2.0) is not None:
                return
        raise RuntimeError(f"{self.kind} did not answer kernel_info in {timeout}s")

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        LIVE.discard(self)


#: Every kernel started and not yet killed, killed at exit whatever happens.
LIVE: set[KernelUnderTest] = set()


def kill_all() -> None:
    for kernel in list(LIVE):
        kernel.kill()


class RssSampler:
    """Samples VmRSS of a process every few milliseconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _proc_status(self.pid).get("VmRSS")
            if rss is None:
                return
            self.peak_kb = max(self.peak_kb, rss)
            self._stop.wait(self.interval)


# ------------------------------------------------------------------------ wire helpers


def socket(kind: int, url: str, **options: Any) -> zmq.Socket[Any]:
    """A connected socket that never lingers and never blocks a send for ever."""
    sock = CTX.socket(kind)
    sock.linger = 0
    sock.sndtimeo = 30_000
    for name, value in options.items():
        setattr(sock, name, value)
    sock.connect(url)
    return sock


def header(msg_type: Any, **fields: Any) -> dict[str, Any]:
    """A request header (any msg_type, even one that is no string); ``fields`` override."""
    return {
        "msg_id": uuid.uuid4().hex,
        "msg_type": msg_type,
        "username": "hostile",
        "session": "hostile",
        "date": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "version": "5.4",
        **fields,
    }


def dumps(obj: Any) -> bytes:
    """JSON bytes (stdlib json: it writes integers of any size)."""
    return json.dumps(obj).encode()


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    """A JSON object ``{"n": {"n": ... leaf}}`` ``depth`` levels deep, built as text (packers
    refuse to write it)."""
    return b'{"n":' * depth + leaf + b"}" * depth


def signed(session: Session, parts: list[bytes], buffers: tuple[Any, ...] = ()) -> list[Any]:
    """``[DELIM, signature, *parts, *buffers]`` with a valid signature over the 4 parts."""
    return [DELIM, session.sign(parts), *parts, *buffers]


def split(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(routing/topic frames, the frames from DELIM on)."""
    index = frames.index(DELIM)
    return frames[:index], frames[index:]


#: What reading a message a kernel sent back may raise (it may echo what it was sent: a
#: parent header nested too deep for json, or not an object at all).
PEEK_ERRORS = (ValueError, IndexError, AttributeError, RecursionError)


def peek(frames: list[bytes]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(header, parent header, content) of a received message, read without verifying."""
    _, rest = split(frames)
    return json.loads(rest[2]), json.loads(rest[3]), json.loads(rest[5])


def request_reply(
    kernel: KernelUnderTest, channel: str, msg_type: str, content: dict[str, Any], timeout: float
) -> dict[str, Any] | None:
    """Send a request from a fresh DEALER; its reply, or None when none came in time."""
    sock = socket(zmq.DEALER, kernel.url(channel))
    try:
        sent = kernel.session.send(sock, msg_type, content)
        assert sent is not None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not sock.poll(int(left * 1000) + 1):
                break
            try:
                _, reply = kernel.session.recv(sock)
            except Exception:  # a reply we cannot read is no answer
                continue
            if reply and reply["parent_header"].get("msg_id") == sent["header"]["msg_id"]:
                return reply
        return None
    finally:
        sock.close()


def execute_content(code: str) -> dict[str, Any]:
    """An execute_request's content that leaves no history and aborts nothing queued."""
    return requests.execute(code, store_history=False, stop_on_error=False).content


# ------------------------------------------------------------------------------ probes


def probe_heartbeat(kernel: KernelUnderTest, timeout: float) -> bool:
    sock = socket(zmq.REQ, kernel.url("hb"))
    try:
        sock.send(b"hostile-ping")
        return bool(sock.poll(int(timeout * 1000))) and sock.recv() == b"hostile-ping"
    finally:
        sock.close()


def probe_iopub(kernel: KernelUnderTest, timeout: float) -> bool:
    """A fresh subscriber sees the output of an execute (resent every few seconds, in case
    the subscription raced the first one)."""
    sub = socket(zmq.SUB, kernel.url("iopub"), rcvhwm=0)
    sub.subscribe(b"")
    shell = socket(zmq.DEALER, kernel.url("shell"))
    token = f"hostile-probe-{uuid.uuid4().hex}"
    deadline = time.monotonic() + timeout
    next_send = time.monotonic() + min(2.0, timeout / 4)  # or at the welcome
    try:
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                kernel.session.send(shell, "execute_request", execute_content(f"print({token!r})"))
                next_send = time.monotonic() + 3.0
            while shell.poll(0):
                shell.recv_multipart()
            if not sub.poll(50):
                continue
            try:
                msg_header, _, content = peek(sub.recv_multipart())
            except PEEK_ERRORS:
                continue
            if msg_header.get("msg_type") == "iopub_welcome" and next_send > time.monotonic():
                next_send = time.monotonic()
            elif msg_header.get("msg_type") == "stream" and token in str(content.get("text")):
                return True
        return False
    finally:
        sub.close()
        shell.close()


def probe(kernel: KernelUnderTest, timeout: float) -> dict[str, bool]:
    """Which channels answer, each within ``timeout``."""
    if not kernel.alive():
        return dict.fromkeys(PROBED, False)
    return {
        "shell": request_reply(kernel, "shell", "kernel_info_request", {}, timeout) is not None,
        "control": request_reply(kernel, "control", "kernel_info_request", {}, timeout) is not None,
        "hb": probe_heartbeat(kernel, timeout),
        "iopub": probe_iopub(kernel, timeout),
    }


# ----------------------------------------------------------------------------- attacks

Attack = Callable[[KernelUnderTest, Config, contextlib.ExitStack], dict[str, Any]]


def wait_for_reply(
    sock: zmq.Socket[Any], msg_id: str, timeout: float, alive: Callable[[], bool]
) -> tuple[bool, int]:
    """(whether the reply to ``msg_id`` came in time, how many other messages came first);
    gives up early once ``alive()`` is false."""
    others = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sock.poll(200):
            if not alive():
                break
            continue
        try:
            parent = peek(sock.recv_multipart())[1]
        except PEEK_ERRORS:
            parent = {}
        if isinstance(parent, dict) and parent.get("msg_id") == msg_id:
            return True, others
        others += 1
    return False, others


def attack_subscriptions(
    kernel: KernelUnderTest, cfg: Config, keep: contextlib.ExitStack
) -> dict[str, Any]:
    """Subscriptions cost the kernel's XPUB memory and a welcome each; they last as long as
    the connection, so it stays open until the probes are done."""
    subscriber = RawSubscriber(kernel.url("iopub"), cfg.timeout)
    keep.callback(subscriber.close)
    topics = cfg.count(10_000)
    big = max(1, round(MB * cfg.scale))
    sent = 0
    try:
        for index in range(topics):
            subscriber.subscribe(b"hostile-topic-%08d" % index)
            sent += 1
            if index % 100 == 0:
                subscriber.receive(0)
        for index in range(4):
            subscriber.subscribe(b"%d" % index * big)
            sent += 1
        subscriber.drain(cfg.quiet, max(10.0, cfg.timeout), sent)
    except OSError as exc:  # a kernel may rightly hang up on such a peer (or stall)
        return {
            "subscriptions": sent,
            "connection_ended": repr(exc),
            "messages_back": subscriber.messages,
        }
    return {"subscriptions": sent, "big_topic_bytes": big, "messages_back": subscriber.messages}


class Capture:
    """An IOPub subscriber keeping every message it reads, raw (to be replayed)."""

    def __init__(self, kernel: KernelUnderTest, keep: contextlib.ExitStack) -> None:
        self.kernel = kernel
        self.sub = keep.enter_context(socket(zmq.SUB, kernel.url("iopub"), rcvhwm=0))
        self.sub.subscribe(b"")
        self.frames: list[list[bytes]] = []

    def wait_welcome(self, timeout: float) -> None:
        """Until the subscription is in place (a kernel without welcomes: the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.sub.poll(100):
                continue
            frames = self.sub.recv_multipart()
            self.frames.append(frames)
            if peek(frames)[0].get("msg_type") == "iopub_welcome":
                return

    def request(
        self, shell: zmq.Socket[Any], msg_type: str, content: dict[str, Any], timeout: float
    ) -> str:
        """Send on ``shell`` and wait for the idle status it causes; its stream output."""
        sent = self.kernel.session.send(shell, msg_type, content)
        assert sent is not None
        msg_id = sent["header"]["msg_id"]
        text = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while shell.poll(0):
                shell.recv_multipart()
            if not self.sub.poll(100):
                continue
            frames = self.sub.recv_multipart()
            self.frames.append(frames)
            msg_header, parent, content_in = peek(frames)
            if parent.get("msg_id") != msg_id:
                continue
            if msg_header.get("msg_type") == "stream":
                text.append(str(content_in.get("text")))
            if content_in.get("execution_state") == "idle":
                break
        return "".join(text)


def attack_reflection(
    kernel: KernelUnderTest, cfg: Config, keep: contextlib.ExitStack
) -> dict[str, Any]:
    """The kernel's own IOPub messages carry valid signatures; a kernel that accepts them on
    shell or control runs them as requests (and a comm handler can fire)."""
    capture = Capture(kernel, keep)
    capture.wait_welcome(5.0)
    shell = keep.enter_context(socket(zmq.DEALER, kernel.url("shell"), rcvhwm=0))
    wait = cfg.timeout
    capture.request(shell, "execute_request", execute_content(COMM_SETUP[kernel.kind]), wait)
    capture.request(shell, "execute_request", execute_content("print('hostile hello')"), wait)
    capture.request(shell, "execute_request", execute_content("6 * 7"), wait)
    client_comm = uuid.uuid4().hex
    open_content = {"comm_id": client_comm, "target_name": "hostile", "data": {}}
    capture.request(shell, "comm_open", open_content, wait)
    capture.request(shell, "comm_msg", {"comm_id": client_comm, "data": {"ping": 1}}, wait)
    hits_code = execute_content("print('hostile-hits', _hp_hits)")

    def hits() -> int | None:
        text = capture.request(shell, "execute_request", hits_code, wait)
        words = text.split()
        return int(words[-1]) if len(words) >= 2 and words[-2] == "hostile-hits" else None

    hits_before = hits()
    captured = [split(frames)[1] for frames in capture.frames]
    captured_types = sorted({json.loads(rest[2]).get("msg_type", "?") for rest in captured})

    dealers = {
        channel: keep.enter_context(
            socket(zmq.DEALER, kernel.url(channel), routing_id=b"hostile-" + channel.encode())
        )
        for channel in ("shell", "control")
    }
    replayed_ids: set[str] = set()
    fresh: collections.deque[list[bytes]] = collections.deque(maxlen=10_000)
    responses: collections.Counter[str] = collections.Counter()
    sent = not_sent = 0
    duration = max(0.5, 10.0 * cfg.scale)

    def take_published(wait_ms: int, limit: int) -> int:
        """Read up to ``limit`` IOPub messages: count those caused by a replay and queue
        them for replaying in turn. How many were read."""
        taken = 0
        while taken < limit and capture.sub.poll(wait_ms):
            _, rest_in = split(capture.sub.recv_multipart())
            taken += 1
            if json.loads(rest_in[3]).get("msg_id") in replayed_ids:
                responses[json.loads(rest_in[2]).get("msg_type", "?")] += 1
                fresh.append(rest_in)
        return taken

    def replay(rest: list[bytes], to: list[str]) -> None:
        nonlocal sent, not_sent
        replayed_ids.add(json.loads(rest[2]).get("msg_id", ""))
        for channel in to:
            try:
                dealers[channel].send_multipart(rest, zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                not_sent += 1

    # The kernel has one replay history for all channels: a message is accepted once, on the
    # channel that reads it first. The captured ones go to shell first, where a comm
    # handler can run, and are all read there before the flood starts.
    for rest in captured:
        replay(rest, ["shell"])
    marker = kernel.session.send(dealers["shell"], "kernel_info_request", {})
    assert marker is not None
    wait_for_reply(dealers["shell"], marker["header"]["msg_id"], cfg.timeout, kernel.alive)
    replays = itertools.cycle(captured)
    take_fresh = False
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        take_fresh = not take_fresh  # every other replay is a fresh one, when there is one
        replay(fresh.popleft() if fresh and take_fresh else next(replays), ["shell", "control"])
        for dealer in dealers.values():
            for _ in range(100):  # replies (none expected): read, bounded
                if not dealer.poll(0):
                    break
                dealer.recv_multipart()
        take_published(0, 100)
    # Each DEALER's queue is FIFO up to the kernel, but the kernel takes turns between
    # connections: only a reply on the same connection says the replays were all handled.
    drained = True
    for dealer in dealers.values():
        marker = kernel.session.send(dealer, "kernel_info_request", {})
        assert marker is not None
        marker_id = marker["header"]["msg_id"]
        drained &= wait_for_reply(dealer, marker_id, 3 * cfg.timeout, kernel.alive)[0]
    deadline = time.monotonic() + cfg.timeout
    while time.monotonic() < deadline and take_published(1000, 1000):
        pass
    hits_after = hits()
    handler_ran = None if None in (hits_before, hits_after) else hits_after != hits_before
    return {
        "captured": len(captured),
        "captured_types": captured_types,
        "seconds": duration,
        "replays_sent": sent,
        "replays_not_sent_hwm": not_sent,
        "backlog_drained": drained,
        "status_in_response": responses.pop("status", 0),
        "other_in_response": dict(responses),
        "handler_hits_before": hits_before,
        "handler_hits_after": hits_after,
        "handler_ran": handler_ran,
    }


def attack_oversized(
    kernel: KernelUnderTest, cfg: Config, keep: contextlib.ExitStack
) -> dict[str, Any]:
    """Frames over each channel's limit in the reference kernel (stdin and control 1 MiB,
    shell 256 MiB): ten 100 MB messages to an idle stdin, 100 MB ones to control, 300 MB
    ones to shell."""
    sizes = {"stdin": 100 * MB, "control": 100 * MB, "shell": 300 * MB}
    return _send_big_messages(kernel, cfg, keep, sizes, stdin_messages=10)


def attack_large_shell(
    kernel: KernelUnderTest, cfg: Config, keep: contextlib.ExitStack
) -> dict[str, Any]:
    """100 MB messages on shell, within the reference kernel's limit: signed, signed with a
    100 MB buffer, and wrongly signed (read before it can be refused)."""
    return _send_big_messages(kernel, cfg, keep, {"shell": 100 * MB}, stdin_messages=0)


def _send_big_messages(
    kernel: KernelUnderTest,
    cfg: Config,
    keep: contextlib.ExitStack,
    sizes: dict[str, int],
    stdin_messages: int,
) -> dict[str, Any]:
    """Big frames arrive whatever the kernel does: an idle stdin never reads them. Sizes are
    scaled by ``cfg.scale``; a small valid request follows on each channel."""
    scaled = {channel: max(1, round(size * cfg.scale)) for channel, size in sizes.items()}
    session = kernel.session
    empty = dumps({})
    trackers: list[zmq.MessageTracker] = []

    def send(sock: zmq.Socket[Any], frames: list[Any]) -> None:
        """Zero-copy, tracked: done once libzmq has handed the frames to the kernel's TCP."""
        tracker = sock.send_multipart(frames, copy=False, track=True)
        assert tracker is not None
        trackers.append(tracker)

    def padded(size: int) -> tuple[bytes, bytes]:
        blob = b"x" * size  # real pages (not calloc'd zeros), shared by the messages
        return blob, b'{"padding": "' + blob + b'"}'

    if stdin_messages:
        _blob, big_content = padded(scaled["stdin"])
        stdin = keep.enter_context(socket(zmq.DEALER, kernel.url("stdin")))
        for _ in range(stdin_messages):
            send(stdin, [DELIM, b"", dumps(header("input_reply")), empty, empty, big_content])
        del _blob, big_content
    markers = {}
    for channel in ("control", "shell"):
        if channel not in scaled:
            continue
        blob, big_content = padded(scaled[channel])
        dealer = keep.enter_context(socket(zmq.DEALER, kernel.url(channel), rcvhwm=0))
        messages = [
            signed(session, [dumps(header("kernel_info_request")), empty, empty, big_content]),
            signed(session, [dumps(header("kernel_info_request")), empty, empty, empty], (blob,)),
            [DELIM, b"0" * 64, dumps(header("kernel_info_request")), empty, empty, big_content],
        ]
        for frames in messages:
            send(dealer, frames)
        # A small valid request last: its reply means the big ones were all read.
        marker = session.send(dealer, "kernel_info_request", {})
        assert marker is not None
        markers[channel] = (dealer, marker["header"]["msg_id"])
    unsent = 0
    deadline = time.monotonic() + max(60.0, cfg.timeout)
    for tracker in trackers:
        try:
            tracker.wait(max(0.0, deadline - time.monotonic()))
        except zmq.NotDone:
            unsent += 1
    details: dict[str, Any] = {
        "message_bytes": ",".join(f"{channel}={size}" for channel, size in scaled.items()),
        "messages": len(trackers),
        "not_sent_in_time": unsent,
    }
    for channel, (dealer, msg_id) in markers.items():
        answered, others = wait_for_reply(dealer, msg_id, 3 * cfg.timeout, kernel.alive)
        details[channel] = f"{others} of 2 signed requests answered" + (
            "" if answered else ", then no answer"
        )
    return details


def malformed_cases() -> list[tuple[str, Callable[[], list[bytes]]]]:
    """(name, parts maker): header, parent, metadata, content as they go on the wire."""
    empty = dumps({})

    def parts(
        msg_type: Any = "kernel_info_request",
        content: Any = None,
        raw_header: bytes | None = None,
        raw_content: bytes | None = None,
        parent: bytes = empty,
        metadata: bytes = empty,
        **fields: Any,
    ) -> Callable[[], list[bytes]]:
        def make() -> list[bytes]:
            head = raw_header if raw_header is not None else dumps(header(msg_type, **fields))
            body = raw_content if raw_content is not None else dumps(content or {})
            return [head, parent, metadata, body]

        return make

    deep = nested(1000)
    deeper = nested(50_000)
    deep_header = (
        b'{"msg_id": "deep", "msg_type": "kernel_info_request", "session": "s", '
        b'"username": "u", "version": "5.4", "date": "2026-01-01T00:00:00Z", "n": '
        + nested(1000)
        + b"}"
    )
    huge = 10**30

    def exe(**fields: Any) -> Callable[[], list[bytes]]:
        return parts("execute_request", {**execute_content("1"), **fields})

    return [
        ("msg_type list", parts(["execute_request"], execute_content("1"))),
        ("msg_type dict", parts({"execute_request": 1}, execute_content("1"))),
        ("msg_type int", parts(5)),
        ("msg_type null", parts(None)),
        ("header 1000 deep, no msg_id", parts(raw_header=deep)),
        ("header 50000 deep", parts(raw_header=deeper)),
        ("header field 1000 deep", parts(raw_header=deep_header)),
        ("parent 1000 deep", parts(parent=deep)),
        ("metadata 1000 deep", parts(metadata=deep)),
        ("content 1000 deep", parts(raw_content=deep)),
        ("content 50000 deep", parts("execute_request", raw_content=deeper)),
        ("header a list", parts(raw_header=b'["kernel_info_request"]')),
        ("header a string", parts(raw_header=b'"kernel_info_request"')),
        ("header null", parts(raw_header=b"null")),
        ("header not json", parts(raw_header=b"\xff\xfe{")),
        ("header msg_id int", parts(msg_id=5)),
        ("header session list", parts(session=["s"])),
        ("header date garbage", parts(date="not a date")),
        ("header version int", parts(version=5)),
        ("parent a list", parts(parent=b"[1, 2]")),
        ("metadata a list", parts(metadata=b"[1, 2]")),
        ("metadata a string", parts(metadata=b'"m"')),
        ("content a list", parts("execute_request", raw_content=b'["print(1)"]')),
        ("content a string", parts("kernel_info_request", raw_content=b'"x"')),
        ("content null", parts("execute_request", raw_content=b"null")),
        ("execute code int", exe(code=123)),
        ("execute code list", exe(code=["1"])),
        ("execute silent str", exe(silent="yes")),
        ("execute store_history list", exe(store_history=[1])),
        ("execute user_expressions list", exe(user_expressions=["1"])),
        ("execute user_expressions int values", exe(user_expressions={"a": 5, "b": None})),
        ("execute allow_stdin dict", exe(allow_stdin={})),
        ("execute stop_on_error str", exe(stop_on_error="no", code="1/0")),
        ("complete code int", parts("complete_request", {"code": 5, "cursor_pos": 1})),
        ("complete cursor_pos str", parts("complete_request", {"code": "pri", "cursor_pos": "x"})),
        ("complete cursor_pos huge", parts("complete_request", {"code": "p", "cursor_pos": huge})),
        (
            "complete cursor_pos negative",
            parts("complete_request", {"code": "p", "cursor_pos": -5}),
        ),
        ("complete cursor_pos float", parts("complete_request", {"code": "p", "cursor_pos": 1.5})),
        (
            "inspect detail_level str",
            parts("inspect_request", {"code": "len", "detail_level": "x"}),
        ),
        (
            "inspect detail_level huge",
            parts("inspect_request", {"code": "len", "detail_level": huge}),
        ),
        ("inspect cursor_pos list", parts("inspect_request", {"code": "len", "cursor_pos": []})),
        ("is_complete code dict", parts("is_complete_request", {"code": {}})),
        ("history access int", parts("history_request", {"hist_access_type": 5})),
        ("history n str", parts("history_request", {"hist_access_type": "tail", "n": "x"})),
        ("history n huge", parts("history_request", {"hist_access_type": "tail", "n": huge})),
        ("history n negative", parts("history_request", {"hist_access_type": "tail", "n": -1})),
        (
            "history range strings",
            parts(
                "history_request",
                {"hist_access_type": "range", "session": "x", "start": "a", "stop": []},
            ),
        ),
        (
            "history search pattern int",
            parts("history_request", {"hist_access_type": "search", "pattern": 5}),
        ),
        ("comm_info target int", parts("comm_info_request", {"target_name": 7})),
        ("comm_open comm_id list", parts("comm_open", {"comm_id": [1], "target_name": "t"})),
        ("comm_open target dict", parts("comm_open", {"comm_id": "c", "target_name": {}})),
        (
            "comm_open data str",
            parts("comm_open", {"comm_id": "c", "target_name": "t", "data": "d"}),
        ),
        ("comm_msg comm_id int", parts("comm_msg", {"comm_id": 5, "data": {}})),
        ("comm_msg data list", parts("comm_msg", {"comm_id": "c", "data": []})),
        ("comm_close comm_id null", parts("comm_close", {"comm_id": None, "data": 5})),
        ("kernel_info content list", parts("kernel_info_request", raw_content=b"[]")),
        ("interrupt content list", parts("interrupt_request", raw_content=b"[1]")),
    ]


def attack_malformed(
    kernel: KernelUnderTest, cfg: Config, keep: contextlib.ExitStack
) -> dict[str, Any]:
    """Valid signatures get a message past verification: what follows must not trust it.
    Each case is followed by a valid kernel_info_request, so the case after which a channel
    stops answering is named."""
    cases = malformed_cases()
    details: dict[str, Any] = {"cases": len(cases)}
    for channel in ("shell", "control"):
        dealer = keep.enter_context(socket(zmq.DEALER, kernel.url(channel), rcvhwm=0))
        replies = 0
        for done, (name, make) in enumerate(cases, 1):
            dealer.send_multipart(signed(kernel.session, make()))
            marker = kernel.session.send(dealer, "kernel_info_request", {})
            assert marker is not None
            answered, others = wait_for_reply(
                dealer, marker["header"]["msg_id"], cfg.timeout, kernel.alive
            )
            replies += others
            if not answered:
                details[channel] = f"stopped answering after case {done} {name!r}"
                break
        else:
            details[channel] = f"answered after every case, {replies} replies to the cases"
    return details


def attack_bad_signatures(
    kernel: KernelUnderTest, cfg: Config, keep: contextlib.ExitStack
) -> dict[str, Any]:
    """Each rejected message may cost a log line: a flood must not become a flood of logs."""
    forger = Session(key=b"not-the-key", signature_scheme="hmac-sha256")
    empty = dumps({})
    count = cfg.count(10_000)
    dealers = [
        keep.enter_context(socket(zmq.DEALER, kernel.url(channel)))
        for channel in ("shell", "control")
    ]
    for index in range(count):
        parts = [dumps(header("kernel_info_request")), empty, empty, empty]
        signature = (forger.sign(parts), b"", b"zz" * 32)[index % 3]
        dealers[index % 2].send_multipart([DELIM, signature, *parts])
    # A valid request last on each connection: its reply means the flood was all read.
    replies = 0
    drained = True
    for dealer in dealers:
        marker = kernel.session.send(dealer, "kernel_info_request", {})
        assert marker is not None
        answered, others = wait_for_reply(
            dealer, marker["header"]["msg_id"], 3 * cfg.timeout, kernel.alive
        )
        drained &= answered
        replies += others
    return {"messages": count, "replies": replies, "flood_drained": drained}


ATTACK_FUNCTIONS: dict[str, Attack] = {
    "a": attack_subscriptions,
    "b": attack_reflection,
    "c": attack_oversized,
    "f": attack_large_shell,
    "d": attack_malformed,
    "e": attack_bad_signatures,
}


# ------------------------------------------------------------------------------ a run


@dataclass
class Outcome:
    kernel: str
    attack: str
    crashed: bool = False
    exit_code: int | None = None
    dead: list[str] = field(default_factory=list)
    dead_before: list[str] = field(default_factory=list)
    dead_after_leaving: list[str] = field(default_factory=list)
    idle_rss_kb: int = 0
    peak_rss_kb: int = 0
    log_bytes: int = 0
    attack_seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    log_path: str = ""

    @property
    def ratio(self) -> float:
        return self.peak_rss_kb / self.idle_rss_kb if self.idle_rss_kb else float("nan")


def run_one(kind: str, attack: str, cfg: Config) -> Outcome:
    """A fresh kernel, probed, attacked, probed while the attacker is still connected and
    again once it has left, killed."""
    outcome = Outcome(kind, attack)
    kernel = KernelUnderTest(kind, cfg.log_dir, f"{kind}-{attack}")
    outcome.log_path = kernel.log_path
    try:
        kernel.wait_ready(START_TIMEOUT)
        before = probe(kernel, cfg.timeout)
        outcome.dead_before = [channel for channel, ok in before.items() if not ok]
        time.sleep(0.5)
        status = _proc_status(kernel.pid)
        outcome.idle_rss_kb = status.get("VmRSS", 0)
        log_start = kernel.log_bytes()
        with RssSampler(kernel.pid) as sampler:
            with contextlib.ExitStack() as keep:
                started = time.monotonic()
                try:
                    outcome.details = ATTACK_FUNCTIONS[attack](kernel, cfg, keep)
                except Exception as exc:  # report it and probe anyway
                    outcome.error = f"attack failed: {exc!r}"
                outcome.attack_seconds = time.monotonic() - started
                during = probe(kernel, cfg.timeout)
            # The attacker's sockets are closed now: its leaving must not hurt either.
            time.sleep(0.5)
            after = probe(kernel, cfg.timeout)
            time.sleep(0.2)  # the last log lines
            hwm_after = _proc_status(kernel.pid).get("VmHWM", 0)
        outcome.log_bytes = kernel.log_bytes() - log_start
        outcome.peak_rss_kb = max(
            sampler.peak_kb, hwm_after if hwm_after > status.get("VmHWM", 0) else 0
        )
        outcome.dead = [
            channel
            for channel in PROBED
            if not (during[channel] and after[channel]) and channel not in outcome.dead_before
        ]
        outcome.dead_after_leaving = [
            channel for channel in outcome.dead if during[channel] and not after[channel]
        ]
    except Exception as exc:
        outcome.error = f"{outcome.error}; {exc!r}" if outcome.error else repr(exc)
    finally:
        outcome.crashed = not kernel.alive()
        outcome.exit_code = kernel.proc.returncode
        kernel.kill()
    return outcome


# ----------------------------------------------------------------------------- report


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB" if kb >= 10 * 1024 else f"{kb / 1024:.1f} MB"


def brief(details: dict[str, Any]) -> str:
    skip = {"captured_types"}
    return ", ".join(f"{k}={v}" for k, v in details.items() if k not in skip)


def print_outcome(outcome: Outcome) -> None:
    print(f"\n== {outcome.kernel}, attack {outcome.attack}: {ATTACKS[outcome.attack]}")
    crash = f"yes (exit code {outcome.exit_code})" if outcome.crashed else "no"
    print(f"   crashed: {crash}")
    print(f"   dead channels: {', '.join(outcome.dead) or 'none'}", end="")
    if outcome.dead_after_leaving:
        print(
            f" (of which only once the attacker left: {', '.join(outcome.dead_after_leaving)})",
            end="",
        )
    if outcome.dead_before:
        print(f" (already not answering before: {', '.join(outcome.dead_before)})", end="")
    print()
    print(
        f"   RSS: idle {mb(outcome.idle_rss_kb)}, peak {mb(outcome.peak_rss_kb)}, "
        f"ratio {outcome.ratio:.2f}"
    )
    print(f"   log bytes: {outcome.log_bytes} in {outcome.attack_seconds:.1f} s of attack")
    print(f"   details: {brief(outcome.details)}")
    if outcome.error:
        print(f"   error: {outcome.error}")
    print(f"   log: {outcome.log_path}")


def note(outcome: Outcome) -> str:
    """The one figure of an attack's details worth a column in the table."""
    details = outcome.details
    if outcome.error:
        return "error (see above)"
    if outcome.attack == "b" and "handler_ran" in details:
        ran = {True: "yes", False: "no", None: "unknown"}[details["handler_ran"]]
        return f"{details['status_in_response']} status back; handler ran: {ran}"
    if outcome.attack == "d":
        stopped = [channel for channel in ("shell", "control") if "stopped" in details[channel]]
        return f"stopped answering: {', '.join(stopped)}" if stopped else "answered throughout"
    if outcome.attack == "e" and details.get("messages"):
        return f"{outcome.log_bytes / details['messages']:.0f} log bytes per message"
    return ""


def print_table(outcomes: list[Outcome]) -> None:
    print()
    print(
        f"{'kernel':<11} {'attack':<28} | {'crash':<5} | {'dead channels':<25} | "
        f"{'idle RSS':>9} {'peak RSS':>9} {'ratio':>6} | {'log bytes':>11} | note"
    )
    print("-" * 150)
    for o in outcomes:
        name = f"{o.attack}. {ATTACKS[o.attack]}"
        print(
            f"{o.kernel:<11} {name:<28} | {'yes' if o.crashed else 'no':<5} | "
            f"{', '.join(o.dead) or '-':<25} | {mb(o.idle_rss_kb):>9} {mb(o.peak_rss_kb):>9} "
            f"{o.ratio:>6.2f} | {o.log_bytes:>11} | {note(o)}".rstrip()
        )


def goal_line(outcomes: list[Outcome]) -> str:
    """The goal for kernelwire, met or what missed it."""
    mine = [o for o in outcomes if o.kernel == "kernelwire"]
    missed = []
    crashes = [o.attack for o in mine if o.crashed]
    if crashes:
        missed.append(f"{len(crashes)} crash(es) ({','.join(crashes)})")
    dead = [f"{o.attack}:{'+'.join(o.dead)}" for o in mine if o.dead]
    if dead:
        missed.append(f"dead channels {' '.join(dead)}")
    big = [
        f"{o.attack}:{o.ratio:.1f}x"
        for o in mine
        if not o.ratio <= RSS_GOAL and o.attack not in RSS_FOR_INFORMATION
    ]
    if big:
        missed.append(f"RSS {' '.join(big)}")
    errors = [o.attack for o in mine if o.error]
    if errors:
        missed.append(f"errors in ({','.join(errors)})")
    verdict = "not run" if not mine else ("met" if not missed else "missed: " + "; ".join(missed))
    return (
        "goal: kernelwire 0 crashes, 0 dead channels, RSS within 2x of idle "
        f"(attack {','.join(sorted(RSS_FOR_INFORMATION))}: RSS for information): {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", default="kernelwire,ipykernel")
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    parser.add_argument("--scale", type=float, default=1.0, help="sizes and counts multiplier")
    parser.add_argument("--timeout", type=float, default=20.0, help="bound of each probe (s)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument(
        "--log-dir", help="connection files and kernel logs (default: a new temp dir)"
    )
    args = parser.parse_args(argv)
    kernels = [k for k in args.kernels.split(",") if k]
    attacks = [a for a in args.attacks.split(",") if a]
    unknown = [k for k in kernels if k not in KERNELS] + [a for a in attacks if a not in ATTACKS]
    if unknown:
        parser.error(f"unknown kernel(s) or attack(s): {', '.join(unknown)}")
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="hostile-peers-")
    os.makedirs(log_dir, exist_ok=True)
    cfg = Config(scale=args.scale, timeout=args.timeout, log_dir=log_dir)
    print(
        f"hostile peers: kernels {','.join(kernels)}, attacks {','.join(attacks)}, "
        f"scale {cfg.scale}, logs in {log_dir}",
        flush=True,
    )

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    outcomes = []
    interrupted = False
    try:
        for kind in kernels:
            for attack in attacks:
                outcome = run_one(kind, attack, cfg)
                outcomes.append(outcome)
                print_outcome(outcome)
                sys.stdout.flush()
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: the figures so far", flush=True)
    finally:
        kill_all()
    print_table(outcomes)
    print()
    print(goal_line(outcomes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{**asdict(o), "ratio": o.ratio} for o in outcomes], f, indent=2, default=str)
    CTX.destroy(linger=0)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
