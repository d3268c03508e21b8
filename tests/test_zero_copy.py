"""Buffers: byte-exact delivery of numpy arrays of several shapes and orders, the
zero-copy decision by byte size, memoryviews over zmq Frames on receive, and trackers."""

from __future__ import annotations

import array
import gc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
import zmq.asyncio

from helpers import WAIT_MS, bound_pair, endpoint, recv_within, run
from kernelwire.errors import InvalidSignature, MissingDelimiter, TooFewFrames
from kernelwire.session import DELIM, DONE, Session

KEY = b"zero-copy-key"

pytestmark = pytest.mark.usefixtures("quiet_logs", "pyzmq_paths")


def connected(ctx: zmq.Context[Any], addr: str) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    return bound_pair(ctx, (zmq.PAIR, zmq.PAIR), addr)


def receive(session: Session, sock: zmq.Socket[Any], copy: bool = True) -> dict[str, Any]:
    _, msg = recv_within(session, sock, copy=copy)
    assert msg is not None
    return msg


def address_of(buf: Any) -> int:
    return int(np.frombuffer(buf, dtype=np.uint8).__array_interface__["data"][0])


ARRAYS = [
    np.zeros(0, dtype=np.float64),
    np.arange(7, dtype=np.int8),
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.arange(24, dtype=np.int64).reshape(2, 3, 4),
    np.arange(200_000, dtype=np.float64).reshape(400, 500),  # 1.6 MB: zero-copy
    np.array(2.5),
]


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("copy_on_recv", [True, False])
def test_numpy_arrays_arrive_byte_exact(
    zmq_ctx: zmq.Context[Any], tmp_path: Path, transport: str, order: str, copy_on_recv: bool
) -> None:
    session = Session(key=KEY)
    a, b = connected(zmq_ctx, endpoint(transport, tmp_path))
    arrays = [np.asarray(x, order=order) for x in ARRAYS]  # type: ignore[call-overload]
    session.send(a, "arrays", {"shapes": [list(x.shape) for x in arrays]}, buffers=arrays)
    msg = receive(session, b, copy=copy_on_recv)
    assert len(msg["buffers"]) == len(arrays)
    for sent, got in zip(arrays, msg["buffers"], strict=True):
        assert isinstance(got, memoryview)
        assert bytes(got) == sent.tobytes(order="A")  # the memory, in its own order
        mem_order = "F" if sent.flags.f_contiguous and not sent.flags.c_contiguous else "C"
        flat = np.frombuffer(got, dtype=sent.dtype)
        rebuilt = flat.reshape(sent.shape, order=mem_order)  # type: ignore[call-overload]
        assert np.array_equal(rebuilt, sent)


def test_other_buffer_kinds(zmq_ctx: zmq.Context[Any]) -> None:
    session = Session(key=KEY)
    a, b = connected(zmq_ctx, "inproc://kinds")
    doubles = array.array("d", [1.0, 2.0, 3.0])
    grid = memoryview(bytearray(range(24))).cast("B", (4, 6))
    buffers = [b"bytes", bytearray(b"bytearray"), doubles, grid, memoryview(b"view")]
    session.send(a, "kinds", {}, buffers=buffers)
    got = receive(session, b)["buffers"]
    assert [bytes(x) for x in got] == [
        b"bytes",
        b"bytearray",
        doubles.tobytes(),
        bytes(range(24)),
        b"view",
    ]


def test_non_contiguous_and_non_buffers_are_refused_before_sending(
    zmq_ctx: zmq.Context[Any],
) -> None:
    session = Session(key=KEY)
    a, b = connected(zmq_ctx, "inproc://refused")
    strided = np.arange(20).reshape(4, 5)[:, ::2]
    with pytest.raises(ValueError, match=r"Buffer 1 .* is not contiguous"):
        session.send(a, "bad", {}, buffers=[b"ok", strided])
    with pytest.raises(TypeError, match=r"buffer protocol \(buffer 0 is a str\)"):
        session.send(a, "bad", {}, buffers=["text"])
    with pytest.raises(TypeError, match="buffer protocol"):
        session.send(a, "bad", {}, buffers=[[1, 2, 3]])
    assert session.recv(b) == (None, None)  # nothing half-sent


def test_zero_copy_decision_uses_byte_size_not_len(zmq_ctx: zmq.Context[Any]) -> None:
    """A (2, 40000) float64 array has len() 2 but 640000 bytes: it goes zero-copy. Over
    inproc a zero-copy buffer reaches the receiver as the sender's own memory."""
    session = Session(key=KEY)
    a, b = connected(zmq_ctx, "inproc://by-size")
    wide = np.ones((2, 40_000))
    assert len(memoryview(wide)) == 2  # type: ignore[arg-type]
    sent = session.send(a, "wide", {}, buffers=[wide], track=True)
    assert sent is not None and sent["tracker"] is not DONE
    got = receive(session, b, copy=False)["buffers"][0]
    assert isinstance(got.obj, zmq.Frame)  # a view over the zmq Frame, no copy
    assert address_of(got) == address_of(wide)  # not one byte copied end to end

    small = np.ones(10)
    sent = session.send(a, "small", {}, buffers=[small], track=True)
    assert sent is not None and sent["tracker"] is DONE  # copied: nothing to track
    assert address_of(receive(session, b, copy=False)["buffers"][0]) != address_of(small)


def test_copy_threshold_is_configurable(zmq_ctx: zmq.Context[Any]) -> None:
    session = Session(key=KEY, copy_threshold=1_000)
    a, b = connected(zmq_ctx, "inproc://threshold")
    data = bytearray(200_000)  # above pyzmq's own 64 kB copy threshold too
    sent = session.send(a, "t", {}, buffers=[data], track=True)
    assert sent is not None and sent["tracker"] is not DONE
    assert address_of(receive(session, b, copy=False)["buffers"][0]) == address_of(data)
    session.copy_threshold = 10**9
    sent = session.send(a, "t", {}, buffers=[data], track=True)
    assert sent is not None and sent["tracker"] is DONE
    assert address_of(receive(session, b, copy=False)["buffers"][0]) != address_of(data)


def test_tracker_waits_for_every_buffer_not_only_the_last(zmq_ctx: zmq.Context[Any]) -> None:
    """pyzmq's send_multipart tracks the last frame only; a small last buffer is copied and
    'done' at once while the big one is still shared. Ours waits for all of them."""
    session = Session(key=KEY)
    a, b = connected(zmq_ctx, "inproc://tracker")
    big = np.arange(100_000, dtype=np.float64)
    sent = session.send(a, "two", {}, buffers=[big, b"tiny"], track=True)
    assert sent is not None
    tracker = sent["tracker"]
    msg = receive(session, b, copy=False)  # over inproc the receiver holds big's memory
    assert address_of(msg["buffers"][0]) == address_of(big)
    assert not tracker.done
    del msg
    gc.collect()
    tracker.wait(WAIT_MS / 1000)
    assert tracker.done


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_tracker_completes_once_sent(
    zmq_ctx: zmq.Context[Any], tmp_path: Path, transport: str
) -> None:
    session = Session(key=KEY)
    a, b = connected(zmq_ctx, endpoint(transport, tmp_path))
    big = np.asfortranarray(np.arange(300_000, dtype=np.float32).reshape(600, 500))
    sent = session.send(a, "f", {}, buffers=[big], track=True)
    assert sent is not None and isinstance(sent["tracker"], zmq.MessageTracker)
    assert sent["tracker"] is not DONE
    got = receive(session, b)["buffers"][0]
    assert bytes(got) == big.tobytes(order="F")
    sent["tracker"].wait(WAIT_MS / 1000)


def test_asend_tracks_zero_copy_buffers_on_asyncio_sockets() -> None:
    session = Session(key=KEY)

    async def main() -> None:
        actx = zmq.asyncio.Context()
        a, b = connected(actx, "inproc://async-track")  # type: ignore[arg-type]
        try:
            big = np.arange(100_000, dtype=np.float64)
            sent = await session.asend(a, "big", {}, buffers=[big, b"x"], track=True)
            assert sent is not None and sent["tracker"] is not DONE
            _, msg = await session.arecv(b, copy=False)
            assert msg is not None
            assert address_of(msg["buffers"][0]) == address_of(big)
            assert not sent["tracker"].done
            del msg
            gc.collect()
            sent["tracker"].wait(WAIT_MS / 1000)
        finally:
            actx.destroy(linger=0)

    run(main)


@pytest.mark.parametrize("track", [False, True])
def test_relaying_received_buffers_without_copies(zmq_ctx: zmq.Context[Any], track: bool) -> None:
    """Buffers received with copy=False (views over zmq Frames) can be sent on as they
    are, tracked or not; a view of part of a Frame sends only that part."""
    session = Session(key=KEY)
    a, b = connected(zmq_ctx, "inproc://relay-a")
    c, d = connected(zmq_ctx, "inproc://relay-b")
    data = np.arange(100_000, dtype=np.int32)
    session.send(a, "in", {}, buffers=[data])
    received = receive(session, b, copy=False)["buffers"][0]
    assert isinstance(received.obj, zmq.Frame)
    part = received[4:400_000]  # a slice of the Frame: 399 996 bytes
    sent = session.send(c, "out", {}, buffers=[received, part], track=track)
    assert sent is not None and (sent["tracker"] is not DONE) == track
    whole, sliced = receive(session, d, copy=False)["buffers"]
    assert bytes(whole) == data.tobytes()
    assert bytes(sliced) == data.tobytes()[4:400_000]
    assert address_of(whole) == address_of(data)  # one buffer, shared all the way


def test_a_zmq_frame_as_buffer_can_be_tracked(zmq_ctx: zmq.Context[Any]) -> None:
    """pyzmq refuses track=True for an untracked Frame; the Session wraps it instead."""
    session = Session(key=KEY)
    a, b = connected(zmq_ctx, "inproc://frame-buffer")
    frame = zmq.Frame(bytes(range(256)) * 1000)
    sent = session.send(a, "frame", {}, buffers=[frame], track=True)
    assert sent is not None and sent["tracker"] is not DONE
    assert bytes(receive(session, b)["buffers"][0]) == bytes(range(256)) * 1000
    sent["tracker"].wait(WAIT_MS / 1000)


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_recv_copy_false_matches_copy_true_over_a_router(
    zmq_ctx: zmq.Context[Any], tmp_path: Path, transport: str
) -> None:
    """With copy=False only the buffers stay in zmq Frames (the identities and the signed
    frames are read as bytes at once): the message is the same as with copy=True."""
    session = Session(key=KEY)
    router, dealer = bound_pair(
        zmq_ctx, (zmq.ROUTER, zmq.DEALER), endpoint(transport, tmp_path), routing_id=b"peer"
    )
    big = np.arange(50_000, dtype=np.int64)  # 400 KB: sent zero-copy
    buffers = [big, b"", b"small"]
    received = {}
    for copy in (True, False):
        session.send(dealer, "data", {"n": 1}, buffers=buffers, metadata={"m": copy})
        received[copy] = recv_within(session, router, copy=copy)
    (idents_c, msg_c), (idents_z, msg_z) = received[True], received[False]
    assert idents_c == idents_z == [b"peer"]
    assert all(type(i) is bytes for i in idents_z)
    assert msg_z["content"] == msg_c["content"] == {"n": 1}
    assert msg_z["metadata"] == {"m": False} and msg_c["metadata"] == {"m": True}
    assert msg_z["msg_type"] == msg_c["msg_type"] == "data"
    assert [bytes(b) for b in msg_z["buffers"]] == [big.tobytes(), b"", b"small"]
    assert all(isinstance(b, memoryview) and isinstance(b.obj, zmq.Frame) for b in msg_z["buffers"])


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        ([b"no delimiter", b"anywhere"], MissingDelimiter),
        ([DELIM, b"signature", b"{}"], TooFewFrames),
        ([DELIM], TooFewFrames),
        ([b"x" * 100_000, DELIM, b"sig", b"{}", b"{}", b"{}", b"{}"], InvalidSignature),
    ],
)
def test_malformed_messages_received_with_copy_false(
    zmq_ctx: zmq.Context[Any], frames: list[bytes], error: type[Exception]
) -> None:
    session = Session(key=KEY)
    router, dealer = bound_pair(zmq_ctx, (zmq.ROUTER, zmq.DEALER), "inproc://bad-zero-copy")
    dealer.send_multipart(frames)
    with pytest.raises(error):
        recv_within(session, router, copy=False)
    session.send(dealer, "after", {})  # the socket is still in step: the next one reads
    assert recv_within(session, router, copy=False)[1]["msg_type"] == "after"
