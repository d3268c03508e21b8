"""The Session API (REFERENCE.md section 3): module-level names, Message, SessionFactory,
every trait, and the behaviour of msg / serialize / send / send_raw / recv / deserialize /
clone that code written for jupyter_client relies on."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import pickle
import re
import uuid
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from jupyter_client import session as jc_session
from traitlets import TraitError
from traitlets.config import Config

from kernelwire import adapter, jsonutil, packers, transport
from kernelwire import session as kw_session
from kernelwire.errors import DuplicateSignature
from kernelwire.session import DELIM, DONE, Message, Session, SessionFactory

KEY = b"session-api-key-93c1"
WAIT_MS = 10_000
UTC = timezone.utc


@pytest.fixture
def session() -> Session:
    return Session(key=KEY)


@pytest.fixture
def pair(zmq_ctx: zmq.Context[Any]) -> tuple[zmq.Socket[Any], zmq.Socket[Any]]:
    """Two connected PAIR sockets over inproc."""
    a, b = zmq_ctx.socket(zmq.PAIR), zmq_ctx.socket(zmq.PAIR)
    for sock in (a, b):
        sock.linger = 0
    address = f"inproc://api-{uuid.uuid4().hex}"
    a.bind(address)
    b.connect(address)
    return a, b


def recv_frames(sock: zmq.Socket[Any], copy: bool = True) -> list[Any]:
    assert sock.poll(WAIT_MS, zmq.POLLIN), "no message within the timeout"
    return sock.recv_multipart(copy=copy)


def after_delim(frames: list[Any]) -> list[Any]:
    return frames[frames.index(DELIM) + 1 :]


# ------------------------------------------------------------------ module level

MODULE_NAMES = [
    "DELIM",
    "DONE",
    "MAX_ITEMS",
    "MAX_BYTES",
    "PICKLE_PROTOCOL",
    "Message",
    "Session",
    "SessionFactory",
    "adapt",
    "default_secure",
    "extract_dates",
    "extract_header",
    "has_msgpack",
    "has_orjson",
    "json_clean",
    "json_default",
    "json_packer",
    "json_unpacker",
    "msg_header",
    "msgpack_packer",
    "msgpack_unpacker",
    "new_id",
    "new_id_bytes",
    "orjson_packer",
    "orjson_unpacker",
    "pickle_packer",
    "pickle_unpacker",
    "protocol_version",
    "session_aliases",
    "session_flags",
    "squash_dates",
    "squash_unicode",
    "utcnow",
]


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_name_exists_like_jupyter_clients(name: str) -> None:
    ours = getattr(kw_session, name)
    theirs = getattr(jc_session, name, None)
    if theirs is not None:
        assert callable(ours) == callable(theirs)
        if not callable(ours):
            assert type(ours) is type(theirs)


def test_constants() -> None:
    assert DELIM == jc_session.DELIM == b"<IDS|MSG>"
    assert DONE.done and DONE is transport.DONE
    assert isinstance(DONE, zmq.MessageTracker)
    assert kw_session.MAX_ITEMS == jc_session.MAX_ITEMS == 64
    assert kw_session.MAX_BYTES == jc_session.MAX_BYTES == 1024
    assert kw_session.PICKLE_PROTOCOL == jc_session.PICKLE_PROTOCOL == pickle.DEFAULT_PROTOCOL
    assert kw_session.protocol_version == "5.5"


def test_re_exports_and_packer_pairs() -> None:
    assert kw_session.extract_dates is jsonutil.extract_dates
    assert kw_session.json_default is jsonutil.json_default
    assert kw_session.json_clean is jsonutil.json_clean
    assert kw_session.squash_dates is jsonutil.squash_dates
    assert kw_session.adapt is adapter.adapt
    assert kw_session.has_orjson is True and kw_session.has_msgpack is True
    for name in ("json", "orjson", "pickle", "msgpack"):
        pack = getattr(kw_session, f"{name}_packer")
        unpack = getattr(kw_session, f"{name}_unpacker")
        assert (pack, unpack) == packers.builtin_packers()[name]
        assert unpack(pack({"a": [1, "hi"]})) == {"a": [1, "hi"]}


def test_new_id() -> None:
    ids = {kw_session.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{24}", i) for i in ids)
    raw = kw_session.new_id_bytes()
    assert isinstance(raw, bytes) and re.fullmatch(rb"[0-9a-f]{8}-[0-9a-f]{24}", raw)


def test_utcnow_is_aware_utc() -> None:
    before = datetime.now(UTC)
    now = kw_session.utcnow()
    after = datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_msg_header(session: Session) -> None:
    header = kw_session.msg_header("id-1", "kernel_info_request", "alice", session)
    assert header["session"] == session.session
    assert kw_session.msg_header("i", "t", "u", "sid")["session"] == "sid"
    assert header.keys() == {"msg_id", "msg_type", "username", "session", "date", "version"}
    assert (header["msg_id"], header["msg_type"], header["username"]) == (
        "id-1",
        "kernel_info_request",
        "alice",
    )
    assert header["version"] == "5.5"
    assert header["date"].utcoffset() == timedelta(0)


def test_extract_header(session: Session) -> None:
    msg = session.msg("status")
    assert kw_session.extract_header(None) == {}
    assert kw_session.extract_header({}) == {}
    assert kw_session.extract_header(msg) == msg["header"]
    assert kw_session.extract_header(msg["header"]) == msg["header"]
    assert kw_session.extract_header(Message(msg)) == msg["header"]
    with pytest.raises(KeyError):
        kw_session.extract_header({"neither": "a message nor a header"})


def test_squash_unicode() -> None:
    value = {"k": ["v", {"k2": "\u00e9"}], "n": 1, 2: ("t",)}
    assert kw_session.squash_unicode(value) == {
        b"k": [b"v", {b"k2": "\u00e9".encode()}],
        b"n": 1,
        2: ("t",),
    }
    assert kw_session.squash_unicode("s") == b"s"


def test_default_secure() -> None:
    cfg = Config()
    kw_session.default_secure(cfg)
    assert isinstance(cfg.Session.key, bytes) and len(cfg.Session.key) >= 32
    given = Config()
    given.Session.key = b"mine"
    kw_session.default_secure(given)
    assert given.Session.key == b"mine"
    with_file = Config()
    with_file.Session.keyfile = "/some/file"
    kw_session.default_secure(with_file)
    assert "key" not in with_file.Session


def test_aliases_and_flags() -> None:
    assert kw_session.session_aliases == jc_session.session_aliases
    assert kw_session.session_flags.keys() == jc_session.session_flags.keys()
    secure, _ = kw_session.session_flags["secure"]
    assert secure["Session"]["key"]
    insecure, _ = kw_session.session_flags["no-secure"]
    assert insecure["Session"]["key"] == b""


def test_every_jupyter_client_trait_and_method_exists() -> None:
    theirs = jc_session.Session.class_traits()
    ours = Session.class_traits()
    assert set(theirs) <= set(ours)
    configurable = set(jc_session.Session.class_traits(config=True))
    assert configurable <= set(Session.class_traits(config=True))
    methods = {n for n in dir(jc_session.Session) if not n.startswith("_") and n not in theirs}
    methods.discard("message_count")  # a counter attribute, not API; see the report
    assert methods <= set(dir(Session))
    assert hasattr(Session, "_add_digest")


# ------------------------------------------------------------------ Message


def test_message_attribute_access(session: Session) -> None:
    raw = session.msg("execute_request", {"code": "1", "opts": {"deep": {"x": 1}}})
    message = Message(raw)
    assert message.msg_type == "execute_request"
    assert message.header.msg_id == raw["msg_id"]
    assert message.content.opts.deep.x == 1
    assert isinstance(message.content, Message)
    assert message["content"]["code"] == "1"
    assert "header" in message and "nope" not in message
    assert dict(message) == raw
    assert str(message) == repr(dict(message)) == repr(message)
    with pytest.raises(AttributeError):
        _ = message.nope
    message.extra = 5
    assert message["extra"] == 5
    del message.extra
    assert "extra" not in message


def test_message_copies_and_pickles(session: Session) -> None:
    message = Message(session.msg("status", {"nested": {"x": [1]}}))
    for twin in (copy.deepcopy(message), pickle.loads(pickle.dumps(message))):
        assert type(twin) is Message and twin == message
        assert twin.content.nested.x == [1]
    assert getattr(message, "missing", "default") == "default"


def test_message_can_be_serialized_and_sent(
    session: Session, pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]
) -> None:
    a, b = pair
    message = Message(session.msg("status", {"execution_state": "idle"}))
    session.send(a, message)
    _, received = session.recv(b, mode=0)
    assert received["header"] == message["header"]
    assert received["content"] == {"execution_state": "idle"}


# ------------------------------------------------------------------ SessionFactory


def test_session_factory(zmq_ctx: zmq.Context[Any], recwarn: pytest.WarningsRecorder) -> None:
    factory = SessionFactory(logname="kernelwire.test.factory", context=zmq_ctx)
    assert isinstance(factory.session, Session)
    assert factory.log is logging.getLogger("kernelwire.test.factory")
    assert factory.context is zmq_ctx
    given = Session(key=KEY)
    assert SessionFactory(session=given, context=zmq_ctx).session is given


def test_session_factory_routes_session_traits_without_deprecation(
    zmq_ctx: zmq.Context[Any],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        factory = SessionFactory(logname="f", context=zmq_ctx, key=KEY, packer="json")
    assert factory.session.key == KEY
    assert factory.session.packer == "json"
    assert factory.log.name == "f"


# ------------------------------------------------------------------ traits

TRAIT_VALUES: dict[str, Any] = {
    "debug": True,
    "check_pid": False,
    "session": "configured-session",
    "username": "alice",
    "metadata": {"engine": "e1"},
    "key": b"configured-key",
    "signature_scheme": "hmac-sha512",
    "digest_history_size": 123,
    "parse_dates": False,
    "validate_messages": "warn",
    "copy_threshold": 1234,
    "buffer_threshold": 99,
    "item_threshold": 7,
    "packer": "msgpack",
    "unpacker": "msgpack",
}


def test_every_configurable_trait_is_tested() -> None:
    assert set(Session.class_traits(config=True)) == {*TRAIT_VALUES, "keyfile"}


def test_keyfile_is_configurable(tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_bytes(b"from-config\n")
    config = Config()
    config.Session.keyfile = str(keyfile)
    assert Session(config=config).key == b"from-config"


@pytest.mark.parametrize("name", sorted(TRAIT_VALUES))
def test_trait_is_configurable(name: str) -> None:
    config = Config()
    setattr(config.Session, name, TRAIT_VALUES[name])
    configured = Session(config=config)
    assert getattr(configured, name) == TRAIT_VALUES[name]
    assert getattr(Session(), name) != TRAIT_VALUES[name]


def test_configured_traits_take_effect(tmp_path: Path) -> None:
    config = Config()
    config.Session.signature_scheme = "hmac-sha512"
    config.Session.key = KEY
    config.Session.packer = "msgpack"
    config.Session.digest_history_size = 3
    configured = Session(config=config)
    reference = jc_session.Session(config=config)
    frames = configured.serialize(configured.msg("status"))
    assert len(frames[1]) == 128
    assert reference.deserialize(after_delim(frames))["msg_type"] == "status"
    assert configured.digest_mod is hashlib.sha512
    assert configured.digest_history.maxsize == 3


def test_packer_name_sets_both_sides() -> None:
    assert Session(packer="json").unpack is packers.json_unpacker
    assert Session(unpacker="msgpack").pack is packers.msgpack_packer
    switched = Session(packer="pickle")
    switched.unpacker = "json"
    assert (switched.pack, switched.unpack) == (packers.json_packer, packers.json_unpacker)
    assert switched.packer == "json"


def test_import_string_packers() -> None:
    import orjson

    custom = Session(packer="orjson.dumps", unpacker="orjson.loads")
    assert custom.pack is orjson.dumps and custom.unpack is orjson.loads
    frames = custom.serialize(custom.msg("status", {"a": 1}))
    assert custom.deserialize(after_delim(frames))["content"] == {"a": 1}


@pytest.mark.parametrize("name", ["pack", "unpack"])
def test_non_callable_packer_is_a_trait_error(name: str) -> None:
    with pytest.raises(TraitError):
        Session(**{name: 5})
    session = Session()
    with pytest.raises(TraitError):
        setattr(session, name, "not callable")


@pytest.mark.parametrize("scheme", ["hmac-nope", "sha256", "hmac-shake_128", ""])
def test_bad_signature_scheme_is_a_trait_error(scheme: str) -> None:
    with pytest.raises(TraitError):
        Session(key=KEY, signature_scheme=scheme)
    session = Session(key=KEY)
    with pytest.raises(TraitError):
        session.signature_scheme = scheme


def test_keyfile_is_read_in_binary_and_stripped(tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_bytes(b"  \xff\xfe-binary-key \n\n")
    keyed = Session(keyfile=str(keyfile))
    assert keyed.key == b"\xff\xfe-binary-key"
    reference = jc_session.Session(key=b"\xff\xfe-binary-key")
    assert reference.deserialize(after_delim(keyed.serialize(keyed.msg("status"))))


def test_key_change_takes_effect(session: Session) -> None:
    session.key = b"new key"
    frames = session.serialize(session.msg("status"))
    with pytest.raises(ValueError, match="Invalid Signature"):
        jc_session.Session(key=KEY).deserialize(after_delim(frames))
    assert jc_session.Session(key=b"new key").deserialize(after_delim(frames))


def test_setting_session_sets_bsession(session: Session) -> None:
    session.session = "renamed"
    assert session.bsession == b"renamed"
    assert session.msg_id.startswith("renamed_")
    assert session.msg("status")["header"]["session"] == "renamed"


def test_msg_id_is_new_each_read(session: Session) -> None:
    ids = [session.msg_id for _ in range(100)]
    assert len(set(ids)) == 100
    pattern = re.compile(rf"{re.escape(session.session)}_{os.getpid()}_(\d+)")
    numbers = [int(pattern.fullmatch(i).group(1)) for i in ids]  # type: ignore[union-attr]
    assert numbers == sorted(numbers)


def test_clone(tmp_path: Path) -> None:
    original = Session(
        key=KEY,
        signature_scheme="hmac-sha1",
        packer="json",
        username="bob",
        metadata={"m": 1},
        digest_history_size=50,
    )
    original._add_digest(b"seen")
    twin = original.clone()
    for name in (
        "key",
        "signature_scheme",
        "packer",
        "username",
        "metadata",
        "session",
        "digest_history_size",
    ):
        assert getattr(twin, name) == getattr(original, name)
    assert b"seen" in twin.digest_history
    twin._add_digest(b"only in the clone")
    assert b"only in the clone" not in original.digest_history
    ids = [s.msg_id for _ in range(50) for s in (original, twin)]
    assert len(set(ids)) == len(ids)
    frames = twin.serialize(twin.msg("status"))
    assert original.deserialize(after_delim(frames))["msg_type"] == "status"


# ------------------------------------------------------------------ building messages


def test_msg_keys_and_metadata_merge() -> None:
    session = Session(key=KEY, metadata={"default": 1, "over": "a"})
    parent = session.msg("execute_request")
    message = session.msg("execute_reply", {"x": 1}, parent=parent, metadata={"over": "b"})
    assert set(message) == {"header", "msg_id", "msg_type", "parent_header", "content", "metadata"}
    assert message["metadata"] == {"default": 1, "over": "b"}
    assert session.metadata == {"default": 1, "over": "a"}
    assert message["parent_header"] == parent["header"]
    assert message["msg_id"] == message["header"]["msg_id"]
    assert message["header"]["version"] == "5.5"
    assert session.msg("status")["content"] == {}
    assert session.msg("status")["parent_header"] == {}
    header = {"msg_id": "given", "msg_type": "given_type"}
    assert session.msg("ignored", header=header)["header"] is header


def test_serialize_content_rules(session: Session) -> None:
    base = session.msg("status")

    def content_frame(content: Any) -> bytes:
        return session.serialize({**base, "content": content})[-1]

    assert content_frame(None) == packers.orjson_packer({})
    assert content_frame({"a": 1}) == session.pack({"a": 1})
    assert content_frame(b'{"pre":"packed"}') == b'{"pre":"packed"}'
    assert content_frame('{"s":"\u00e9"}') == '{"s":"\u00e9"}'.encode()
    for wrong in ([1, 2], 5, 1.5, object()):
        with pytest.raises(TypeError, match="Content incorrect type"):
            content_frame(wrong)
    session.packer = "msgpack"
    assert content_frame(None) == packers.msgpack_packer({})
    assert session.none == packers.msgpack_packer({})


def test_serialize_with_identities(session: Session) -> None:
    message = session.msg("status")
    assert session.serialize(message, ident=b"one")[:2] == [b"one", DELIM]
    assert session.serialize(message, ident=[b"a", b"b"])[:3] == [b"a", b"b", DELIM]
    frames = session.serialize(message)
    assert frames[0] == DELIM
    assert frames[1] == session.sign(frames[2:6])


def test_send_without_stream_builds_only(session: Session) -> None:
    sent = session.send(None, "status", {"execution_state": "idle"})
    assert sent is not None
    assert sent["tracker"] is DONE
    assert sent["content"] == {"execution_state": "idle"}


def test_send_of_a_dict_keeps_it(
    session: Session, pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]
) -> None:
    a, b = pair
    message = session.msg("execute_request", {"code": "1"})
    message["buffers"] = [b"buffer"]
    before = copy.deepcopy(message)
    sent = session.send(a, message)
    assert message == before
    assert sent is not None and sent is not message
    assert sent["header"] == before["header"]
    _, received = session.recv(b, mode=0)
    assert received["header"] == before["header"]
    assert [bytes(x) for x in received["buffers"]] == [b"buffer"]


def test_send_buffers(session: Session, pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]) -> None:
    a, b = pair
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    session.send(a, "data", {}, buffers=[b"raw", memoryview(b"view"), array])
    _, received = session.recv(b, mode=0)
    buffers = [bytes(x) for x in received["buffers"]]
    assert buffers == [b"raw", b"view", array.tobytes()]
    with pytest.raises(TypeError, match="buffer protocol"):
        session.send(a, "data", {}, buffers=[b"ok", "a str is not a buffer"])
    with pytest.raises(ValueError, match="contiguous"):
        session.send(a, "data", {}, buffers=[np.arange(10)[::2]])
    assert not b.poll(0)


def test_send_raw_signs_the_first_four_parts(
    session: Session, pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]
) -> None:
    a, b = pair
    reference = jc_session.Session(key=KEY)
    message = session.msg("execute_request", {"code": "raw"})
    parts = [session.pack(message[k]) for k in ("header", "parent_header", "metadata", "content")]
    session.send_raw(a, [*parts, b"unsigned buffer"], ident=[b"route"])
    frames = recv_frames(b)
    assert frames[:2] == [b"route", DELIM]
    assert frames[2] == session.sign(parts)
    received = reference.deserialize(after_delim(frames))
    assert received["content"] == {"code": "raw"}
    assert [bytes(x) for x in received["buffers"]] == [b"unsigned buffer"]


def test_recv_with_nothing_waiting(
    session: Session, pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]
) -> None:
    assert session.recv(pair[1]) == (None, None)


def test_zero_copy_receive_gives_memoryviews(
    session: Session, pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]
) -> None:
    a, b = pair
    payload = os.urandom(100_000)
    session.send(a, "data", {"n": 1}, buffers=[payload, b"small"])
    frames = recv_frames(b, copy=False)
    assert all(isinstance(f, zmq.Frame) for f in frames)
    identities, rest = session.feed_identities(frames, copy=False)
    assert identities == []
    message = session.deserialize(rest, copy=False)
    assert all(isinstance(x, memoryview) for x in message["buffers"])
    assert [bytes(x) for x in message["buffers"]] == [payload, b"small"]
    assert message["content"] == {"n": 1}


def test_recv_copy_false(session: Session, pair: tuple[zmq.Socket[Any], zmq.Socket[Any]]) -> None:
    a, b = pair
    session.send(a, "data", {}, buffers=[b"x" * 70_000], ident=[b"i"])
    assert b.poll(WAIT_MS)
    identities, message = session.recv(b, copy=False)
    assert identities == [b"i"]
    assert message is not None
    assert isinstance(message["buffers"][0], memoryview)


def test_unserialize_is_deprecated(session: Session) -> None:
    frames = after_delim(session.serialize(session.msg("status")))
    with pytest.warns(DeprecationWarning, match="deserialize"):
        assert session.unserialize(frames)["msg_type"] == "status"


def test_deserialize_records_like_jupyter_client(session: Session) -> None:
    frames = after_delim(session.serialize(session.msg("status")))
    session.deserialize(frames)
    with pytest.raises(DuplicateSignature):
        session.deserialize(frames)


# ------------------------------------------------------------------ custom packers


def test_check_packers_refuses_a_packer_that_fails() -> None:
    def broken(obj: Any) -> bytes:
        raise RuntimeError("nope")

    with pytest.raises(ValueError, match="could not serialize"):
        Session(pack=broken, unpack=packers.json_unpacker)


def test_check_packers_refuses_non_bytes() -> None:
    with pytest.raises(ValueError, match="bytes"):
        Session(pack=lambda obj: "text", unpack=packers.json_unpacker)


def test_check_packers_refuses_an_unpacker_that_fails() -> None:
    def broken(data: Any) -> Any:
        raise RuntimeError("nope")

    with pytest.raises(ValueError, match="could not handle output"):
        Session(pack=packers.json_packer, unpack=broken)


def test_check_packers_refuses_an_unpacker_that_loses_data() -> None:
    with pytest.raises(ValueError, match="could not handle output"):
        Session(pack=packers.json_packer, unpack=lambda data: {"a": []})


def test_a_packer_that_keeps_datetimes_is_wrapped() -> None:
    def keeps_dates(obj: Any) -> bytes:
        return pickle.dumps(obj)

    custom = Session(key=KEY, pack=keeps_dates, unpack=pickle.loads)
    assert custom.pack is not keeps_dates
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert pickle.loads(custom.pack({"t": when})) == {"t": "2026-01-02T03:04:05Z"}
    frames = after_delim(custom.serialize(custom.msg("status", {"t": when})))
    message = custom.deserialize(frames)
    assert message["content"] == {"t": "2026-01-02T03:04:05Z"}
    assert isinstance(message["header"]["date"], datetime)


# ------------------------------------------------------------------ receiving


def test_parse_dates_false_keeps_strings() -> None:
    sender = Session(key=KEY)
    receiver = Session(key=KEY, parse_dates=False)
    parent = sender.msg("execute_request")
    frames = after_delim(sender.serialize(sender.msg("execute_reply", parent=parent)))
    message = receiver.deserialize(frames)
    assert isinstance(message["header"]["date"], str)
    assert isinstance(message["parent_header"]["date"], str)
    parsed = Session(key=KEY).deserialize(frames)["header"]["date"]
    assert jsonutil.parse_date(message["header"]["date"]) == parsed


def test_outputs_of_one_request_get_parent_headers_of_their_own() -> None:
    """The receive path reuses the parent header it unpacked last (every output of a
    request carries the same one): each message still gets its own dict, dates parsed as
    configured at the time, and nested values are never shared between messages."""
    sender, receiver = Session(key=KEY), Session(key=KEY)
    parent = sender.msg("execute_request")
    parent["header"]["future_field"] = {"nested": [1]}  # nested: not reused
    flat_parent = sender.msg("execute_request")

    def outputs(request: dict[str, Any], count: int = 2) -> list[dict[str, Any]]:
        return [
            receiver.deserialize(
                after_delim(sender.serialize(sender.msg("stream", parent=request)))
            )
            for _ in range(count)
        ]

    first, second = (m["parent_header"] for m in outputs(flat_parent))
    assert (
        first
        == second
        == Session(key=KEY).deserialize(
            after_delim(sender.serialize(sender.msg("stream", parent=flat_parent)))
        )["parent_header"]
    )
    assert isinstance(second["date"], datetime)
    second["msg_id"] = "changed by the application"
    assert outputs(flat_parent, 1)[0]["parent_header"]["msg_id"] == flat_parent["msg_id"]
    first, second = (m["parent_header"] for m in outputs(parent))
    first["future_field"]["nested"].append(2)
    assert second["future_field"] == {"nested": [1]}
    receiver.parse_dates = False
    assert isinstance(outputs(flat_parent, 1)[0]["parent_header"]["date"], str)
    receiver.parse_dates = True
    outputs(flat_parent, 1)
    # a header, then a content, only the tolerant parser reads (a byte that is not UTF-8)
    for part, field in ((1, b'"username":"'), (4, b'"text":"')):
        frames = after_delim(sender.serialize(sender.msg("stream", {"text": ""}, flat_parent)))
        frames[part] = frames[part].replace(field, field + b"\xff")
        frames[0] = sender.sign(frames[1:])
        assert isinstance(receiver.deserialize(frames)["parent_header"]["date"], datetime)

    class AttrDict(dict[str, Any]):
        pass

    attr_receiver = Session(
        key=KEY, unpack=lambda data: json.loads(bytes(data), object_hook=AttrDict)
    )
    sent = [sender.serialize(sender.msg("stream", parent=flat_parent)) for _ in range(2)]
    for frames in sent:  # an unpacker's own dict class stays, reused parent or not
        assert type(attr_receiver.deserialize(after_delim(frames))["parent_header"]) is AttrDict
    with pytest.MonkeyPatch.context() as patch:  # date parsing replaced, as ipyparallel does
        patch.setattr(kw_session, "extract_dates", lambda header: {**header, "seen": header})
        seen = outputs(flat_parent, 1)[0]["parent_header"]["seen"]
        assert isinstance(seen["date"], str)  # the replacement is given the text


def test_unknown_header_fields_survive_receive_and_resend(session: Session) -> None:
    header = session.msg_header("execute_request")
    header["subshell_id"] = "sub-7"
    header["future_field"] = {"nested": [1]}
    frames = after_delim(session.serialize(session.msg("execute_request", header=header)))
    received = session.deserialize(frames)
    assert received["header"]["subshell_id"] == "sub-7"
    resent = session.send(None, received)
    assert resent is not None
    again = Session(key=KEY).deserialize(after_delim(session.serialize(resent)))
    assert again["header"]["subshell_id"] == "sub-7"
    assert again["header"]["future_field"] == {"nested": [1]}


def test_version_is_stamped(session: Session) -> None:
    frames = after_delim(session.serialize(session.msg("status")))
    assert jc_session.Session(key=KEY).deserialize(frames)["header"]["version"] == "5.5"
