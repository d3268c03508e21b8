"""The websocket framings (kernelwire.websocket) against the two real implementations:
jupyter_server's encoder and decoder (byte for byte) and JupyterLab's (@jupyterlab/services,
run under node from tests/js), plus the strict checks and the relay path over real sockets."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jupyter_client.session import Session as JupyterClientSession
from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import (
    ZMQChannelsWebsocketConnection,
)

from kernelwire.errors import (
    BadFrame,
    DuplicateSignature,
    InvalidSignature,
    MalformedMessage,
    MissingDelimiter,
    MissingHeaderField,
    TooFewFrames,
    UnsignedMessage,
    WireError,
)
from kernelwire.session import Session
from kernelwire.websocket import (
    V1_PROTOCOL,
    BadWebsocketFrame,
    legacy_to_message,
    message_to_legacy,
    message_to_v1,
    pack_legacy_binary,
    pack_v1,
    unpack_legacy_binary,
    unpack_v1,
    v1_to_message,
    v1_to_zmq,
    zmq_to_v1,
)
from kernelwire.wire import DELIM

KEY = b"websocket-test-key"
# the node tests do not shrink a failing batch: each try starts node, and minutes of tries
# would hide the failure behind pytest's timeout
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
JS_DIR = Path(__file__).parent / "js"
CHANNEL_NAMES = ("shell", "control", "stdin", "iopub")

pytestmark = pytest.mark.usefixtures("quiet_logs")

# ---------------------------------------------------------------------- messages to test

# JSON both Python and JavaScript read back to the same value: no NaN, no integer that a
# JavaScript number cannot hold exactly
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    """A protocol 5 message dict whose dates are still strings, as on the wire."""
    header = {
        "msg_id": draw(st.text(min_size=1, max_size=12)),
        "msg_type": draw(st.sampled_from(["execute_request", "stream", "comm_msg", "x"])),
        "username": draw(st.text(max_size=8)),
        "session": draw(st.text(max_size=12)),
        "date": "2026-11-25T21:00:00.123456Z",
        "version": "5.4",
    }
    has_parent = draw(st.booleans())
    parent = {**header, "msg_id": "parent-id"} if has_parent else {}
    return {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": header["msg_type"],
        "parent_header": parent,
        "metadata": draw(json_objects),
        "content": draw(json_objects),
        "buffers": draw(st.lists(st.binary(max_size=40), max_size=3)),
    }


def as_json(value: Any) -> Any:
    """``value`` as it reads after a trip through JSON text (tuples become lists...)."""
    return json.loads(json.dumps(value))


def undated_session(**traits: Any) -> Session:
    return Session(key=KEY, parse_dates=False, **traits)


def wire_parts(session: Session, msg: dict[str, Any]) -> list[bytes]:
    """header, parent_header, metadata, content and buffers as a kernel sends them."""
    return [*session.serialize(msg)[2:], *msg["buffers"]]


def received(session: Session, msg: dict[str, Any]) -> dict[str, Any]:
    """``msg`` as a server's Session reads it from the kernel (dates parsed, as there)."""
    return session.deserialize([*session.serialize(msg)[1:], *msg["buffers"]])


# ------------------------------------------------------------ jupyter_server, byte for byte


@settings(max_examples=60, deadline=None)
@given(
    msg=messages(),
    channel=st.sampled_from(CHANNEL_NAMES),
    packer=st.sampled_from(["json", "orjson"]),
)
def test_v1_encoding_matches_jupyter_server(msg: dict[str, Any], channel: str, packer: str) -> None:
    session = undated_session(packer=packer)
    parts = wire_parts(session, msg)
    theirs = serialize_msg_to_ws_v1(parts, channel)
    assert pack_v1(channel, parts) == theirs
    assert zmq_to_v1([b"ident", DELIM, session.sign(parts), *parts], channel) == theirs
    assert message_to_v1(session, msg, channel) == theirs
    # jupyter_server's own message path (status, errors) packs the four parts, no buffers
    no_buffers = {**msg, "buffers": []}
    assert message_to_v1(session, no_buffers, channel) == serialize_msg_to_ws_v1(
        no_buffers, channel, session.pack
    )


@settings(max_examples=60, deadline=None)
@given(msg=messages(), channel=st.sampled_from(CHANNEL_NAMES))
def test_v1_decoding_matches_jupyter_server(msg: dict[str, Any], channel: str) -> None:
    session = undated_session()
    frame = serialize_msg_to_ws_v1(wire_parts(session, msg), channel)
    assert unpack_v1(frame) == deserialize_msg_from_ws_v1(frame)
    their_channel, _ = deserialize_msg_from_ws_v1(frame)
    assert v1_to_message(session, frame) == (their_channel, msg)


@settings(max_examples=60, deadline=None)
@given(msg=messages(), channel=st.sampled_from(CHANNEL_NAMES))
def test_legacy_encoding_matches_jupyter_server(msg: dict[str, Any], channel: str) -> None:
    """The frame jupyter_server writes for a message it received, text or binary."""
    message = received(Session(key=KEY), msg)
    theirs = ZMQChannelsWebsocketConnection._reserialize_reply(None, dict(message), channel)
    ours = message_to_legacy(message, channel)
    assert type(ours) is type(theirs)
    assert ours == theirs


@settings(max_examples=60, deadline=None)
@given(msg=messages(), channel=st.sampled_from(CHANNEL_NAMES))
def test_legacy_decoding_matches_jupyter_server(msg: dict[str, Any], channel: str) -> None:
    message = received(Session(key=KEY), msg)
    frame = message_to_legacy(message, channel)
    their_msg = json.loads(frame) if isinstance(frame, str) else deserialize_binary_message(frame)
    our_channel, our_msg = legacy_to_message(frame)
    assert our_channel == their_msg.pop("channel") == channel
    for key in ("header", "msg_id", "msg_type", "parent_header", "metadata", "content"):
        assert our_msg[key] == message[key]
        if isinstance(frame, bytes):  # jupyter_server parses the dates of binary frames only
            assert our_msg[key] == their_msg[key]
    assert our_msg["buffers"] == their_msg["buffers"] == msg["buffers"]


@pytest.mark.parametrize("packer", ["json", "orjson", "msgpack"])
def test_message_round_trip_with_the_sessions_packer(packer: str) -> None:
    """v1 parts are packed as the Session packs them for ZeroMQ, whatever its packer."""
    session = Session(key=KEY, packer=packer)
    msg = session.msg("comm_msg", {"data": {"values": [1, 2.5, "three"]}}, metadata={"m": 1})
    msg["buffers"] = [b"first", memoryview(b"second")]
    frame = message_to_v1(session, msg, "iopub")
    assert unpack_v1(frame)[1] == [*session.serialize(msg)[2:], b"first", b"second"]
    assert v1_to_message(session, frame) == ("iopub", msg)
    channel, legacy_msg = legacy_to_message(message_to_legacy(msg, "stdin"))
    assert (channel, legacy_msg) == ("stdin", msg)


# -------------------------------------------------------------------- the relay, for real


def test_relay_to_kernel_signs_as_jupyter_client_send_raw(zmq_ctx: zmq.Context[Any]) -> None:
    """A browser's v1 frame becomes the very frames jupyter_server sends to the kernel
    (jupyter_client's send_raw re-signs them), read from a real socket."""
    theirs_session = JupyterClientSession(key=KEY, username="u")
    ours_session = Session(key=KEY)
    msg = theirs_session.msg("comm_msg", {"data": {"x": [1, 2]}})
    frame = pack_v1("shell", [*ours_session.serialize(msg)[2:], b"\x00buffer"])
    receiver = zmq_ctx.socket(zmq.PULL)
    sender = zmq_ctx.socket(zmq.PUSH)
    for sock in (receiver, sender):
        sock.linger = 0
    port = receiver.bind_to_random_port("tcp://127.0.0.1")
    sender.connect(f"tcp://127.0.0.1:{port}")
    channel, parts = deserialize_msg_from_ws_v1(frame)
    theirs_session.send_raw(sender, parts)
    assert receiver.poll(10_000), "jupyter_client's message did not arrive"
    their_frames = receiver.recv_multipart()
    our_channel, our_frames = v1_to_zmq(frame, ours_session)
    sender.send_multipart(our_frames)
    assert receiver.poll(10_000), "kernelwire's message did not arrive"
    assert (our_channel, receiver.recv_multipart()) == (channel, their_frames)
    # and the kernel side accepts it: signature verified, content intact
    assert ours_session.deserialize(our_frames[1:])["content"] == msg["content"]


def test_relay_through_a_kernel_round_trip(zmq_ctx: zmq.Context[Any]) -> None:
    """Browser -> v1_to_zmq -> a kernel's shell socket; its reply -> zmq_to_v1 (verified)
    -> the browser's decoder: the reply answers the request."""
    from helpers import start_managed_kernel, stop_managed_kernel

    km, kc = start_managed_kernel("python3")
    try:
        info = km.get_connection_info(session=False)
        session = Session(key=info["key"], signature_scheme=info["signature_scheme"])
        browser = undated_session()
        request = browser.msg("kernel_info_request")
        dealer = zmq_ctx.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(f"{info['transport']}://{info['ip']}:{info['shell_port']}")
        channel, frames = v1_to_zmq(message_to_v1(browser, request, "shell"), session)
        dealer.send_multipart(frames)
        assert dealer.poll(30_000), "no kernel_info_reply"
        reply_frame = zmq_to_v1(dealer.recv_multipart(), channel, verify=session)
        reply_channel, reply = v1_to_message(browser, reply_frame)
        assert (reply_channel, reply["msg_type"]) == ("shell", "kernel_info_reply")
        assert reply["parent_header"]["msg_id"] == request["msg_id"]
        assert reply["content"]["status"] == "ok"
    finally:
        stop_managed_kernel((km, kc))


def test_relay_verification_refuses_what_jupyter_server_forwards() -> None:
    session = Session(key=KEY)
    msg = session.msg("stream", {"name": "stdout", "text": "hi"})
    frames = session.serialize(msg, ident=[b"topic"])
    other_key = Session(key=b"another key").serialize(msg)
    unsigned = [*frames[:2], b"", *frames[3:]]
    # jupyter_server's v1 relay frames all of them without looking
    for bad in (other_key, unsigned):
        serialize_msg_to_ws_v1(bad[2:], "iopub")
    with pytest.raises(InvalidSignature):
        zmq_to_v1(other_key, "iopub", verify=session)
    with pytest.raises(UnsignedMessage):
        zmq_to_v1(unsigned, "iopub", verify=session)
    assert unpack_v1(zmq_to_v1(frames, "iopub", verify=session))[1] == frames[3:]
    with pytest.raises(DuplicateSignature):
        zmq_to_v1(frames, "iopub", verify=session)
    with pytest.raises(MissingDelimiter):
        zmq_to_v1(frames[2:], "iopub")
    with pytest.raises(TooFewFrames):
        zmq_to_v1(frames[:5], "iopub")
    with pytest.raises(MalformedMessage):
        zmq_to_v1([DELIM, b"", b"{}", b"{}", 4, b"{}"], "iopub")


def test_relay_never_unpacks_the_parts() -> None:
    """The relay moves bytes: parts that no unpacker could read pass both ways unchanged
    (the kernel, which verifies and unpacks, is the one to refuse them)."""
    session = Session(key=KEY)
    parts = [b"\xff not json", b"[", b"\x00", b"}{", b"buffer"]
    frame = zmq_to_v1([b"id", DELIM, session.sign(parts), *parts], "shell", verify=session)
    assert unpack_v1(frame) == ("shell", parts)
    assert v1_to_zmq(frame, session, ident=b"id") == (
        "shell",
        [b"id", DELIM, session.sign(parts), *parts],
    )


def test_relay_passes_zmq_frames_without_copying_them_first(
    zmq_ctx: zmq.Context[Any],
) -> None:
    """Frames received with copy=False (zmq.Frame objects) are framed as they are."""
    session = Session(key=KEY)
    msg = session.msg("display_data", {"data": {}})
    pull = zmq_ctx.socket(zmq.PULL)
    push = zmq_ctx.socket(zmq.PUSH)
    for sock in (pull, push):
        sock.linger = 0
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(f"tcp://127.0.0.1:{port}")
    session.send(push, msg, buffers=[b"b" * 100_000])
    assert pull.poll(10_000)
    received = pull.recv_multipart(copy=False)
    frame = zmq_to_v1(received, "iopub", verify=session)
    assert frame == serialize_msg_to_ws_v1([f.bytes for f in received[2:]], "iopub")


# ------------------------------------------------------------------------ strict decoding


def v1_frame() -> bytes:
    session = undated_session()
    msg = session.msg("execute_request", {"code": "1"})
    return message_to_v1(session, {**msg, "buffers": [b"buffer"]}, "shell")


def with_offsets(frame: bytes, count: int, offsets: list[int], tail: bytes | None = None) -> bytes:
    """``frame``'s parts under a rewritten offset table."""
    old_count = int.from_bytes(frame[:8], "little")
    body = frame[8 * (old_count + 1) :] if tail is None else tail
    return struct.pack(f"<{1 + len(offsets)}Q", count, *offsets) + body


def v1_offsets(frame: bytes) -> list[int]:
    count = int.from_bytes(frame[:8], "little")
    return list(struct.unpack_from(f"<{count}Q", frame, 8))


def bad_v1_frames() -> list[tuple[str, Any, str]]:
    frame = v1_frame()
    offs = v1_offsets(frame)
    n = len(offs)
    swapped = offs[:]
    swapped[2], swapped[3] = swapped[3], swapped[2]
    empty_header = offs[:]
    empty_header[2] = empty_header[1]
    return [
        ("text", "shell", "must be binary"),
        ("not bytes", 12, "bytes-like"),
        ("short", frame[:7], "too short"),
        ("count too small", with_offsets(frame, 5, offs[:5]), "at least 6"),
        ("count past the end", with_offsets(frame, 10**6, offs), "table"),
        ("count 2**64-1", b"\xff" * 8 + frame[8:], "table"),
        ("first offset", with_offsets(frame, n, [offs[0] + 1, *offs[1:]]), "first offset"),
        ("backwards", with_offsets(frame, n, swapped), "is before offset"),
        ("past the end", with_offsets(frame, n, [*offs[:-1], len(frame) + 5]), "past the end"),
        ("no end sentinel", frame + b"junk", "last offset"),
        ("truncated", frame[:-1], "past the end"),
        ("empty header", with_offsets(frame, n, empty_header), "header part is empty"),
        ("unknown channel", pack_v1("shelly", [b"{}"] * 4), "unknown channel 'shelly'"),
        (
            "channel not UTF-8",
            pack_v1("shell", [b"{}"] * 4).replace(b"shell", b"she\xffl"),
            "UTF-8",
        ),
        (
            "count one short",
            with_offsets(frame, n - 1, offs[:-1], tail=frame[8 * (n + 1) :]),
            "first offset",
        ),
    ]


@pytest.mark.parametrize(
    ("case", "frame", "reason"), bad_v1_frames(), ids=[c[0] for c in bad_v1_frames()]
)
def test_v1_decoding_is_strict(case: str, frame: Any, reason: str) -> None:
    with pytest.raises(BadWebsocketFrame, match=reason):
        unpack_v1(frame)
    with pytest.raises(BadWebsocketFrame, match=reason):
        v1_to_zmq(frame, Session(key=KEY))


def test_v1_message_parts_are_checked_as_a_session_checks_them() -> None:
    session = undated_session()
    with pytest.raises(BadFrame, match="header"):
        v1_to_message(session, pack_v1("shell", [b"[1]", b"{}", b"{}", b"{}"]))
    with pytest.raises(BadFrame, match="content"):
        v1_to_message(
            session, pack_v1("shell", [b'{"msg_id":"1","msg_type":"t"}', b"{}", b"{}", b"nul"])
        )
    with pytest.raises(MissingHeaderField, match="msg_type"):
        v1_to_message(session, pack_v1("shell", [b'{"msg_id":"1"}', b"{}", b"{}", b"{}"]))
    # any channel name only when asked for
    assert (
        v1_to_message(
            session,
            pack_v1(
                "custom",
                [b'{"msg_id":"1","msg_type":"t","version":"5.0","date":"x"}', b"{}", b"{}", b"{}"],
            ),
            channels=None,
        )[0]
        == "custom"
    )


def legacy_frame() -> bytes:
    msg = undated_session().msg("comm_msg", {"data": {}})
    frame = message_to_legacy({**msg, "buffers": [b"one", b"two"]}, "shell")
    assert isinstance(frame, bytes)
    return frame


def bad_legacy_frames() -> list[tuple[str, Any, str]]:
    frame = legacy_frame()
    count = int.from_bytes(frame[:4], "big")
    offs = list(struct.unpack_from(f"!{count}I", frame, 4))
    body = frame[4 * (count + 1) :]

    def table(n: int, offsets: list[int]) -> bytes:
        return struct.pack(f"!{1 + len(offsets)}I", n, *offsets)

    def text(obj: Any) -> str:
        return json.dumps(obj)

    header = {"msg_id": "1", "msg_type": "t", "version": "5.3", "date": "2026-01-01T00:00:00Z"}
    return [
        ("not bytes", 3.5, "bytes-like"),
        ("short", frame[:3], "too short"),
        ("zero parts", table(0, []) + body, "0 parts"),
        ("count past the end", table(1000, offs) + body, "table"),
        ("first offset", table(count, [offs[0] - 1, *offs[1:]]) + body, "first offset"),
        ("backwards", table(count, [offs[0], offs[2], offs[1]]) + body, "is before offset"),
        ("past the end", table(count, [*offs[:-1], len(frame) + 1]) + body, "past the end"),
        ("not JSON", table(2, [12, 14]) + b"{]xx", "not JSON"),
        ("JSON not an object", "[1, 2]", "not an object"),
        ("text not JSON", "{", "not JSON"),
        ("lone surrogate", '{"channel": "shell", "\ud800": 1}', "not JSON"),
        ("no channel", text({"header": header}), "no channel"),
        ("channel not a str", text({"header": header, "channel": 1}), "not a str"),
        ("unknown channel", text({"header": header, "channel": "x"}), "unknown channel"),
        (
            "buffers in JSON",
            text({"header": header, "channel": "shell", "buffers": ["x"]}),
            "buffers",
        ),
    ]


@pytest.mark.parametrize(
    ("case", "frame", "reason"), bad_legacy_frames(), ids=[c[0] for c in bad_legacy_frames()]
)
def test_legacy_decoding_is_strict(case: str, frame: Any, reason: str) -> None:
    with pytest.raises(BadWebsocketFrame, match=reason):
        legacy_to_message(frame)


def test_legacy_message_fields_are_checked() -> None:
    ok_header = {"msg_id": "1", "msg_type": "t", "version": "5.3", "date": "2026-01-01T00:00:00Z"}
    with pytest.raises(BadFrame, match="header"):
        legacy_to_message(json.dumps({"channel": "shell", "header": []}))
    with pytest.raises(MissingHeaderField, match="msg_id"):
        legacy_to_message(json.dumps({"channel": "shell", "header": {"msg_type": "t"}}))
    with pytest.raises(BadFrame, match="metadata"):
        legacy_to_message(json.dumps({"channel": "shell", "header": ok_header, "metadata": 1}))
    with pytest.raises(ValueError, match="Out of range float values"):
        message_to_legacy({"header": ok_header, "content": {"x": float("nan")}}, "shell")


def test_legacy_binary_frame_round_trip() -> None:
    body, buffers = unpack_legacy_binary(pack_legacy_binary(b'{"a": 1}', [b"x", b"", b"yz"]))
    assert (body, buffers) == (b'{"a": 1}', [b"x", b"", b"yz"])


# ------------------------------------------------------ no exception but kernelwire's own

DECODERS = {
    "unpack_v1": unpack_v1,
    "unpack_legacy_binary": unpack_legacy_binary,
    "legacy_to_message": legacy_to_message,
    "v1_to_message": lambda frame: v1_to_message(undated_session(), frame),
    "v1_to_zmq": lambda frame: v1_to_zmq(frame, Session(key=KEY)),
}


def decode_or_wire_error(frame: Any) -> None:
    for decode in DECODERS.values():
        try:
            decode(frame)
        except WireError:
            pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=st.binary(max_size=200)
    | st.text(max_size=100)
    | st.builds(bytearray, st.binary(max_size=50))
    | st.builds(memoryview, st.binary(max_size=50))
    | st.none()
    | st.integers()
    | st.lists(st.integers(0, 255), max_size=9)
)
def test_arbitrary_input_raises_only_wire_errors(frame: Any) -> None:
    decode_or_wire_error(frame)


FIELDS = ["channel", "header", "parent_header", "metadata", "content", "buffers"]
HEADER_FIELDS = ["msg_id", "msg_type", "version", "date", "session", "username"]
# JSON that gets past the framing, to reach the message checks (and protocol 4 adaptation)
near_messages = st.dictionaries(
    st.sampled_from(FIELDS),
    json_values
    | st.sampled_from(CHANNEL_NAMES)
    | st.dictionaries(
        st.sampled_from(HEADER_FIELDS),
        json_values | st.sampled_from(["4.1", "5.3", "2026-01-01T00:00:00Z", "execute_reply"]),
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=near_messages, buffers=st.lists(st.binary(max_size=9), max_size=2))
def test_near_messages_raise_only_wire_errors(body: dict[str, Any], buffers: list[bytes]) -> None:
    text = json.dumps(body)
    decode_or_wire_error(text)
    decode_or_wire_error(pack_legacy_binary(text.encode(), buffers))
    parts = [json.dumps(body.get(name)).encode() for name in FIELDS[1:5]]
    decode_or_wire_error(pack_v1("shell", [*parts, *buffers]))


def test_deeply_nested_json_is_a_wire_error() -> None:
    depth = 100_000  # beyond any recursion limit, and orjson's own limit (1024 levels)
    date = "[" * depth + "]" * depth
    header = f'{{"msg_id": "1", "msg_type": "t", "date": {date}}}'
    with pytest.raises(WireError, match=r"nested too deeply|depth limit exceeded"):
        legacy_to_message(f'{{"channel": "shell", "header": {header}}}')
    with pytest.raises(BadFrame, match=r"nested too deeply|depth limit exceeded"):
        v1_to_message(Session(), pack_v1("shell", [header.encode(), b"{}", b"{}", b"{}"]))


DEEP_NESTING_CHILD = """
from kernelwire.errors import WireError
from kernelwire.session import Session
from kernelwire.websocket import legacy_to_message, pack_v1, v1_to_message

depth = 1_000_000
header = '{"msg_id": "1", "msg_type": "t", "x": ' + "[" * depth + "]" * depth + "}"
for decode in (
    lambda: legacy_to_message('{"channel": "shell", "header": ' + header + "}"),
    lambda: v1_to_message(Session(), pack_v1("shell", [header.encode(), b"{}", b"{}", b"{}"])),
):
    try:
        decode()
    except WireError as exc:
        print(type(exc).__name__)
"""


def test_a_million_levels_of_nesting_do_not_crash_the_process() -> None:
    """Two megabytes of brackets overflow the C stack of an orjson older than 3.9.15
    (CVE-2024-27454): in a child process, so that a crash fails this test only."""
    done = subprocess.run(
        [sys.executable, "-c", DEEP_NESTING_CHILD], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"the decoder crashed: {done.returncode} {done.stderr[-500:]}"
    assert done.stdout.split() == ["BadWebsocketFrame", "BadFrame"]


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid v1 or legacy frame with a few bytes overwritten, inserted or cut, mostly in
    the offset table where the interesting mistakes are."""
    msg = draw(messages())
    session = undated_session()
    if draw(st.booleans()):
        frame = bytearray(message_to_v1(session, msg, draw(st.sampled_from(CHANNEL_NAMES))))
    else:
        legacy = message_to_legacy({**msg, "buffers": msg["buffers"] or [b"b"]}, "shell")
        frame = bytearray(legacy if isinstance(legacy, bytes) else legacy.encode())
    for _ in range(draw(st.integers(1, 4))):
        table_end = min(len(frame), 80)
        where = draw(st.integers(0, table_end if draw(st.booleans()) else len(frame)))
        action = draw(st.sampled_from(["set", "insert", "cut"]))
        if action == "set" and where < len(frame):
            frame[where] = draw(st.integers(0, 255))
        elif action == "insert":
            frame[where:where] = draw(st.binary(min_size=1, max_size=9))
        else:
            del frame[where : where + draw(st.integers(1, 9))]
    return bytes(frame)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=mutated_frames())
def test_mutated_frames_raise_only_wire_errors(frame: bytes) -> None:
    decode_or_wire_error(frame)
    try:
        channel, parts = unpack_v1(frame)
    except WireError:
        return
    # whatever passes the checks is what jupyter_server would read from it
    assert (channel, parts) == deserialize_msg_from_ws_v1(frame)


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(st.binary(max_size=20) | st.just(DELIM) | st.integers(), max_size=9))
def test_arbitrary_zmq_frames_raise_only_wire_errors(frames: list[Any]) -> None:
    try:
        zmq_to_v1(frames, "iopub", verify=Session(key=KEY))
    except WireError:
        pass


# ---------------------------------------------------------- JupyterLab's code, under node


@pytest.fixture(scope="module")
def jupyterlab() -> Any:
    """Runs jobs through @jupyterlab/services' serialize/deserialize (tests/js/oracle.js)."""
    node = shutil.which("node")
    install = f"install Node.js 20 or later, then run: npm ci --prefix {JS_DIR}"
    if node is None:
        pytest.fail(f"node is not on PATH; these tests need JupyterLab's code: {install}")
    if not (JS_DIR / "node_modules" / "@jupyterlab" / "services").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(f"tests/js/node_modules is missing and npm is not on PATH: {install}")
        subprocess.run(
            [npm, "ci", "--prefix", str(JS_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
            check=True,
            timeout=600,
        )

    def run_jobs(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run(
            [node, str(JS_DIR / "oracle.js")],
            input=json.dumps(jobs),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd=JS_DIR,
        )
        results: list[dict[str, Any]] = json.loads(done.stdout)
        return results

    return run_jobs


def b64(data: Any) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def comparable(value: Any) -> Any:
    """``value`` with every number a float: JavaScript writes the double 4.4e16 as
    44000000000000000, which Python reads back as an int that is not the same number."""
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def browser_view(msg: dict[str, Any], channel: str) -> dict[str, Any]:
    """The fields a browser sees, as JSON, with the buffers in base64, numbers as floats."""
    view = {key: msg[key] for key in ("header", "parent_header", "metadata", "content")}
    view = {**as_json(view), "channel": channel, "buffers": [b64(b) for b in msg["buffers"]]}
    return comparable(view)  # type: ignore[no-any-return]


@settings(max_examples=6, deadline=None, phases=NO_SHRINK, suppress_health_check=SLOW)
@given(
    batch=st.lists(st.tuples(messages(), st.sampled_from(CHANNEL_NAMES)), min_size=8, max_size=8)
)
def test_jupyterlab_decodes_what_kernelwire_encodes(jupyterlab: Any, batch: list[Any]) -> None:
    session = undated_session()
    jobs = []
    for msg, channel in batch:
        jobs.append(
            {
                "op": "deserialize",
                "protocol": V1_PROTOCOL,
                "binary": b64(message_to_v1(session, msg, channel)),
            }
        )
        legacy = message_to_legacy(msg, channel)
        if isinstance(legacy, str):
            jobs.append({"op": "deserialize", "protocol": "", "text": legacy})
        else:
            jobs.append({"op": "deserialize", "protocol": "", "binary": b64(legacy)})
    results = jupyterlab(jobs)
    for index, (msg, channel) in enumerate(batch):
        expected = browser_view(msg, channel)
        v1_result, legacy_result = results[2 * index], results[2 * index + 1]
        assert comparable(v1_result["msg"]) == expected
        legacy_msg = legacy_result["msg"]
        assert comparable({key: legacy_msg[key] for key in expected}) == expected


@settings(max_examples=6, deadline=None, phases=NO_SHRINK, suppress_health_check=SLOW)
@given(
    batch=st.lists(st.tuples(messages(), st.sampled_from(CHANNEL_NAMES)), min_size=8, max_size=8)
)
def test_kernelwire_decodes_what_jupyterlab_encodes(jupyterlab: Any, batch: list[Any]) -> None:
    session = undated_session()
    jobs = []
    for msg, channel in batch:
        browser_msg = browser_view(msg, channel)
        jobs.append({"op": "serialize", "protocol": V1_PROTOCOL, "msg": browser_msg})
        jobs.append({"op": "serialize", "protocol": "", "msg": browser_msg})
    results = jupyterlab(jobs)
    for index, (msg, channel) in enumerate(batch):
        v1_result, legacy_result = results[2 * index], results[2 * index + 1]
        frame = unb64(v1_result["binary"])
        our_channel, our_msg = v1_to_message(session, frame)
        assert (our_channel, browser_view(our_msg, our_channel)) == (
            channel,
            browser_view(msg, channel),
        )
        # a relay passes JupyterLab's parts to the kernel untouched, signed
        _, frames = v1_to_zmq(frame, session)
        kernel = Session(key=KEY)  # one per message: a batch may repeat one
        kernel_content = kernel.deserialize(frames[1:])["content"]
        assert comparable(kernel_content) == comparable(as_json(msg["content"]))
        legacy = legacy_result.get("text")
        if legacy is None:
            legacy = unb64(legacy_result["binary"])
        assert isinstance(legacy, bytes) == bool(msg["buffers"])
        legacy_channel, legacy_msg = legacy_to_message(legacy, parse_dates=False)
        assert browser_view(legacy_msg, legacy_channel) == browser_view(msg, channel)


def test_jupyterlab_reads_a_frame_whose_fault_kernelwire_names(jupyterlab: Any) -> None:
    """Some malformed frames JupyterLab's decoder reads as garbage without a word; the
    strict decoder names the fault instead. Both see the same bytes."""
    frame = v1_frame()
    offs = v1_offsets(frame)
    past_end = with_offsets(frame, len(offs), [*offs[:-1], len(frame) + 100])
    results = jupyterlab([{"op": "deserialize", "protocol": V1_PROTOCOL, "binary": b64(past_end)}])
    assert "msg" in results[0]  # JupyterLab accepts it, reading past the frame as empty
    with pytest.raises(BadWebsocketFrame, match="past the end"):
        unpack_v1(past_end)
