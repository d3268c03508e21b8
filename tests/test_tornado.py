"""send/send_raw/recv with ZMQStreams (tornado's IOLoop over asyncio), as jupyter_client
supports them, with kernelwire and jupyter_client on either end."""

from __future__ import annotations

import asyncio
from typing import Any

import jupyter_client.session as jc
import numpy as np
import pytest
import zmq
from zmq.eventloop.zmqstream import ZMQStream

from helpers import bound_pair, run
from kernelwire.session import DONE, Session

KEY = b"tornado-test-key"

pytestmark = pytest.mark.usefixtures("quiet_logs", "pyzmq_paths")


def router_dealer(ctx: zmq.Context[Any], name: str) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    """A ROUTER bound to inproc://name and a DEALER with routing id b"dealer"."""
    return bound_pair(ctx, (zmq.ROUTER, zmq.DEALER), f"inproc://{name}", routing_id=b"dealer")


class Inbox:
    """Collects what a ZMQStream's on_recv delivers; ``get`` awaits the next one."""

    def __init__(self, stream: ZMQStream, copy: bool = True) -> None:
        self.queue: asyncio.Queue[list[Any]] = asyncio.Queue()
        stream.on_recv(self.queue.put_nowait, copy=copy)

    async def get(self) -> list[Any]:
        return await self.queue.get()


def test_send_on_zmqstream_is_queued_and_delivered(zmq_ctx: zmq.Context[Any]) -> None:
    session = Session(key=KEY)
    router, dealer = router_dealer(zmq_ctx, "stream-send")

    async def main() -> None:
        client = ZMQStream(dealer)
        server = ZMQStream(router)
        inbox = Inbox(server)
        sent = session.send(client, "execute_request", {"code": "x"}, buffers=[b"buf"])
        assert sent is not None and sent["tracker"] is DONE
        frames = await inbox.get()
        idents, parts = session.feed_identities(frames)
        msg = session.deserialize(parts)
        assert idents == [b"dealer"]
        assert msg["msg_id"] == sent["msg_id"]
        assert [bytes(b) for b in msg["buffers"]] == [b"buf"]
        # reply through the server stream with send_raw (a relay's path)
        reply = session.msg("execute_reply", {"status": "ok"}, parent=msg)
        packed = session.serialize(reply)[2:]
        client_inbox = Inbox(client)
        session.send_raw(server, packed, ident=idents)
        _, rparts = session.feed_identities(await client_inbox.get())
        got = session.deserialize(rparts)
        assert got["parent_header"]["msg_id"] == sent["msg_id"]
        server.close()
        client.close()

    run(main)


def test_recv_reads_the_socket_of_a_zmqstream(zmq_ctx: zmq.Context[Any]) -> None:
    session = Session(key=KEY)
    router, dealer = router_dealer(zmq_ctx, "stream-recv")

    async def main() -> None:
        server = ZMQStream(router)  # no on_recv: messages wait on the socket
        assert session.recv(server) == (None, None)
        sent = session.send(dealer, "ping", {"n": 1})
        assert sent is not None
        for _ in range(2000):
            idents, msg = session.recv(server)
            if msg is not None:
                break
            await asyncio.sleep(0.001)
        assert msg is not None and idents == [b"dealer"]
        assert msg["msg_id"] == sent["msg_id"]
        # arecv cannot wait on a stream (its messages belong to on_recv), NOBLOCK works
        with pytest.raises(TypeError, match="on_recv"):
            await session.arecv(server)
        assert await session.arecv(server, mode=zmq.NOBLOCK) == (None, None)
        server.close()

    run(main)


def test_tracked_zero_copy_send_through_a_stream(zmq_ctx: zmq.Context[Any]) -> None:
    """A ZMQStream queues the frames: the tracker is done only once they have gone out."""
    session = Session(key=KEY)
    router, dealer = router_dealer(zmq_ctx, "stream-track")
    data = np.arange(50_000, dtype=np.float64)  # 400 kB: zero-copy

    async def main() -> None:
        client = ZMQStream(dealer)
        server = ZMQStream(router)
        inbox = Inbox(server, copy=False)
        sent = session.send(client, "data", {}, buffers=[data], track=True)
        assert sent is not None
        tracker = sent["tracker"]
        assert isinstance(tracker, zmq.MessageTracker) and tracker is not DONE
        assert not tracker.done  # still queued in the stream
        frames = await inbox.get()
        _, parts = session.feed_identities(frames)
        msg = session.deserialize(parts, copy=False)
        assert np.array_equal(np.frombuffer(msg["buffers"][0], dtype=np.float64), data)
        # over inproc the receiver's frames share the sender's memory: release them
        del frames, parts, msg
        for _ in range(2000):
            if tracker.done:
                break
            await asyncio.sleep(0.001)
        assert tracker.done
        client.close()
        server.close()

    run(main)


def test_jupyter_client_and_kernelwire_over_streams(zmq_ctx: zmq.Context[Any]) -> None:
    ours = Session(key=KEY)
    theirs = jc.Session(key=KEY)
    router, dealer = router_dealer(zmq_ctx, "stream-interop")

    async def main() -> None:
        client = ZMQStream(dealer)
        server = ZMQStream(router)
        server_inbox = Inbox(server)
        client_inbox = Inbox(client)
        request = theirs.send(client, "kernel_info_request", {})
        _, parts = ours.feed_identities(await server_inbox.get())
        msg = ours.deserialize(parts)
        assert request is not None and msg["msg_id"] == request["msg_id"]
        ours.send(server, "kernel_info_reply", {"status": "ok"}, parent=msg, ident=[b"dealer"])
        _, rparts = theirs.feed_identities(await client_inbox.get())
        reply = theirs.deserialize(rparts)
        assert reply["parent_header"]["msg_id"] == request["msg_id"]
        assert reply["content"] == {"status": "ok"}
        client.close()
        server.close()

    run(main)
