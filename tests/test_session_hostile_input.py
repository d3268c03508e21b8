"""Hostile but validly signed input, and half-sent messages.

Receiving: whatever frames arrive (garbage, or parts re-signed with the key so that they pass
verification), ``feed_identities`` + ``deserialize`` end in a message dict or a WireError,
never another exception; the client's router files odd replies under no request.

Sending: a frame that cannot go out (a str identity, a non-contiguous buffer) raises before
the first frame leaves, so the peer receives nothing rather than a junk partial message.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import zmq
import zmq.asyncio

from helpers import WAIT_MS, run
from kernelwire.client.requests import Request
from kernelwire.client.results import Comm
from kernelwire.client.router import MessageRouter
from kernelwire.errors import WireError
from kernelwire.jsonutil import json_default, parse_date_utc
from kernelwire.session import DELIM, Session

KEY = b"hostile-input-key-7c1d"
MESSAGE_KEYS = {"header", "msg_id", "msg_type", "parent_header", "metadata", "content", "buffers"}
#: The suite's count; ``KERNELWIRE_FUZZ_COUNT=100000`` runs the full count by hand.
FUZZ_COUNT = int(os.environ.get("KERNELWIRE_FUZZ_COUNT", "20000"))

#: Dates at and beyond the edges of what ``datetime`` holds, and near misses of the pattern.
ODD_DATES = [
    "9999-12-31T24:00:00",
    "9999-12-31T24:00:00Z",
    "9999-12-31T24:00:00+01:00",
    "9999-12-31T24:00:00.000000Z",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:00:00+23:59",
    "0000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:01Z",
    "2026-01-01T25:00:00Z",
    "2026-01-02T03:04:05.1234567Z",
    "2026-01-02T03:04:05+24:00",
    "2026-01-02T03:04:05+23:60",
    "2026-01-02T03:04:05.123456Z\n",
    "\u0662\u0660\u0662\u0666-01-02T03:04:05Z",
    "2026-01-02T03:04:05.123456Z",
]
HEADER_FIELDS = ["msg_id", "msg_type", "username", "session", "date", "version", "subshell_id"]


def odd_values(rng: random.Random) -> Any:
    """A value of a type no header field should have, or an odd one of the right type."""
    choice = rng.randrange(12)
    if choice == 0:
        return rng.choice(ODD_DATES)
    if choice == 1:
        return [rng.choice(ODD_DATES), {"date": rng.choice(ODD_DATES)}]
    if choice == 2:
        return rng.choice([10**30, -(10**30), 2**63, -(2**63) - 1, 10**400])
    if choice == 3:
        return rng.choice([None, True, False, 0, -1, 1.5, 1e308, float("nan"), float("inf")])
    if choice == 4:
        return {"msg_id": ["x"], "date": rng.choice(ODD_DATES)}
    if choice == 5:
        return "\ud800" + rng.choice(["", "x"])  # a lone surrogate: JSON can carry it
    if choice == 6:
        return ["5.3"]
    if choice == 7:
        return {}
    if choice == 8:
        return "x" * rng.randrange(1000)
    if choice == 9:
        return rng.choice(["5.", "5", "4.1", "3", "6.0", " 5.1", ""])
    if choice == 10:
        return nested(rng.randrange(1, 60))
    return rng.choice(["__class__", "execute_reply", "comm_msg", "status", "kernel_info_reply"])


def nested(depth: int) -> Any:
    value: Any = "2026-01-02T03:04:05Z"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def json_bytes(obj: Any) -> bytes:
    """JSON that keeps huge ints, NaN and lone surrogates (json escapes them)."""
    return json.dumps(obj).encode()


def sign(parts: list[bytes]) -> bytes:
    mac = hmac.new(KEY, digestmod="sha256")
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode()


def base_message(rng: random.Random) -> dict[str, Any]:
    session = Session(key=KEY)
    msg_type = rng.choice(["execute_request", "execute_reply", "comm_msg", "stream", "status"])
    content = {"code": "1", "comm_id": "c", "data": {"text/plain": "x"}, "name": "stdout"}
    parent = session.msg_header("execute_request") if rng.random() < 0.7 else {}
    return session.msg(msg_type, content, parent={"header": parent} if parent else None)


def json_mutated(rng: random.Random, msg: dict[str, Any]) -> list[bytes]:
    """Header, parent, metadata and content with wrong types or odd values in their fields,
    packed as JSON (or as bytes that are not quite JSON)."""
    header = json.loads(json.dumps(msg["header"], default=json_default))
    parent = json.loads(json.dumps(msg["parent_header"], default=json_default))
    metadata: Any = {}
    content: Any = dict(msg["content"])
    for _ in range(rng.randrange(1, 4)):
        target = rng.choice([header, header, parent, content])
        field = rng.choice([*HEADER_FIELDS, "comm_id", "data", "execution_state"])
        if rng.random() < 0.15:
            target.pop(field, None)
        else:
            target[field] = odd_values(rng)
    if rng.random() < 0.05:
        metadata = odd_values(rng)
    if rng.random() < 0.05:
        content = odd_values(rng)
    parts = [json_bytes(header), json_bytes(parent), json_bytes(metadata), json_bytes(content)]
    index = rng.randrange(4)
    tweak = rng.randrange(12)
    if tweak == 0:  # invalid UTF-8 inside a string
        parts[index] = parts[index].replace(b'"', b'"\xff\xfe', 1)
    elif tweak == 1:  # nested far beyond any recursion limit
        depth = rng.choice([100, 1000, 20000])
        parts[index] = b"[" * depth + b"]" * depth
    elif tweak == 2:  # truncated JSON
        parts[index] = parts[index][: rng.randrange(len(parts[index]) + 1)]
    return parts


def byte_mutated(rng: random.Random, frames: list[bytes]) -> list[bytes]:
    """Byte flips, truncations, frames inserted, deleted, duplicated, emptied."""
    frames = list(frames)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(6)
        index = rng.randrange(len(frames)) if frames else 0
        if op == 0 and frames and frames[index]:
            data = bytearray(frames[index])
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            frames[index] = bytes(data)
        elif op == 1 and frames:
            frames[index] = frames[index][: rng.randrange(len(frames[index]) + 1)]
        elif op == 2:
            frames.insert(index, rng.choice([DELIM, b"", b"{}", b"\xff", os.urandom(8)]))
        elif op == 3 and frames:
            del frames[index]
        elif op == 4 and frames:
            frames.insert(index, frames[index])
        else:
            del frames[index:]
    return frames


def mutated_frames(rng: random.Random, session: Session) -> list[bytes]:
    msg = base_message(rng)
    idents = [os.urandom(rng.randrange(1, 6)) for _ in range(rng.randrange(3))]
    buffers = [os.urandom(rng.randrange(4)) for _ in range(rng.randrange(3))]
    if rng.random() < 0.6:
        parts = json_mutated(rng, msg)
        signature = sign(parts) if session.key else rng.choice([b"", b"junk"])
        frames = [*idents, DELIM, signature, *parts, *buffers]
        if rng.random() < 0.2:
            frames = byte_mutated(rng, frames)
        return frames
    frames = [*session.serialize(msg, ident=idents), *buffers]
    return byte_mutated(rng, frames)


SESSION_CONFIGS = [
    {"key": KEY, "parse_dates": True},
    {"key": KEY, "parse_dates": False},
    {"key": b"", "parse_dates": True},
    {"key": b"", "parse_dates": False},
]


@pytest.mark.usefixtures("quiet_logs")
def test_fuzzed_frames_give_a_message_or_a_wire_error() -> None:
    """Seeded mutations, signed (re-signed with the key after JSON-level mutation, so they
    reach the unpacking, date and adapting paths) and unsigned, with dates parsed or not."""
    rng = random.Random(8_3_5)
    sessions = [Session(digest_history_size=0, **config) for config in SESSION_CONFIGS]
    outcomes = {"message": 0, "refused": 0}
    for _ in range(FUZZ_COUNT):
        session = rng.choice(sessions)
        frames = mutated_frames(rng, session)
        try:
            _, rest = session.feed_identities(frames)
            msg = session.deserialize(rest)
        except WireError:
            outcomes["refused"] += 1
            continue
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__}: {exc} escaped for frames {frames!r}")
        assert isinstance(msg, dict) and set(msg) == MESSAGE_KEYS
        outcomes["message"] += 1
    # both outcomes must be reached, or the mutations test nothing
    assert outcomes["message"] > FUZZ_COUNT // 20
    assert outcomes["refused"] > FUZZ_COUNT // 20


# ----------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text", ["9999-12-31T24:00:00", "9999-12-31T24:00:00Z", "9999-12-31T24:00:00+01:00"]
)
def test_end_of_day_past_the_last_representable_day_stays_a_string(text: str) -> None:
    """jupyter_client 8.10 raises OverflowError here, and so does kernelwire's
    jupyter_client-named ``parse_date``, which matches it; the Session's own parser keeps
    the string, as it does for any timestamp-shaped string that names no instant."""
    assert parse_date_utc(text) == text


@pytest.mark.parametrize("parse_dates", [True, False])
def test_signed_message_with_overflowing_date_is_received(parse_dates: bool) -> None:
    session = Session(key=KEY, parse_dates=parse_dates)
    msg = session.msg("status", {"execution_state": "idle"})
    msg["header"]["date"] = "9999-12-31T24:00:00"
    msg["parent_header"] = {"msg_id": "p", "date": "9999-12-31T24:00:00Z"}
    _, rest = session.feed_identities(session.serialize(msg))
    received = session.deserialize(rest)
    assert received["header"]["date"] == "9999-12-31T24:00:00"
    assert received["parent_header"]["date"] == "9999-12-31T24:00:00Z"


def test_end_of_day_within_range_still_converts() -> None:
    parsed = parse_date_utc("2026-01-01T24:00:00Z")
    assert isinstance(parsed, datetime)
    assert (parsed.year, parsed.month, parsed.day, parsed.hour) == (2026, 1, 2, 0)


# ----------------------------------------------------------------------- client router


def reply_frames(kernel: Session, msg_type: str, parent_id: Any, content: dict[str, Any]) -> Any:
    msg = kernel.msg(msg_type, content)
    msg["parent_header"] = {"msg_id": parent_id, "msg_type": "execute_request"}
    return kernel.serialize(msg)


@pytest.mark.parametrize("channel", ["shell", "iopub", "control"])
@pytest.mark.parametrize("parent_id", [["m"], {"a": 1}])
def test_router_files_a_reply_with_unhashable_parent_id_under_no_request(
    channel: str, parent_id: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session = Session(key=KEY)
    router = MessageRouter(session)
    exchange, _ = router.request(Request("execute_request", {"code": "1"}))
    kernel = Session(key=KEY)
    frames = reply_frames(kernel, "execute_reply", parent_id, {"status": "ok"})
    with caplog.at_level(logging.WARNING, logger="kernelwire.client"):
        msg = router.receive(channel, frames)
    assert msg is not None and msg["parent_header"]["msg_id"] == parent_id
    assert exchange.reply is None and exchange.outputs == []
    assert any("parent_header.msg_id" in record.getMessage() for record in caplog.records)
    # the router still works: the real reply is filed
    real = reply_frames(kernel, "execute_reply", exchange.msg_id, {"status": "ok"})
    assert router.receive("shell", real) is not None
    assert exchange.reply is not None


@pytest.mark.usefixtures("quiet_logs")
def test_fuzzed_replies_are_filed_or_refused_by_the_router() -> None:
    """The client's router on the same mutated frames, replies to a live request included:
    each is filed (returned) or refused (None), and nothing is raised."""
    rng = random.Random(8_3_6)
    router = MessageRouter(Session(key=KEY, digest_history_size=0))
    router.comms["c"] = Comm("c", "target", "")
    kernel = Session(key=KEY)
    for _ in range(FUZZ_COUNT // 10):
        exchange, _ = router.request(Request("execute_request", {"code": "1"}))
        msg = base_message(rng)
        msg["parent_header"]["msg_id"] = exchange.msg_id
        if rng.random() < 0.5:
            frames = [DELIM, *json_mutated(rng, msg)]
            frames.insert(1, sign(frames[1:]))
        else:
            frames = byte_mutated(rng, kernel.serialize(msg))
        router.receive(rng.choice(["shell", "iopub", "control", "stdin"]), frames)
    assert router.accepted and router.refused


def test_router_ignores_an_unhashable_comm_id(caplog: pytest.LogCaptureFixture) -> None:
    session = Session(key=KEY)
    router = MessageRouter(session)
    kernel = Session(key=KEY)
    frames = reply_frames(kernel, "comm_msg", "nobody", {"comm_id": ["c"], "data": {}})
    with caplog.at_level(logging.WARNING, logger="kernelwire.client"):
        msg = router.receive("iopub", frames)
    assert msg is not None
    assert any("comm_id" in record.getMessage() for record in caplog.records)


def test_router_input_handler_for_unhashable_parent_id_is_the_default() -> None:
    router = MessageRouter(Session(key=KEY))

    def default(prompt: str, password: bool) -> str:
        return "x"

    request = {"parent_header": {"msg_id": ["m"]}, "content": {"prompt": ""}}
    assert router.input_handler_for(request, default) is default


# ----------------------------------------------------------------------- partial messages

BAD_IDENTITIES: list[tuple[str, Any, type[Exception]]] = [
    ("str", "ident", TypeError),
    ("object", object(), TypeError),
    ("None", None, TypeError),
    ("int", 7, TypeError),
]


def non_contiguous() -> memoryview:
    return memoryview(bytearray(range(16)))[::2]


def released() -> memoryview:
    view = memoryview(b"gone")
    view.release()
    return view


BAD_BUFFERS: list[tuple[str, Callable[[], Any], type[Exception]]] = [
    ("object", object, TypeError),
    ("str", lambda: "text", TypeError),
    ("non-contiguous", non_contiguous, ValueError),
    ("released", released, ValueError),
]


class SubclassedSocket(zmq.Socket):  # type: ignore[type-arg]
    """Not exactly zmq.Socket: frames go through pyzmq's own send_multipart."""


@pytest.fixture(params=["fast", "plain"])
def socket_pair(request: pytest.FixtureRequest, zmq_ctx: zmq.Context[Any]) -> Any:
    """A DEALER (exactly zmq.Socket: the backend fast path; or a subclass: pyzmq's
    send_multipart) connected over tcp to a ROUTER."""
    receiver = zmq_ctx.socket(zmq.ROUTER)
    receiver.linger = 0
    receiver.bind("tcp://127.0.0.1:*")
    socket_class = zmq.Socket if request.param == "fast" else SubclassedSocket
    sender = socket_class(zmq_ctx, zmq.DEALER)
    sender.linger = 0
    sender.connect(receiver.last_endpoint)
    yield sender, receiver
    sender.close()
    receiver.close()


def assert_nothing_but(receiver: zmq.Socket[Any], marker: bytes) -> None:
    """The first message the receiver gets is the good one sent after the failed one."""
    assert receiver.poll(WAIT_MS, zmq.POLLIN), "the good message did not arrive"
    frames = receiver.recv_multipart()
    assert frames[1:3] == [marker, DELIM], f"received {frames!r} before the good message"


def message_sent(session: Session, sender: Any, marker: bytes) -> None:
    session.send(sender, "status", {"execution_state": "idle"}, ident=[marker])


@pytest.mark.parametrize(("name", "bad", "error"), BAD_IDENTITIES)
@pytest.mark.parametrize("big", [False, True], ids=["copied", "zero-copy"])
def test_send_with_a_bad_identity_sends_nothing(
    socket_pair: Any, name: str, bad: Any, error: type[Exception], big: bool
) -> None:
    sender, receiver = socket_pair
    session = Session(key=KEY)
    buffers = [b"\0" * 200_000] if big else None
    with pytest.raises(error):
        session.send(sender, "status", {}, ident=[b"ok", bad], buffers=buffers, track=big)
    with pytest.raises(error):
        session.send_raw(sender, [b"{}", b"{}", b"{}", b"{}"], ident=[b"ok", bad])
    message_sent(session, sender, b"good")
    assert_nothing_but(receiver, b"good")


@pytest.mark.parametrize(("name", "make_bad", "error"), BAD_BUFFERS)
@pytest.mark.parametrize("key", [KEY, b""], ids=["keyed", "unkeyed"])
def test_send_raw_with_a_bad_part_sends_nothing(
    socket_pair: Any, name: str, make_bad: Callable[[], Any], error: type[Exception], key: bytes
) -> None:
    sender, receiver = socket_pair
    session = Session(key=key)
    with pytest.raises(error):
        session.send_raw(sender, [b"{}", b"{}", b"{}", b"{}", b"buf", make_bad()], ident=b"ok")
    if not key:  # unsigned: the four signed parts are not read by the signer either
        with pytest.raises(error):
            session.send_raw(sender, [b"{}", make_bad(), b"{}", b"{}"], ident=b"ok")
    with pytest.raises((TypeError, ValueError)):
        session.send(sender, "status", {}, ident=b"ok", buffers=[b"buf", make_bad()])
    message_sent(session, sender, b"good")
    assert_nothing_but(receiver, b"good")


@pytest.mark.parametrize(("name", "bad", "error"), BAD_IDENTITIES)
def test_asend_with_a_bad_identity_sends_nothing(
    zmq_ctx: zmq.Context[Any], name: str, bad: Any, error: type[Exception]
) -> None:
    """On an asyncio socket (the direct-try fast path) and on a blocking one awaited."""
    receiver = zmq_ctx.socket(zmq.ROUTER)
    receiver.linger = 0
    receiver.bind("tcp://127.0.0.1:*")
    session = Session(key=KEY)
    actx = zmq.asyncio.Context.shadow(zmq_ctx)
    senders = [actx.socket(zmq.DEALER), zmq_ctx.socket(zmq.DEALER)]
    markers = [b"good-asyncio", b"good-blocking"]

    async def scenario() -> None:
        for sender, marker in zip(senders, markers, strict=True):
            with pytest.raises(error):
                await session.asend(sender, "status", {}, ident=[b"ok", bad])
            with pytest.raises(error):
                await session.asend_raw(sender, [b"{}", b"{}", b"{}", b"{}"], ident=[b"ok", bad])
            with pytest.raises(ValueError):
                await session.asend_raw(sender, [b"{}", b"{}", b"{}", b"{}", non_contiguous()])
            await session.asend(sender, "status", {}, ident=[marker])

    try:
        for sender in senders:
            sender.linger = 0
            sender.connect(receiver.last_endpoint)
        run(scenario)
        received = []
        for _ in markers:
            assert receiver.poll(WAIT_MS, zmq.POLLIN), "a good message did not arrive"
            received.append(receiver.recv_multipart()[1])
        assert sorted(received) == sorted(markers), f"received {received!r}"
    finally:
        for sock in (*senders, receiver):
            sock.close()


@pytest.mark.parametrize("packer", ["json", "orjson"])
def test_megabytes_of_nesting_are_refused_without_crashing_the_process(packer: str) -> None:
    """orjson before 3.9.15 parsed nesting on the C stack, so a signed message with a few
    MB of "[" killed the receiving process (CVE-2024-27454); the dependency now requires a
    release that refuses it. Run in a child process, where a crash shows as an exit code."""
    script = f"""
import hmac, hashlib, sys
from kernelwire.errors import BadFrame
from kernelwire.session import Session
session = Session(key={KEY!r}, packer={packer!r})
header = b'{{"msg_id": "m", "msg_type": "execute_request", "version": "5.3"}}'
deep = b"[" * 4_000_000 + b"]" * 4_000_000
parts = [header, b"{{}}", b"{{}}", deep]
signature = hmac.new({KEY!r}, b"".join(parts), hashlib.sha256).hexdigest().encode()
try:
    session.deserialize([signature, *parts])
except BadFrame as exc:
    print("refused:", exc.frame)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout) == (0, "refused: content\n"), result.stderr
