"""Property: whatever frames arrive, feed_identities + deserialize end in a message dict
or a kernelwire WireError, never another exception. The frames are garbage, JSON-ish,
and (so that every unpacking and adapting path is reached) correctly signed parts that
may or may not be valid JSON objects, headers of every protocol version included."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kernelwire.errors import WireError
from kernelwire.session import DELIM, Session

KEY = b"property-key-51f0"
MESSAGE_KEYS = {"header", "msg_id", "msg_type", "parent_header", "metadata", "content", "buffers"}
DEEP = 5000

logging.getLogger("traitlets").setLevel(logging.ERROR)  # unkeyed Sessions warn at init
SESSIONS = {
    "keyed": Session(key=KEY, digest_history_size=256),
    "unkeyed": Session(key=b""),
    "msgpack": Session(key=KEY, packer="msgpack", digest_history_size=256),
    "raw-dates": Session(key=KEY, parse_dates=False, digest_history_size=256),
}
PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------ building blocks

MSG_TYPES = [
    "execute_request",
    "execute_reply",
    "execute_result",
    "pyout",
    "pyerr",
    "pyin",
    "object_info_request",
    "object_info_reply",
    "inspect_reply",
    "complete_request",
    "complete_reply",
    "kernel_info_reply",
    "display_data",
    "stream",
    "input_request",
    "status",
    "version",
    "__init__",
    "__class__",
    "",
]
DATES = ["2026-01-02T03:04:05.123456Z", "2026-13-01T00:00:00Z", "2026-01-02T24:00:00Z", "x"]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),  # what msgpack can carry
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(DATES),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)
versions = st.one_of(
    st.sampled_from(["5.5", "5.0", "4.1", "5", "6.0", "", "abc", " 5.1", "5."]),
    json_scalars,
)


@st.composite
def headers(draw: st.DrawFn) -> dict[str, Any]:
    header: dict[str, Any] = {}
    for field in ("msg_id", "msg_type"):
        if draw(st.integers(0, 9)):  # usually present
            header[field] = draw(st.sampled_from(MSG_TYPES)) if field == "msg_type" else "m"
    if draw(st.booleans()):
        header["version"] = draw(versions)
    if draw(st.booleans()):
        header["date"] = draw(st.one_of(st.sampled_from(DATES), json_scalars))
    header.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    return header


@st.composite
def contents(draw: st.DrawFn) -> Any:
    """Content shaped like what the adapters look at, with right or wrong field types."""
    keys = [
        "data",
        "text",
        "code",
        "cursor_pos",
        "matches",
        "language_version",
        "oname",
        "user_variables",
        "user_expressions",
        "payload",
        "status",
        "found",
        "source",
        "metadata",
        "definition",
        "docstring",
        "protocol_version",
        "language",
        "implementation",
        "password",
        "detail_level",
        "line",
        "block",
        "name",
    ]
    return draw(st.dictionaries(st.sampled_from(keys), json_values, max_size=6))


def deep_json(opening: bytes, closing: bytes) -> bytes:
    return opening * DEEP + closing * DEEP


garbage = st.binary(max_size=40)
invalid_utf8 = st.sampled_from([b'{"a":"\xff\xfe"}', b"\xc3\x28", b'{"msg_id":"\xed\xa0\x80"}'])


def packed_parts(session: Session) -> st.SearchStrategy[bytes]:
    """One packed part: a valid header or content, any JSON, garbage, deep, bad UTF-8."""
    pack = session.pack
    return st.one_of(
        headers().map(pack),
        contents().map(pack),
        json_values.map(lambda v: json.dumps(v).encode()),
        garbage,
        invalid_utf8,
        st.sampled_from(
            [
                b'{"msg_id":"m","msg_type":"t","x":' + deep_json(b"[", b"]") + b"}",
                b'{"msg_id":"m","msg_type":"t","x":' + deep_json(b'{"a":', b"}")[:-1] + b"1}}",
                deep_json(b"[", b"]"),
                b'{"msg_id":"m","msg_type":"t","x":' + b"[" * 1000 + b"]" * 1000 + b"}",
            ]
        ),
    )


@st.composite
def signed_frames(draw: st.DrawFn, session: Session) -> list[bytes]:
    """[identities..., DELIM, signature, 4 parts, buffers...] signed with the right key."""
    part = packed_parts(session)
    if draw(st.booleans()):  # a plausible message, maybe with one part replaced
        pack = session.pack
        parent = draw(st.one_of(st.just({}), headers()))
        parts = [pack(draw(headers())), pack(parent), pack({}), pack(draw(contents()))]
        if draw(st.booleans()):
            parts[draw(st.integers(0, 3))] = draw(part)
    else:
        parts = [draw(part) for _ in range(4)]
    identities = draw(st.lists(garbage.filter(lambda f: f != DELIM), max_size=2))
    buffers = draw(st.lists(garbage, max_size=2))
    return [*identities, DELIM, session.sign(parts), *parts, *buffers]


@st.composite
def garbage_frames(draw: st.DrawFn) -> list[bytes]:
    """Any frames, with or without DELIM, JSON-ish or not, unsigned or wrongly signed."""
    frame = st.one_of(garbage, json_values.map(lambda v: json.dumps(v).encode()), invalid_utf8)
    frames = draw(st.lists(frame, max_size=8))
    if draw(st.booleans()):
        frames.insert(draw(st.integers(0, len(frames))), DELIM)
    return frames


def read(session: Session, frames: list[Any]) -> None:
    try:
        identities, rest = session.feed_identities(frames)
        message = session.deserialize(rest)
    except WireError:
        return
    assert isinstance(identities, list)
    assert isinstance(message, dict)
    assert set(message) == MESSAGE_KEYS


@pytest.mark.parametrize("name", sorted(SESSIONS))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_signed_frames_give_a_message_or_a_wire_error(name: str, data: st.DataObject) -> None:
    session = SESSIONS[name]
    read(session, data.draw(signed_frames(session)))


@pytest.mark.parametrize("name", ["keyed", "unkeyed"])
@PROPERTY_SETTINGS
@given(frames=garbage_frames())
@example(frames=[DELIM, b"", b"{}", b"{}", b"{}", b"{}"])
@example(frames=[b"\xff" * 3, DELIM, b"sig", b"\xff", b"\xfe", b"\xfd", b"\xfc", b"buf"])
@example(frames=[DELIM, b"", b"[" * DEEP + b"]" * DEEP, b"{}", b"{}", b"{}"])
def test_any_frames_give_a_message_or_a_wire_error(name: str, frames: list[bytes]) -> None:
    read(SESSIONS[name], frames)


@pytest.mark.parametrize("name", sorted(SESSIONS))
@pytest.mark.parametrize(
    "header",
    [
        b'{"msg_id":"m","msg_type":"t","x":' + deep_json(b"[", b"]") + b"}",
        b'{"msg_id":"m","msg_type":"t","x":' + b"[" * 990 + b"]" * 990 + b"}",
        b'{"msg_id":"m","msg_type":"t","v":"' + b"\xff" * 10 + b'"}',
    ],
    ids=["5000-deep", "990-deep", "invalid-utf8"],
)
def test_deep_and_undecodable_headers(name: str, header: bytes) -> None:
    session = SESSIONS[name]
    parts = [header, b"{}", b"{}", b"{}"]
    read(session, [DELIM, session.sign(parts), *parts])
