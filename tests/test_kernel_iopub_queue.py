"""The IOPub channel's hand-off between publishing threads and the IOPub thread.

Publishers queue frames in memory and wake the IOPub thread only when it has emptied the
queue (see :mod:`kernelwire.kernel.iopub`). These tests hold what that must keep: every
message arrives, each thread's messages in its order, buffers as they were when published,
and flush and stop covering everything queued before them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import zmq

from kernelwire.kernel.iopub import IOPubChannel
from kernelwire.kernel.limits import KernelLimits
from kernelwire.session import Session

RECEIVE_TIMEOUT_MS = 30_000  # only turns a lost message into a failure


@pytest.fixture
def context() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def subscribe(context: zmq.Context[zmq.Socket[bytes]], channel: IOPubChannel) -> zmq.Socket:
    """A SUB socket on ``channel``, subscribed to everything."""
    sub = context.socket(zmq.SUB)
    sub.rcvhwm = 0
    sub.rcvtimeo = RECEIVE_TIMEOUT_MS
    sub.connect(channel.url)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    return sub


def open_channel(
    context: zmq.Context[zmq.Socket[bytes]], limits: KernelLimits | None = None
) -> tuple[Session, IOPubChannel, zmq.Socket]:
    """A running channel and a subscriber that has had its welcome."""
    session = Session(key=b"k")
    channel = IOPubChannel(context, session, "tcp://127.0.0.1:0", limits)
    channel.start()
    sub = subscribe(context, channel)
    sub.recv_multipart()  # the welcome
    return session, channel, sub


def receive(session: Session, sub: zmq.Socket, count: int) -> list[dict]:
    """The next ``count`` messages on ``sub``, welcomes left out."""
    messages = []
    while len(messages) < count:
        _, frames = session.feed_identities(sub.recv_multipart())
        msg = session.deserialize(frames)
        if msg["header"]["msg_type"] != "iopub_welcome":
            messages.append(msg)
    return messages


def test_threads_publishing_at_once_keep_each_ones_order(context: zmq.Context) -> None:
    session, channel, sub = open_channel(context)
    per_thread, threads = 200, 4  # under the XPUB high-water mark (1000)

    def publish(name: str) -> None:
        for i in range(per_thread):
            channel.publish("stream", {"name": name, "text": str(i)})

    workers = [threading.Thread(target=publish, args=(f"t{n}",)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert channel.flush()
    messages = receive(session, sub, per_thread * threads)
    for n in range(threads):
        texts = [m["content"]["text"] for m in messages if m["content"]["name"] == f"t{n}"]
        assert texts == [str(i) for i in range(per_thread)]
    channel.stop()
    sub.close(linger=0)


def test_a_buffer_changed_after_publishing_arrives_as_published(context: zmq.Context) -> None:
    """Small buffers are copied when published, as a send copies them, not when the IOPub
    thread gets to them: the buffer changes right after each publish."""
    session, channel, sub = open_channel(context)
    buffer = bytearray(4)
    for i in range(500):
        buffer[:] = i.to_bytes(4, "big")
        channel.publish("display_data", {"data": {}, "metadata": {}}, buffers=[buffer])
    buffer[:] = b"gone"
    assert channel.flush()
    messages = receive(session, sub, 500)
    assert [bytes(m["buffers"][0]) for m in messages] == [i.to_bytes(4, "big") for i in range(500)]
    channel.stop()
    sub.close(linger=0)


def test_stop_sends_everything_queued_before_it(context: zmq.Context) -> None:
    session, channel, sub = open_channel(context)
    for i in range(900):
        channel.publish("stream", {"name": "stdout", "text": str(i)})
    channel.stop()
    texts = [m["content"]["text"] for m in receive(session, sub, 900)]
    assert texts == [str(i) for i in range(900)]
    channel.publish("stream", {"name": "stdout", "text": "late"})  # dropped with a warning
    assert not channel.flush()
    sub.close(linger=0)


def test_iopub_sndhwm_keeps_a_flood_for_a_subscriber_not_reading(context: zmq.Context) -> None:
    """Past libzmq's default high-water mark (1000) a subscriber that does not read at once
    would lose messages; ``iopub_sndhwm`` raises it."""
    session, channel, sub = open_channel(context, KernelLimits(iopub_sndhwm=5_000))
    for i in range(3_000):
        channel.publish("stream", {"name": "stdout", "text": str(i)})
    assert channel.flush()
    texts = [m["content"]["text"] for m in receive(session, sub, 3_000)]
    assert texts == [str(i) for i in range(3_000)]
    channel.stop()
    sub.close(linger=0)


def test_a_subscriber_joining_a_flood_to_a_slow_one_is_welcomed_then_served(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """While a thread publishes without pause and a subscriber reads slowly, the flood
    goes through the queue without end: the IOPub thread must still answer new
    subscriptions in between (it did only once the queue was empty)."""
    session = Session(key=b"k")
    channel = IOPubChannel(
        context, session, "tcp://127.0.0.1:0", KernelLimits(iopub_sndhwm=5, iopub_stall_ms=60_000)
    )
    channel.start()
    slow = subscribe(context, channel)
    slow.rcvhwm = 5
    slow.recv_multipart()  # the welcome
    done = threading.Event()

    def read_slowly() -> None:
        while not done.is_set():
            if slow.poll(100):
                slow.recv_multipart()
                time.sleep(0.001)
        while slow.poll(100):  # then fast, so that stop() can send what is left
            slow.recv_multipart()

    def flood() -> None:
        sequence = 0
        while not done.is_set():
            channel.publish("stream", {"name": "stdout", "text": str(sequence)})
            sequence += 1

    threads = [threading.Thread(target=f, daemon=True) for f in (read_slowly, flood)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            sub = subscribe(context, channel)
            welcome = receive_any(session, sub)
            assert welcome["header"]["msg_type"] == "iopub_welcome"
            texts = [receive_any(session, sub)["content"]["text"] for _ in range(20)]
            assert texts == [str(int(texts[0]) + i) for i in range(20)]
            sub.close(linger=0)
    finally:
        done.set()
        threads[1].join(RECEIVE_TIMEOUT_MS / 1000)
        channel.stop()
        threads[0].join(RECEIVE_TIMEOUT_MS / 1000)
        slow.close(linger=0)
    assert not any(thread.is_alive() for thread in threads)


def receive_any(session: Session, sub: zmq.Socket) -> dict:
    """The next message on ``sub``, welcomes included."""
    _, frames = session.feed_identities(sub.recv_multipart())
    return session.deserialize(frames)
