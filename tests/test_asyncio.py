"""asend/arecv/asend_raw on zmq.asyncio sockets: results, the loop staying responsive at
the high-water mark, drop-in sync use, anyio, and interop with jupyter_client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupyter_client.session as jc
import pytest
import zmq
import zmq.asyncio

from helpers import RUN_TIMEOUT, bound_pair, endpoint, run
from kernelwire.session import DONE, Session

KEY = b"test-key-for-asyncio"

pytestmark = pytest.mark.usefixtures("quiet_logs", "pyzmq_paths")


@pytest.fixture
def actx() -> Iterator[zmq.asyncio.Context]:
    ctx = zmq.asyncio.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
def test_asend_arecv_round_trip_with_identities(
    actx: zmq.asyncio.Context, tmp_path: Path, transport: str
) -> None:
    session = Session(key=KEY)
    router, dealer = bound_pair(
        actx, (zmq.ROUTER, zmq.DEALER), endpoint(transport, tmp_path), b"client-1"
    )

    async def main() -> None:
        sent = await session.asend(dealer, "execute_request", {"code": "1+1"})
        assert sent is not None
        assert sent["tracker"] is DONE
        idents, msg = await session.arecv(router)
        assert idents == [b"client-1"]
        assert msg is not None
        assert msg["msg_id"] == sent["msg_id"]
        assert msg["content"] == {"code": "1+1"}
        assert msg["buffers"] == []
        reply = await session.asend(
            router, "execute_reply", {"status": "ok"}, parent=msg, ident=idents
        )
        assert reply is not None
        idents2, msg2 = await session.arecv(dealer)
        assert idents2 == []
        assert msg2 is not None
        assert msg2["parent_header"]["msg_id"] == sent["msg_id"]
        assert msg2["content"] == {"status": "ok"}

    run(main)


def test_arecv_noblock_returns_none_and_default_mode_awaits(actx: zmq.asyncio.Context) -> None:
    session = Session(key=KEY)
    a, b = bound_pair(actx, (zmq.PAIR, zmq.PAIR), "inproc://arecv-modes")

    async def main() -> None:
        built = await session.asend(None, "built_only", {})  # no stream: nothing is sent
        assert built is not None and built["tracker"] is DONE
        assert await session.arecv(b, mode=zmq.NOBLOCK) == (None, None)
        waiting = asyncio.ensure_future(session.arecv(b))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the default mode waits for a message
        sent = await session.asend(a, "ping", {"n": 1})
        idents, msg = await waiting
        assert idents == []
        assert msg is not None and sent is not None
        assert msg["msg_id"] == sent["msg_id"]

    run(main)


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
def test_asend_waits_at_high_water_mark_without_blocking_the_loop(
    actx: zmq.asyncio.Context, tmp_path: Path, transport: str
) -> None:
    """A reader that has not started reading fills the queue: asend must wait while a
    concurrent task keeps ticking; then a slow reader gets every message, in order."""
    session = Session(key=KEY)
    pull, push = bound_pair(
        actx, (zmq.PULL, zmq.PUSH), endpoint(transport, tmp_path), hwm=2, kernel_buffer=65536
    )
    payload = bytes(range(256)) * 512  # 128 KiB: few fit in the kernel buffers
    count = 150

    async def main() -> None:
        ticks = 0
        progress = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        async def sender() -> None:
            nonlocal progress
            for i in range(count):
                await session.asend(push, "data", {"i": i}, buffers=[payload])
                progress = i + 1

        ticking = asyncio.ensure_future(ticker())
        sending = asyncio.ensure_future(sender())
        # wait until the sender stops making progress: the queue is full
        last, unchanged = -1, 0
        while unchanged < 20:
            await asyncio.sleep(0.005)
            unchanged = unchanged + 1 if progress == last else 0
            last = progress
        assert progress < count, "the queue never filled up"
        assert not sending.done()
        ticks_while_stalled = ticks
        await asyncio.sleep(0.02)
        assert ticks > ticks_while_stalled, "the loop did not run while asend waited"
        assert progress == last  # still waiting: nothing is read yet

        received = []
        for _ in range(count):
            _, msg = await session.arecv(pull)
            assert msg is not None
            assert bytes(msg["buffers"][0]) == payload
            received.append(msg["content"]["i"])
            await asyncio.sleep(0)  # a slow reader
        await sending
        stop.set()
        await ticking
        assert received == list(range(count))

    run(main)


def test_asend_on_blocking_socket_waits_asynchronously(zmq_ctx: zmq.Context[Any]) -> None:
    """A plain zmq.Socket given to asend: at the HWM the coroutine waits (the loop runs),
    then sends when the reader makes room."""
    session = Session(key=KEY)
    pull, push = bound_pair(zmq_ctx, (zmq.PULL, zmq.PUSH), "inproc://blocking-hwm", hwm=1)

    async def main() -> None:
        sent = 0

        async def sender() -> None:
            nonlocal sent
            for i in range(10):
                await session.asend(push, "n", {"i": i})
                sent += 1

        task = asyncio.ensure_future(sender())
        for _ in range(100):
            await asyncio.sleep(0.005)
            if sent and not task.done():
                break
        assert not task.done()
        got: list[int] = []
        while len(got) < 10:
            _, msg = await session.arecv(pull)
            assert msg is not None
            got.append(msg["content"]["i"])
        await task
        assert got == list(range(10))

    run(main)


def test_arecv_on_blocking_socket_lets_the_loop_run(zmq_ctx: zmq.Context[Any]) -> None:
    session = Session(key=KEY)
    a, b = bound_pair(zmq_ctx, (zmq.PAIR, zmq.PAIR), "inproc://blocking-recv")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, lambda: session.send(a, "late", {"x": 1}))
        _, msg = await session.arecv(b)
        assert msg is not None and msg["content"] == {"x": 1}
        assert await session.arecv(b, mode=zmq.NOBLOCK) == (None, None)

    run(main)


def test_sync_send_and_recv_accept_asyncio_sockets(actx: zmq.asyncio.Context) -> None:
    """Drop-in code calls send/recv on asyncio sockets, as jupyter_client allows."""
    session = Session(key=KEY)
    a, b = bound_pair(actx, (zmq.PAIR, zmq.PAIR), "inproc://sync-on-async")
    sent = session.send(a, "hello", {"x": 2}, buffers=[b"abc"])
    assert sent is not None
    _, msg = session.recv(b, mode=0)
    assert msg is not None
    assert msg["msg_id"] == sent["msg_id"]
    assert [bytes(x) for x in msg["buffers"]] == [b"abc"]
    assert session.recv(b) == (None, None)

    session.send_raw(a, session.serialize(session.msg("raw", {"y": 3}))[2:])
    _, raw = session.recv(b, mode=0)
    assert raw is not None and raw["content"] == {"y": 3}


def test_asend_raw_relays_a_peeked_message(actx: zmq.asyncio.Context) -> None:
    """A relay peeks (content=False) and forwards the packed parts with asend_raw."""
    session = Session(key=KEY)
    src_a, src_b = bound_pair(actx, (zmq.PAIR, zmq.PAIR), "inproc://relay-in")
    dst_a, dst_b = bound_pair(actx, (zmq.PAIR, zmq.PAIR), "inproc://relay-out")

    async def main() -> None:
        original = await session.asend(src_a, "data", {"v": 1}, buffers=[b"payload"])
        frames = await src_b.recv_multipart()
        _, parts = session.feed_identities(frames)
        peeked = session.deserialize(parts, content=False)
        assert peeked["content"] == parts[4]  # still packed
        await session.asend_raw(dst_a, list(parts[1:]), ident=[b"routed"])
        got = await dst_b.recv_multipart()
        assert got[0] == b"routed"
        _, msg = session.feed_identities(got)
        relayed = session.deserialize(msg)
        assert original is not None
        assert relayed["msg_id"] == original["msg_id"]
        assert [bytes(b) for b in relayed["buffers"]] == [b"payload"]

    run(main)


def test_anyio_on_asyncio_backend(actx: zmq.asyncio.Context) -> None:
    import anyio

    session = Session(key=KEY)
    a, b = bound_pair(actx, (zmq.PAIR, zmq.PAIR), "inproc://anyio")
    results: list[Any] = []

    async def main() -> None:
        async def reader() -> None:
            _, msg = await session.arecv(b)
            results.append(msg)

        with anyio.fail_after(RUN_TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                await anyio.sleep(0.01)
                results.append(await session.asend(a, "anyio", {"ok": True}))

    anyio.run(main, backend="asyncio")
    sent, received = results
    assert received["msg_id"] == sent["msg_id"]
    assert received["content"] == {"ok": True}


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_interop_with_jupyter_client_both_ways(
    actx: zmq.asyncio.Context, tmp_path: Path, transport: str
) -> None:
    """kernelwire asend -> jupyter_client recv, jupyter_client send -> kernelwire arecv,
    over the same pair of sockets."""
    ours = Session(key=KEY)
    theirs = jc.Session(key=KEY, packer="json")
    router, dealer = bound_pair(
        actx, (zmq.ROUTER, zmq.DEALER), endpoint(transport, tmp_path), b"kw-client"
    )

    async def main() -> None:
        request = await ours.asend(dealer, "kernel_info_request", {}, buffers=[b"\x00\x01"])
        assert request is not None
        await router.poll(int(RUN_TIMEOUT * 1000))
        idents, msg = theirs.recv(router, mode=zmq.NOBLOCK)  # jupyter_client, sync shadow
        assert idents == [b"kw-client"]
        assert msg is not None
        assert msg["header"]["msg_id"] == request["msg_id"]
        assert [bytes(b) for b in msg["buffers"]] == [b"\x00\x01"]
        theirs.send(router, "kernel_info_reply", {"status": "ok"}, parent=msg, ident=idents)
        _, reply = await ours.arecv(dealer)
        assert reply is not None
        assert reply["parent_header"]["msg_id"] == request["msg_id"]
        assert reply["content"] == {"status": "ok"}
        assert reply["header"]["date"] == reply["header"]["date"].astimezone()

    run(main)


def test_cancelled_asend_sends_nothing_and_the_socket_keeps_working(
    actx: zmq.asyncio.Context,
) -> None:
    session = Session(key=KEY)
    pull, push = bound_pair(actx, (zmq.PULL, zmq.PUSH), "inproc://cancel", hwm=1)

    async def main() -> None:
        sent: list[int] = []
        while True:  # fill the queue until an asend has to wait
            task = asyncio.ensure_future(session.asend(push, "n", {"i": len(sent)}))
            await asyncio.sleep(0.01)
            if not task.done():
                break
            sent.append(len(sent))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = asyncio.ensure_future(session.asend(push, "n", {"i": "after"}))
        got = []
        for _ in range(len(sent) + 1):
            _, msg = await session.arecv(pull)
            assert msg is not None
            got.append(msg["content"]["i"])
        await after
        assert got == [*sent, "after"]  # the cancelled message never went out
        assert await session.arecv(pull, mode=zmq.NOBLOCK) == (None, None)

    run(main)


def test_socket_subclasses_keep_their_own_send_and_recv(zmq_ctx: zmq.Context[Any]) -> None:
    """Only exact zmq.Socket takes the fast path; a subclass (zmq.green's, a user's) is
    called through its own send_multipart/recv_multipart."""
    calls: list[str] = []

    class Counting(zmq.Socket):  # type: ignore[type-arg]
        def send_multipart(self, *args: Any, **kwargs: Any) -> Any:
            calls.append("send")
            return super().send_multipart(*args, **kwargs)

        def recv_multipart(self, *args: Any, **kwargs: Any) -> Any:
            calls.append("recv")
            return super().recv_multipart(*args, **kwargs)

    session = Session(key=KEY)
    a = Counting(zmq_ctx, zmq.PAIR)
    b = Counting(zmq_ctx, zmq.PAIR)
    for s in (a, b):
        s.linger = 0
    a.bind("inproc://subclass")
    b.connect("inproc://subclass")
    sent = session.send(a, "sub", {"k": 1})
    assert b.poll(10_000)
    _, msg = session.recv(b)
    assert msg is not None and sent is not None and msg["msg_id"] == sent["msg_id"]
    assert calls == ["send", "recv"]


def test_closed_asyncio_socket_is_refused(actx: zmq.asyncio.Context) -> None:
    session = Session(key=KEY)
    a, _ = bound_pair(actx, (zmq.PAIR, zmq.PAIR), "inproc://closed")
    session.send(a, "before", {})  # makes and caches the sync shadow
    a.close()
    with pytest.raises(zmq.ZMQError):
        session.send(a, "after", {})


def test_a_bad_identity_after_the_first_does_not_corrupt_the_next_message(
    zmq_ctx: zmq.Context[Any],
) -> None:
    """Frames go out one by one, but all are checked first: when a later identity is not
    bytes, the error is raised and nothing is sent; the next message arrives intact."""
    session = Session(key=KEY)
    a, b = bound_pair(zmq_ctx, (zmq.PAIR, zmq.PAIR), "inproc://bad-ident")
    with pytest.raises(TypeError):
        session.send(a, "bad", {}, ident=[b"first", "not-bytes"])  # type: ignore[list-item]
    good = session.send(a, "good", {"ok": 1})
    assert b.poll(10_000)
    _, msg = session.recv(b, mode=0)  # the first message to arrive
    assert msg is not None and good is not None
    assert msg["msg_id"] == good["msg_id"] and msg["content"] == {"ok": 1}


def test_concurrent_asends_keep_their_order_under_pressure(actx: zmq.asyncio.Context) -> None:
    """Sends started together wait in FIFO order at the HWM: none overtakes another."""
    session = Session(key=KEY)
    pull, push = bound_pair(actx, (zmq.PULL, zmq.PUSH), "inproc://fifo", hwm=1)
    count = 60

    async def main() -> None:
        sends = asyncio.gather(*(session.asend(push, "n", {"i": i}) for i in range(count)))
        got = []
        for _ in range(count):
            _, msg = await session.arecv(pull)
            assert msg is not None
            got.append(msg["content"]["i"])
            await asyncio.sleep(0)
        await sends
        assert got == list(range(count))

    run(main)


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_one_socket_shared_by_a_waiting_reader_and_a_writer(
    actx: zmq.asyncio.Context, tmp_path: Path, transport: str
) -> None:
    """A task waits in arecv on a DEALER while another task asends on it (the edge-
    triggered case): every echo from the ROUTER must wake the reader."""
    session = Session(key=KEY)
    router, dealer = bound_pair(actx, (zmq.ROUTER, zmq.DEALER), endpoint(transport, tmp_path))
    count = 300

    async def main() -> None:
        async def echo() -> None:
            for _ in range(count):
                idents, msg = await session.arecv(router)
                assert msg is not None
                await session.asend(router, "echo", msg["content"], parent=msg, ident=idents)

        async def reader() -> list[int]:
            seen = []
            for _ in range(count):
                _, msg = await session.arecv(dealer)
                assert msg is not None
                seen.append(msg["content"]["i"])
            return seen

        echoing = asyncio.ensure_future(echo())
        reading = asyncio.ensure_future(reader())
        for i in range(count):
            await session.asend(dealer, "req", {"i": i})
            if i % 7 == 0:
                await asyncio.sleep(0)
        assert await reading == list(range(count))
        await echoing

    run(main)
