"""Publishing threads send on the IOPub XPUB themselves while nothing is queued, when the
message is published with ``direct=True`` (the kernel's status and execute_input).

The IOPub thread then waits on the XPUB's ``ZMQ_FD``, whose readiness is an edge that any
thread's use of the socket can take (see :mod:`kernelwire.kernel.iopub`). These tests hold
what the direct sends must keep: a subscriber that connects during a flood of them is still
welcomed first and then gets every message, and messages keep their order across the
switches between sending directly and queueing for a slow subscriber.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from kernelwire.kernel.iopub import IOPubChannel
from kernelwire.kernel.limits import KernelLimits
from kernelwire.session import Session

RECEIVE_TIMEOUT_MS = 30_000  # only turns a lost message into a failure


@pytest.fixture
def context() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def next_message(session: Session, sub: zmq.Socket[Any]) -> dict[str, Any]:
    _, frames = session.feed_identities(sub.recv_multipart())
    return session.deserialize(frames)


def small_subscriber(context: zmq.Context[Any], url: str) -> zmq.Socket[Any]:
    """A subscriber with room for only a few messages: the kernel's sends to it soon wait."""
    sub = context.socket(zmq.SUB)
    sub.linger = 0
    sub.rcvhwm = 5
    sub.rcvbuf = 4096
    sub.rcvtimeo = RECEIVE_TIMEOUT_MS
    sub.connect(url)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    return sub


@pytest.mark.parametrize("slow_subscriber", [False, True], ids=["direct", "queued"])
def test_a_subscriber_joining_a_flood_is_welcomed_then_gets_every_message(
    context: zmq.Context[Any], slow_subscriber: bool
) -> None:
    """A thread publishes without pause while subscribers connect one after another: each
    gets its welcome first, then consecutive messages of the flood. With no subscriber
    reading slowly, every send goes straight out from the publishing thread (and takes the
    XPUB's events as it does); with one, the flood goes through the queue without end, and
    the IOPub thread must answer subscriptions in between (on main it did not)."""
    session = Session(key=b"k")
    limits = KernelLimits(iopub_sndhwm=5, iopub_stall_ms=60_000)
    channel = IOPubChannel(context, session, "tcp://127.0.0.1:0", limits)
    channel.start()
    done = threading.Event()
    stopped = threading.Event()
    threads = []
    if slow_subscriber:
        slow = small_subscriber(context, channel.url)
        slow.recv_multipart()  # the welcome

        def read_slowly() -> None:
            for received in itertools.count():  # slowly while the flood runs, then fast
                if slow.poll(100):
                    slow.recv_multipart()
                elif stopped.is_set():
                    return
                if received % 10 == 0 and not done.is_set():
                    time.sleep(0.001)

        threads.append(threading.Thread(target=read_slowly, daemon=True))
    flooding = threading.Event()

    def flood() -> None:
        sequence = 0
        while not done.is_set():
            channel.publish("stream", {"name": "stdout", "text": str(sequence)}, direct=True)
            sequence += 1
            flooding.set()

    threads.append(threading.Thread(target=flood, daemon=True))
    for thread in threads:
        thread.start()
    try:
        assert flooding.wait(RECEIVE_TIMEOUT_MS / 1000)
        for _ in range(5):
            sub = context.socket(zmq.SUB)
            sub.linger = 0
            sub.rcvhwm = 0
            sub.rcvtimeo = RECEIVE_TIMEOUT_MS
            sub.connect(channel.url)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            welcome = next_message(session, sub)
            assert welcome["header"]["msg_type"] == "iopub_welcome"
            texts = [next_message(session, sub)["content"]["text"] for _ in range(100)]
            first = int(texts[0])
            assert texts == [str(first + i) for i in range(100)]
            sub.close()
    finally:
        done.set()
        threads[-1].join(RECEIVE_TIMEOUT_MS / 1000)  # the flood ends...
        channel.stop()  # ...and is sent (the slow subscriber still reads)
        stopped.set()
        for thread in threads:
            thread.join(RECEIVE_TIMEOUT_MS / 1000)
    assert not any(thread.is_alive() for thread in threads)


def test_order_holds_across_direct_sends_and_queueing_for_a_slow_subscriber(
    context: zmq.Context[Any],
) -> None:
    """With a high-water mark of a few messages, a subscriber reading in spurts makes sends
    alternate between direct and queued: every message still arrives once, in order."""
    session = Session(key=b"k")
    channel = IOPubChannel(
        context, session, "tcp://127.0.0.1:0", KernelLimits(iopub_sndhwm=5, iopub_stall_ms=30_000)
    )
    channel.start()
    sub = small_subscriber(context, channel.url)
    assert next_message(session, sub)["header"]["msg_type"] == "iopub_welcome"
    count = 2_000
    texts: list[str] = []

    def read() -> None:
        while len(texts) < count:
            texts.append(next_message(session, sub)["content"]["text"])
            if len(texts) % 100 == 0:
                time.sleep(0.01)  # a spurt: the kernel's side fills up meanwhile

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for i in range(count):
        channel.publish("stream", {"name": "stdout", "text": str(i)}, direct=True)
    assert channel.flush(RECEIVE_TIMEOUT_MS / 1000)
    reader.join(RECEIVE_TIMEOUT_MS / 1000)
    channel.stop()
    assert texts == [str(i) for i in range(count)]


def test_a_subscription_waiting_at_the_xpub_is_welcomed_before_a_direct_send(
    context: zmq.Context[Any],
) -> None:
    """A client that subscribes and at once sends a request (without waiting for its
    welcome) must still get the request's busy status: when the subscription has reached
    the XPUB but the IOPub thread has not answered it yet (the main thread holds the GIL),
    the status goes through the IOPub thread, after the welcome. Sent directly, it went
    out before the subscription was applied, and that subscriber never saw it."""
    session = Session(key=b"k")
    channel = IOPubChannel(context, session, "tcp://127.0.0.1:0", KernelLimits())
    channel.start()
    sub = small_subscriber(context, channel.url)
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(60)  # this thread keeps the GIL: the IOPub thread cannot run
    try:
        deadline = time.monotonic() + RECEIVE_TIMEOUT_MS / 1000
        arrived = False
        while not arrived and time.monotonic() < deadline:
            with channel._xpub_lock:  # the subscription is at the XPUB, not yet applied
                arrived = bool(channel._xpub.get(zmq.EVENTS) & zmq.POLLIN)
        assert arrived
        channel.publish("status", {"execution_state": "busy"}, direct=True)
    finally:
        sys.setswitchinterval(switch_interval)
    try:
        received = [next_message(session, sub)["header"]["msg_type"] for _ in range(2)]
        assert received == ["iopub_welcome", "status"]
    finally:
        channel.stop()
