"""Every way a received message can be refused: the kernelwire error class (which also
is the builtin jupyter_client raises), a message that says what was wrong, never the key,
and a replay history that only ever holds signatures of messages that were accepted."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import zmq
from jupyter_client import session as jc_session

from kernelwire.errors import (
    BadFrame,
    DuplicateSignature,
    InvalidSignature,
    MalformedMessage,
    MissingDelimiter,
    MissingHeaderField,
    SignatureError,
    TooFewFrames,
    UnsignedMessage,
    WireError,
)
from kernelwire.session import DELIM, Session

KEY = b"errors-secret-key-7f3a9c"
SIGNED = ["header", "parent_header", "metadata", "content"]


@contextmanager
def refused(kind: type[BaseException], *builtins: type[BaseException]) -> Iterator[Any]:
    """Expect ``kind`` (a WireError that is also each of ``builtins``), and check that
    its text never gives the key away."""
    with pytest.raises(kind) as info:
        yield info
    exc = info.value
    assert isinstance(exc, WireError)
    for builtin in builtins:
        assert isinstance(exc, builtin)
    text = f"{exc} {exc!r} {exc.args!r}"
    for secret in (KEY.decode(), KEY.hex()):
        assert secret not in text


@pytest.fixture
def session() -> Session:
    return Session(key=KEY)


def message_frames(session: Session, **content: Any) -> list[bytes]:
    """The frames after DELIM of a fresh, valid message with a parent and metadata."""
    parent = session.msg("execute_request", {"code": "x"})
    msg = session.msg("execute_reply", content or {"status": "ok"}, parent=parent)
    msg["metadata"] = {"engine": "e"}
    frames = session.serialize(msg, ident=b"id")
    return frames[frames.index(DELIM) + 1 :]


def sign_parts(
    session: Session,
    header: bytes,
    parent: bytes = b"{}",
    metadata: bytes = b"{}",
    content: bytes = b"{}",
) -> list[bytes]:
    """Frames after DELIM for raw packed parts, correctly signed."""
    parts = [header, parent, metadata, content]
    return [session.sign(parts), *parts]


# ------------------------------------------------------------------ framing


def test_missing_delimiter(session: Session) -> None:
    frames = session.serialize(session.msg("status"))
    frames.remove(DELIM)
    with refused(MissingDelimiter, ValueError, MalformedMessage) as info:
        session.feed_identities([b"ident", *frames])
    assert "delimiter" in str(info.value)


def test_missing_delimiter_among_zmq_frames(session: Session) -> None:
    frames = [zmq.Frame(b"ident"), zmq.Frame(b"not the delimiter")]
    with refused(MissingDelimiter, ValueError):
        session.feed_identities(frames, copy=False)


def test_frame_that_is_not_bytes_like(session: Session) -> None:
    with refused(MalformedMessage) as info:
        session.feed_identities([b"id", 42, DELIM])
    assert "int" in str(info.value)


@pytest.mark.parametrize("count", range(5))
def test_too_few_frames_is_checked_before_the_signature(session: Session, count: int) -> None:
    frames = [b"f" * 64, b"{}", b"{}", b"{}"][:count]
    with refused(TooFewFrames, TypeError, MalformedMessage) as info:
        session.deserialize(frames)
    assert f"{count} frames" in str(info.value)
    assert len(session.digest_history) == 0


@pytest.mark.parametrize("field", ["msg_id", "msg_type"])
def test_header_without_mandatory_field(session: Session, field: str) -> None:
    header = {"msg_id": "m", "msg_type": "status", "session": "s", "version": "5.5"}
    del header[field]
    frames = sign_parts(session, session.pack(header))
    with refused(MissingHeaderField, KeyError) as info:
        session.deserialize(frames)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("frame", "packed", "reason"),
    [
        ("header", b'{"msg_id": "m", "msg_type"', "JSONDecodeError"),
        ("header", b"[1, 2]", "list"),
        ("header", b'"just a string"', "str"),
        ("parent_header", b"{nope", "JSONDecodeError"),
        ("parent_header", b"[]", "list"),
        ("metadata", b"\x00\x01", "JSONDecodeError"),
        ("metadata", b"17", "int"),
        ("content", b"", "JSONDecodeError"),
        ("content", b"null", "NoneType"),
    ],
)
def test_bad_frame_is_named(session: Session, frame: str, packed: bytes, reason: str) -> None:
    parts = {name: b"{}" for name in SIGNED}
    parts["header"] = b'{"msg_id": "m", "msg_type": "status", "version": "5.5"}'
    parts[frame] = packed
    frames = sign_parts(session, *(parts[name] for name in SIGNED))
    with refused(BadFrame, ValueError, MalformedMessage) as info:
        session.deserialize(frames)
    assert info.value.frame == frame
    assert frame in str(info.value)
    assert reason in str(info.value)


def test_null_parent_header_and_metadata_read_as_empty(session: Session) -> None:
    """xeus-python 0.19 sends its iopub_welcome with ``null`` parent header and metadata;
    they mean "none", as an empty dict does (the content must still be a dict)."""
    header = b'{"msg_id": "m", "msg_type": "iopub_welcome", "version": "5.6"}'
    frames = sign_parts(session, header, b"null", b"null", b'{"subscription": ""}')
    msg = session.deserialize(frames)
    assert (msg["parent_header"], msg["metadata"]) == ({}, {})
    assert msg["content"] == {"subscription": ""}


def test_bad_msgpack_frame_is_named() -> None:
    session = Session(key=KEY, packer="msgpack")
    header = session.pack({"msg_id": "m", "msg_type": "status", "version": "5.5"})
    empty = session.pack({})
    for name, parts in [
        ("header", [b"\xc1", empty, empty, empty]),
        ("parent_header", [header, b"\x92\x01", empty, empty]),  # truncated array
        ("metadata", [header, empty, empty + b"\x00", empty]),  # extra data
        ("content", [header, empty, empty, b"\x91\x01"]),  # a list
    ]:
        with refused(BadFrame) as info:
            session.deserialize([session.sign(parts), *parts])
        assert info.value.frame == name


def test_content_is_not_unpacked_by_a_peek(session: Session) -> None:
    header = b'{"msg_id": "m", "msg_type": "status", "version": "5.5"}'
    frames = sign_parts(session, header, content=b"not json at all")
    assert session.deserialize(frames, content=False)["content"] == b"not json at all"
    with refused(BadFrame):
        session.deserialize(frames)


def test_deep_nesting_is_a_bad_frame(session: Session) -> None:
    depth = 100_000
    header = b'{"msg_id": "m", "msg_type": "s", "x": ' + b"[" * depth + b"]" * depth + b"}"
    with refused(BadFrame) as info:
        session.deserialize(sign_parts(session, header))
    assert info.value.frame == "header"


# ------------------------------------------------------------------ signatures


def test_unsigned_message(session: Session) -> None:
    frames = message_frames(session)
    frames[0] = b""
    with refused(UnsignedMessage, SignatureError, ValueError) as info:
        session.deserialize(frames)
    assert "Unsigned Message" in str(info.value)


@pytest.mark.parametrize("index", [1, 2, 3, 4], ids=SIGNED)
def test_tampering_with_a_signed_frame(session: Session, index: int) -> None:
    frames = message_frames(session)
    frames[index] = frames[index].replace(b"}", b' ,"extra": 1}', 1) if index != 3 else b"{}"
    assert frames != message_frames(session)
    with refused(InvalidSignature, SignatureError, ValueError) as info:
        session.deserialize(frames)
    assert "Invalid Signature" in str(info.value)
    assert len(session.digest_history) == 0


@pytest.mark.parametrize(
    "forge",
    [
        lambda s: s[:-1] + (b"0" if s[-1:] != b"0" else b"1"),  # one hex digit changed
        lambda s: s.upper(),  # same digest, not the lowercase hex of the spec
        lambda s: s[:-2],  # truncated
        lambda s: s + b"00",  # too long
        lambda s: b"z" * len(s),  # not hex
        lambda s: KEY,  # the key itself: still never echoed back
    ],
)
def test_tampering_with_the_signature(session: Session, forge: Any) -> None:
    frames = message_frames(session)
    frames[0] = forge(frames[0])
    with refused(InvalidSignature):
        session.deserialize(frames)
    assert len(session.digest_history) == 0


def test_buffers_are_not_signed(session: Session) -> None:
    frames = [*message_frames(session), b"original buffer"]
    frames[-1] = b"tampered buffer"
    message = session.deserialize(frames)
    assert [bytes(b) for b in message["buffers"]] == [b"tampered buffer"]


def test_replay_is_a_duplicate(session: Session) -> None:
    frames = message_frames(session)
    session.deserialize(frames)
    with refused(DuplicateSignature, SignatureError, ValueError) as info:
        session.deserialize(frames)
    assert "Duplicate Signature" in str(info.value)
    assert len(session.digest_history) == 1


def test_a_repeated_forgery_stays_invalid_and_is_never_recorded(session: Session) -> None:
    session.deserialize(message_frames(session))
    forged = message_frames(session)
    forged[4] = b'{"status": "forged"}'
    for _ in range(5):
        with refused(InvalidSignature):
            session.deserialize(forged)
    assert len(session.digest_history) == 1
    assert forged[0] not in session.digest_history


def test_jupyter_client_records_forgeries_but_kernelwire_does_not(session: Session) -> None:
    """The reference defect kernelwire avoids, shown side by side on the same frames."""
    reference = jc_session.Session(key=KEY)
    forged = message_frames(session)
    forged[4] = b'{"status": "forged"}'
    with pytest.raises(ValueError, match="Invalid"):
        reference.deserialize(list(forged))
    assert len(reference.digest_history) == 1
    with refused(InvalidSignature):
        session.deserialize(forged)
    assert len(session.digest_history) == 0


def test_peek_verifies_without_recording(session: Session) -> None:
    frames = message_frames(session, status="ok")
    peeked = session.deserialize(frames, content=False)
    assert isinstance(peeked["content"], bytes)
    assert len(session.digest_history) == 0
    peeked_again = session.deserialize(frames, content=False)
    assert peeked_again["header"] == peeked["header"]
    assert session.deserialize(frames)["content"] == {"status": "ok"}
    with refused(DuplicateSignature):
        session.deserialize(frames)
    with refused(DuplicateSignature):  # a peek refuses a replay too
        session.deserialize(frames, content=False)


def test_peek_still_verifies(session: Session) -> None:
    frames = message_frames(session)
    frames[4] = b'{"status": "forged"}'
    with refused(InvalidSignature):
        session.deserialize(frames, content=False)


@pytest.mark.parametrize("signature", [b"", b"garbage", b"0" * 64, KEY])
def test_empty_key_ignores_the_signature_frame(quiet_logs: None, signature: bytes) -> None:
    unkeyed = Session(key=b"")
    sender = Session(key=b"")
    frames = message_frames(sender)
    assert frames[0] == b""
    frames[0] = signature
    for _ in range(2):  # no history either: the same frames are accepted again
        assert unkeyed.deserialize(frames)["content"] == {"status": "ok"}
    assert len(unkeyed.digest_history) == 0


def test_keyed_session_refuses_unsigned_traffic(quiet_logs: None, session: Session) -> None:
    with refused(UnsignedMessage):
        session.deserialize(message_frames(Session(key=b"")))


def test_another_key_is_invalid(session: Session) -> None:
    with refused(InvalidSignature):
        session.deserialize(message_frames(Session(key=b"another key")))


def test_another_scheme_is_invalid(session: Session) -> None:
    other = Session(key=KEY, signature_scheme="hmac-sha512")
    with refused(InvalidSignature) as info:
        session.deserialize(message_frames(other))
    assert "128 bytes" in str(info.value)


# ------------------------------------------------------------------ protocol 4

V4_CASES = {
    "pyout": (
        "execute_result",
        {"execution_count": 2, "data": {"text/plain": "4"}, "metadata": {}},
    ),
    "pyerr": ("error", {"ename": "NameError", "evalue": "x", "traceback": ["tb"]}),
    "object_info_reply": (
        "inspect_reply",
        {
            "status": "ok",
            "found": True,
            "name": "x",
            "definition": "x(a)",
            "docstring": "Doc.",
            "oname": "x",
        },
    ),
    "stream": ("stream", {"name": "stdout", "data": "hello\n"}),
}


@pytest.mark.parametrize("v4_type", sorted(V4_CASES))
def test_protocol_4_messages_are_adapted(session: Session, v4_type: str) -> None:
    v5_type, content = V4_CASES[v4_type]
    header = {
        "msg_id": "old-1",
        "msg_type": v4_type,
        "username": "u",
        "session": "s",
        "date": "2014-01-02T03:04:05.000001",
    }
    frames = sign_parts(session, session.pack(header), content=session.pack(content))
    message = session.deserialize(frames)
    reference = jc_session.Session(key=KEY).deserialize(list(frames))

    assert message["msg_type"] == message["header"]["msg_type"] == v5_type
    assert message["header"]["version"].startswith("5.")
    assert message["msg_type"] == reference["msg_type"]
    assert message["content"] == reference["content"]
    assert "data" not in message["content"] or v4_type != "stream"


# ------------------------------------------------------------------ errors travel


def provoke(session: Session, case: str) -> WireError:
    """The error a Session raises for ``case``, caught."""
    frames = message_frames(session)
    if case == "delimiter":
        frames = [b"no delimiter"]
    elif case == "few":
        frames = frames[:3]
    elif case == "field":
        frames = sign_parts(session, b'{"msg_type": "t"}')
    elif case == "frame":
        frames = sign_parts(session, b'{"msg_id": "m", "msg_type": "t"}', b"[]")
    elif case == "unsigned":
        frames[0] = b""
    elif case == "invalid":
        frames[0] = b"0" * 64
    elif case == "duplicate":
        session.deserialize(list(frames))
    try:
        if case == "delimiter":
            session.feed_identities(frames)
        session.deserialize(frames)
    except WireError as exc:
        return exc
    raise AssertionError(f"no error for {case}")


@pytest.mark.parametrize(
    "case", ["delimiter", "few", "field", "frame", "unsigned", "invalid", "duplicate"]
)
def test_errors_survive_pickling(session: Session, case: str) -> None:
    """Regression: BadFrame could not be unpickled and MissingHeaderField came back
    with its message as its field, so neither crossed a process pool intact."""
    error = provoke(session, case)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    for attribute in ("frame", "reason", "field"):
        assert getattr(copy, attribute, None) == getattr(error, attribute, None)


def test_every_wire_error_is_importable_from_the_package() -> None:
    """``except kernelwire.X`` works for every error the Session or spec validation raises."""
    import kernelwire
    import kernelwire.errors

    defined = {
        name
        for name, value in vars(kernelwire.errors).items()
        if isinstance(value, type) and issubclass(value, kernelwire.errors.WireError)
    }
    assert "SpecViolation" in defined
    assert defined <= set(kernelwire.__all__)
    assert all(getattr(kernelwire, name) is getattr(kernelwire.errors, name) for name in defined)
