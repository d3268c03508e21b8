"""kernelwire and jupyter_client 8.10 read each other's messages, both directions.

Frames made by one Session are read by the other (after its feed_identities) for every
packer both have and every signature scheme in use, with identities, parent headers,
metadata, unicode, dates and buffers; then the same over real ZeroMQ sockets.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import zmq
from jupyter_client import session as jc_session

from helpers import WAIT_MS, bound_pair, endpoint, recv_within
from kernelwire import session as kw_session
from kernelwire.errors import InvalidSignature

KEY = b"interop-5e1d2c7a-key"
PACKERS = ["json", "orjson", "msgpack", "pickle"]
SCHEMES = ["hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512", "hmac-sha3_256", "hmac-blake2b"]
IDENTITIES = [b"router-identity", b"\xff\x00binary-id"]
BUFFERS = [b"\x00\x01\x02binary buffer", b"second \xfe buffer"]
DEALER_IDENTITY = b"dealer-\xe9"

CONTENT = {
    "code": "print('h\u00e9llo \u2603 \U0001d11e')",
    "silent": False,
    "count": 3,
    "ratio": 0.25,
    "nested": {"list": [1, 2.5, None, True, "\u00fcml\u00e4ut"], "empty": {}},
    "when": "2026-01-02T03:04:05.123456Z",
}
METADATA = {"started": "2026-01-02T03:04:05Z", "deps": ["a", "\u00df"], "engine": "e-1"}

Pair = tuple[kw_session.Session, jc_session.Session]


@pytest.fixture(scope="module", params=list(itertools.product(PACKERS, SCHEMES)), ids=str)
def pair(request: pytest.FixtureRequest) -> Pair:
    """A kernelwire and a jupyter_client Session with the same key, scheme and packer,
    built once per parameter set."""
    packer, scheme = request.param
    options = {"key": KEY, "signature_scheme": scheme, "packer": packer}
    return kw_session.Session(**options), jc_session.Session(**options)


def _date_of(value: Any) -> Any:
    """A content or metadata date string as a datetime (packers write it a little
    differently: ``Z`` or ``+00:00``), anything else unchanged."""
    return kw_session.extract_dates(value)


def _cross_with_everything(sender: Any, receiver: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Serialize an execute_reply (to a request of the receiver) with CONTENT, METADATA,
    IDENTITIES and BUFFERS, read it on the other side and check every part arrived, the
    header date as a datetime. Returns (the message read, the parent header)."""
    parent = receiver.msg("execute_request", {"code": "1"})["header"]
    sent = sender.msg("execute_reply", CONTENT, parent=parent, metadata=METADATA)
    frames = sender.serialize(sent, ident=IDENTITIES) + BUFFERS

    identities, rest = receiver.feed_identities(frames)
    got = receiver.deserialize(rest)

    assert identities == IDENTITIES
    assert got["header"] == sent["header"]
    assert isinstance(got["header"]["date"], datetime)
    assert got["header"]["date"] == sent["header"]["date"]
    assert (got["msg_id"], got["msg_type"]) == (sent["msg_id"], "execute_reply")
    assert got["parent_header"] == parent
    assert _date_of(got["metadata"]) == _date_of(METADATA)
    assert _date_of(got["content"]) == _date_of(CONTENT)
    assert [bytes(b) for b in got["buffers"]] == BUFFERS
    return got, parent


def test_signatures_are_identical(pair: Pair) -> None:
    kw, jc = pair
    parts = [kw.pack({"msg_id": "x", "msg_type": "t"}), kw.pack({}), kw.pack({}), b'{"a":1}']
    assert kw.sign(parts) == jc.sign(parts) != b""


def test_kernelwire_to_jupyter_client(pair: Pair) -> None:
    kw, jc = pair
    got, parent = _cross_with_everything(kw, jc)
    assert got["header"]["version"] == "5.5"
    assert got["parent_header"]["date"] == parent["date"]


def test_jupyter_client_to_kernelwire(pair: Pair) -> None:
    kw, jc = pair
    _cross_with_everything(jc, kw)


def test_unknown_header_fields_cross_both_ways(pair: Pair) -> None:
    kw, jc = pair
    header = kw.msg_header("execute_request")
    header["subshell_id"] = "sub-1"
    sent = kw.msg("execute_request", {}, header=header)
    got = jc.deserialize(jc.feed_identities(kw.serialize(sent))[1])
    assert got["header"]["subshell_id"] == "sub-1"
    back = kw.deserialize(kw.feed_identities(jc.serialize(got))[1])
    assert back["header"] == sent["header"]


def test_empty_content_and_parent_cross(pair: Pair) -> None:
    kw, jc = pair
    got = jc.deserialize(jc.feed_identities(kw.serialize(kw.msg("status")))[1])
    assert (got["content"], got["parent_header"], got["metadata"]) == ({}, {}, {})
    back = kw.deserialize(kw.feed_identities(jc.serialize(jc.msg("status")))[1])
    assert (back["content"], back["parent_header"], back["metadata"]) == ({}, {}, {})


def test_unsigned_sessions_interoperate(quiet_logs: None) -> None:
    kw, jc = kw_session.Session(key=b""), jc_session.Session(key=b"")
    frames = kw.serialize(kw.msg("status", {"execution_state": "idle"}))
    assert frames[1] == b""
    assert jc.deserialize(jc.feed_identities(frames)[1])["content"] == {"execution_state": "idle"}
    back = kw.deserialize(kw.feed_identities(jc.serialize(jc.msg("status", {"a": 1})))[1])
    assert back["content"] == {"a": 1}


def test_signature_of_the_other_side_is_checked() -> None:
    """A message jupyter_client signed with another key is refused by kernelwire, and
    the reverse: the two really verify, not just accept."""
    kw = kw_session.Session(key=KEY)
    jc = jc_session.Session(key=b"another-key")
    with pytest.raises(InvalidSignature):
        kw.deserialize(kw.feed_identities(jc.serialize(jc.msg("status")))[1])
    with pytest.raises(ValueError, match="Invalid Signature"):
        jc.deserialize(jc.feed_identities(kw.serialize(kw.msg("status")))[1])


# ------------------------------------------------------------------ over real sockets

SIDES = ["kernelwire", "jupyter_client"]


def _sessions(client_side: str) -> tuple[Any, Any]:
    """(client Session, server Session): one of each implementation."""
    kw = kw_session.Session(key=KEY)
    jc = jc_session.Session(key=KEY)
    return (kw, jc) if client_side == "kernelwire" else (jc, kw)


def _bound_pair(
    ctx: zmq.Context[Any], kinds: tuple[int, int], transport: str, tmp_path: Path
) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    routing_id = DEALER_IDENTITY if kinds[1] == zmq.DEALER else b""
    return bound_pair(ctx, kinds, endpoint(transport, tmp_path), routing_id)


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
@pytest.mark.parametrize("client_side", SIDES)
def test_dealer_router_round_trip(
    transport: str, client_side: str, zmq_ctx: zmq.Context[Any], tmp_path: Path
) -> None:
    client, server = _sessions(client_side)
    router, dealer = _bound_pair(zmq_ctx, (zmq.ROUTER, zmq.DEALER), transport, tmp_path)

    request = client.send(dealer, "execute_request", CONTENT, buffers=[BUFFERS[0]])
    identities, received = recv_within(server, router)
    assert identities == [DEALER_IDENTITY]
    assert received["header"] == request["header"]
    assert _date_of(received["content"]) == _date_of(CONTENT)
    assert [bytes(b) for b in received["buffers"]] == [BUFFERS[0]]

    reply = server.send(
        router, "execute_reply", {"status": "ok"}, parent=received, ident=identities
    )
    _, answer = recv_within(client, dealer)
    assert answer["header"] == reply["header"]
    assert answer["parent_header"] == request["header"]
    assert answer["parent_header"]["date"] == request["header"]["date"]
    assert answer["content"] == {"status": "ok"}


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
@pytest.mark.parametrize("publisher_side", SIDES)
def test_pub_sub(
    transport: str, publisher_side: str, zmq_ctx: zmq.Context[Any], tmp_path: Path
) -> None:
    publisher, subscriber = _sessions(publisher_side)
    pub, sub = _bound_pair(zmq_ctx, (zmq.PUB, zmq.SUB), transport, tmp_path)
    sub.setsockopt(zmq.SUBSCRIBE, b"kernel.")
    topic = b"kernel.1234.status"
    # PUB drops what it sends before the subscription arrives: publish until one lands.
    for _ in range(WAIT_MS // 100):
        sent = publisher.send(pub, "status", {"execution_state": "busy"}, ident=topic)
        if sub.poll(100, zmq.POLLIN):
            break
    identities, received = recv_within(subscriber, sub)
    # earlier publications may have landed too; the latest one is the last queued
    while sub.poll(0, zmq.POLLIN):
        identities, received = subscriber.recv(sub, mode=zmq.NOBLOCK)
    assert identities == [topic]
    assert received["header"] == sent["header"]
    assert received["content"] == {"execution_state": "busy"}
