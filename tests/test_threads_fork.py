"""One Session shared by threads (unique ids, replay history without lost or falsely
duplicate messages), and its documented behaviour in a forked child."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import zmq

from helpers import WAIT_MS, bound_pair
from kernelwire.errors import DuplicateSignature
from kernelwire.session import Session

KEY = b"threads-and-forks"
CHILD_TIMEOUT = 30.0

fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
pytestmark = pytest.mark.usefixtures("quiet_logs", "pyzmq_paths")


def run_threads(targets: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                target()
            except BaseException as exc:
                errors.append(exc)

        return body

    threads = [threading.Thread(target=guarded(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a thread did not finish"
    assert not errors, errors


def test_msg_ids_are_unique_across_threads_and_clones(busy_switching: None) -> None:
    session = Session(key=KEY)
    clone = session.clone()
    ids: list[list[str]] = [[] for _ in range(6)]

    def make(index: int) -> Callable[[], None]:
        source = session if index % 2 else clone
        return lambda: ids[index].extend(source.msg_id for _ in range(5000))

    run_threads([make(i) for i in range(6)])
    everything = [i for chunk in ids for i in chunk]
    assert len(everything) == 30_000
    assert len(set(everything)) == len(everything)


@pytest.mark.parametrize("history_size", [65536, 300])
def test_threads_send_and_receive_through_one_session(
    zmq_ctx: zmq.Context[Any], busy_switching: None, history_size: int
) -> None:
    """Four senders and four receivers share a Session (ids, signer, replay history,
    evicting when the history is small): every message arrives exactly once."""
    session = Session(key=KEY, digest_history_size=history_size)
    pairs = []
    for n in range(4):
        pull, push = bound_pair(
            zmq_ctx, (zmq.PULL, zmq.PUSH), f"inproc://stress-{history_size}-{n}"
        )
        pull.rcvtimeo = WAIT_MS
        pairs.append((push, pull))
    per_thread = 1500
    sent_ids: list[list[str]] = [[] for _ in pairs]
    received: list[list[tuple[str, int, int]]] = [[] for _ in pairs]

    def sender(n: int) -> Callable[[], None]:
        def body() -> None:
            push = pairs[n][0]
            for i in range(per_thread):
                msg = session.send(push, "stress", {"thread": n, "i": i})
                assert msg is not None
                sent_ids[n].append(msg["msg_id"])

        return body

    def receiver(n: int) -> Callable[[], None]:
        def body() -> None:
            pull = pairs[n][1]
            for _ in range(per_thread):
                _, msg = session.recv(pull, mode=0)
                assert msg is not None, "a message was lost"
                content = msg["content"]
                received[n].append((msg["msg_id"], content["thread"], content["i"]))

        return body

    run_threads([sender(n) for n in range(4)] + [receiver(n) for n in range(4)])
    all_sent = [i for chunk in sent_ids for i in chunk]
    assert len(set(all_sent)) == len(all_sent) == 4 * per_thread
    for n in range(4):
        assert [r[0] for r in received[n]] == sent_ids[n]
        assert [(r[1], r[2]) for r in received[n]] == [(n, i) for i in range(per_thread)]


def test_a_replay_raced_by_two_threads_is_accepted_once(
    zmq_ctx: zmq.Context[Any], busy_switching: None
) -> None:
    """The same signed frames reach two receiving threads: for each message exactly one
    accepts it and the other gets DuplicateSignature."""
    session = Session(key=KEY)
    count = 1500
    frames = [session.serialize(session.msg("replayed", {"i": i})) for i in range(count)]
    outcomes: list[Counter[str]] = [Counter() for _ in range(count)]
    lock = threading.Lock()
    sockets = []
    for n in range(2):
        pull, push = bound_pair(zmq_ctx, (zmq.PULL, zmq.PUSH), f"inproc://replay-{n}")
        pull.rcvtimeo = WAIT_MS
        for f in frames:
            push.send_multipart(f)
        sockets.append(pull)

    def receiver(pull: zmq.Socket[Any]) -> Callable[[], None]:
        def body() -> None:
            for i in range(count):
                try:
                    _, msg = session.recv(pull, mode=0)
                    assert msg is not None and msg["content"]["i"] == i
                    outcome = "accepted"
                except DuplicateSignature:
                    outcome = "duplicate"
                with lock:
                    outcomes[i][outcome] += 1

        return body

    run_threads([receiver(s) for s in sockets])
    assert all(o == Counter(accepted=1, duplicate=1) for o in outcomes)


# ------------------------------------------------------------------------------ forks


def in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` in a forked child and return what it reports through a pipe. The
    child always leaves by os._exit; the parent never waits longer than CHILD_TIMEOUT."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        try:
            outcome = {"ok": True, **work()}
        except BaseException as exc:
            outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        try:
            os.write(write_end, json.dumps(outcome, default=repr).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + CHILD_TIMEOUT
    chunks = []
    try:
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([read_end], [], [], max(remaining, 0))
            if not ready:
                raise AssertionError("the forked child did not report in time")
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = 0
                break
            time.sleep(0.01)
    finally:
        os.close(read_end)
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    report: dict[str, Any] = json.loads(b"".join(chunks))
    assert report.pop("ok"), report.get("error")
    return report


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def capture_warnings() -> Captured:
    from traitlets.log import get_logger

    handler = Captured()
    logger = logging.getLogger(get_logger().name)
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    return handler


@fork_only
def test_forked_child_sends_nothing_and_gets_none(zmq_ctx: zmq.Context[Any]) -> None:
    session = Session(key=KEY)
    a, b = bound_pair(zmq_ctx, (zmq.PAIR, zmq.PAIR), "tcp://127.0.0.1:*")
    parent_pid = os.getpid()

    def child() -> dict[str, Any]:
        warned = capture_warnings()
        sent = session.send(a, "from_child", {"x": 1})
        session.send_raw(a, session.serialize(session.msg("raw"))[2:])

        async def via_asend() -> Any:
            return await session.asend(a, "from_child_async", {})

        asent = asyncio.run(via_asend())
        return {
            "sent": sent,
            "asent": asent,
            "warnings": warned.lines,
            "msg_id": session.msg_id,
            "pid": os.getpid(),
        }

    report = in_child(child)
    assert report["sent"] is None and report["asent"] is None
    assert len(report["warnings"]) == 3
    assert all("from fork" in line for line in report["warnings"])
    assert f"_{report['pid']}_" in report["msg_id"]  # ids in the child carry its pid
    assert f"_{parent_pid}_" not in report["msg_id"]
    assert not b.poll(100), "the child sent on the parent's socket"
    # the parent is unaffected
    sent = session.send(a, "from_parent", {})
    assert sent is not None and f"_{parent_pid}_" in sent["msg_id"]
    assert b.poll(WAIT_MS)
    _, msg = session.recv(b)
    assert msg is not None and msg["msg_id"] == sent["msg_id"]


@fork_only
@pytest.mark.parametrize("opt_in", ["check_pid_off", "adopt_pid"])
def test_forked_child_that_opts_in_sends_on_its_own_socket(
    zmq_ctx: zmq.Context[Any], opt_in: str
) -> None:
    """A child that made its own socket turns check_pid off, or adopts its pid."""
    session = Session(key=KEY)
    pull = zmq_ctx.socket(zmq.PULL)
    pull.linger = 0
    pull.bind("tcp://127.0.0.1:*")
    endpoint = pull.last_endpoint.decode()

    def child() -> dict[str, Any]:
        child_ctx: zmq.Context[Any] = zmq.Context()
        push = child_ctx.socket(zmq.PUSH)
        push.linger = 5000
        push.connect(endpoint)
        if opt_in == "check_pid_off":
            session.check_pid = False
        else:
            session.pid = os.getpid()
        sent = session.send(push, "hello_from_child", {"pid": os.getpid()})
        push.close()
        child_ctx.term()
        return {"msg_id": None if sent is None else sent["msg_id"], "pid": os.getpid()}

    report = in_child(child)
    assert report["msg_id"] is not None
    assert pull.poll(WAIT_MS)
    _, msg = session.recv(pull)
    assert msg is not None
    assert msg["msg_id"] == report["msg_id"]
    assert msg["content"] == {"pid": report["pid"]}
    assert session.check_pid and session.pid == os.getpid()  # changes stayed in the child
