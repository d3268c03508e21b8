"""kernelwire.spec: the JSON Schemas of protocol 5.5 and ``validate``.

One valid content per message type passes (and jupyter_kernel_test's own validator accepts
the same where it has a schema); each wrong field is named in the SpecViolation; what the
spec leaves open (unknown types, extra fields, optional fields) passes; whatever the input,
validate raises nothing but SpecViolation (hypothesis); Session.validate_messages checks
received messages over real zmq sockets in its three modes; without jsonschema, validate
says what to install.
"""

from __future__ import annotations

import copy
import json
import logging
import pickle
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jupyter_kernel_test import msgspec_v5
from traitlets import TraitError
from traitlets.log import get_logger

from helpers import bound_pair, endpoint, recv_within
from kernelwire import spec
from kernelwire.errors import SpecViolation, WireError
from kernelwire.message import msg_header, new_id
from kernelwire.session import Session
from kernelwire.spec.types import CONTENT_TYPES

KEY = b"spec-test-key"
ERROR = {"status": "error", "ename": "NameError", "evalue": "x", "traceback": ["line"]}
KERNEL_INFO = {
    "status": "ok",
    "protocol_version": "5.5",
    "implementation": "kernelwire",
    "implementation_version": "1.0",
    "language_info": {
        "name": "python",
        "version": "3.11.7",
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "codemirror_mode": {"name": "ipython", "version": 3},
    },
    "banner": "",
    "help_links": [{"text": "Python", "url": "https://docs.python.org"}],
    "supported_features": ["kernel subshells"],
}
# one valid content of every message type of protocol 5.5
VALID: dict[str, dict[str, Any]] = {
    "execute_request": {
        "code": "1",
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": True,
        "stop_on_error": True,
    },
    "execute_reply": {"status": "ok", "execution_count": 1, "payload": [], "user_expressions": {}},
    "inspect_request": {"code": "print", "cursor_pos": 5, "detail_level": 0},
    "inspect_reply": {"status": "ok", "found": True, "data": {"text/plain": "x"}, "metadata": {}},
    "complete_request": {"code": "import o", "cursor_pos": 8},
    "complete_reply": {
        "status": "ok",
        "matches": ["os"],
        "cursor_start": 7,
        "cursor_end": 8,
        "metadata": {},
    },
    "history_request": {"output": True, "raw": True, "hist_access_type": "tail", "n": 3},
    "history_reply": {"status": "ok", "history": [[1, 1, "a = 1"], [1, 2, ["a", None]]]},
    "is_complete_request": {"code": "for i in x:"},
    "is_complete_reply": {"status": "incomplete", "indent": "    "},
    "connect_request": {},
    "connect_reply": {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "hb_port": 4},
    "comm_info_request": {"target_name": "jupyter.widget"},
    "comm_info_reply": {"status": "ok", "comms": {"abc": {"target_name": "jupyter.widget"}}},
    "kernel_info_request": {},
    "kernel_info_reply": KERNEL_INFO,
    "shutdown_request": {"restart": False},
    "shutdown_reply": {"status": "ok", "restart": False},
    "interrupt_request": {},
    "interrupt_reply": {"status": "ok"},
    "debug_request": {"type": "request", "seq": 1, "command": "debugInfo"},
    "debug_reply": {"type": "response", "success": True, "command": "debugInfo", "body": {}},
    "create_subshell_request": {},
    "create_subshell_reply": {"status": "ok", "subshell_id": "sub-1"},
    "delete_subshell_request": {"subshell_id": "sub-1"},
    "delete_subshell_reply": {"status": "ok"},
    "list_subshell_request": {},
    "list_subshell_reply": {"status": "ok", "subshell_id": ["sub-1"]},
    "iopub_welcome": {"subscription": ""},
    "stream": {"name": "stdout", "text": "hi\n"},
    "display_data": {
        "data": {"text/plain": "x", "application/vnd.jupyter.widget-view+json": {}},
        "metadata": {},
        "transient": {"display_id": "d1"},
    },
    "update_display_data": {"data": {}, "metadata": {}, "transient": {"display_id": "d1"}},
    "execute_input": {"code": "1", "execution_count": 1},
    "execute_result": {"execution_count": 1, "data": {"text/plain": "1"}, "metadata": {}},
    "error": {"ename": "NameError", "evalue": "x", "traceback": []},
    "status": {"execution_state": "idle"},
    "clear_output": {"wait": False},
    "debug_event": {"type": "event", "seq": 2, "event": "stopped", "body": {}},
    "comm_open": {"comm_id": "c1", "target_name": "t", "data": {}, "target_module": None},
    "comm_msg": {"comm_id": "c1", "data": {"x": 1}},
    "comm_close": {"comm_id": "c1", "data": {}},
    "input_request": {"prompt": "name? ", "password": False},
    "input_reply": {"value": "kernelwire"},
}
REPLIES_WITH_STATUS = sorted(
    name
    for name, content in VALID.items()
    if name.endswith("_reply") and content.get("status") == "ok"
)


def _message(msg_type: str, content: Any, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    header = msg_header(new_id(), msg_type, "user", "session-1")
    return {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": msg_type,
        "parent_header": parent or {},
        "metadata": {},
        "content": content,
        "buffers": [],
    }


def _violation(msg: Any) -> SpecViolation:
    with pytest.raises(SpecViolation) as info:
        spec.validate(msg)
    return info.value


def _jkt_rejects(msg: dict[str, Any]) -> bool:
    try:
        msgspec_v5.validate_message(msg, msg["msg_type"])
    except Exception:
        return True
    return False


# ------------------------------------------------------------------------ the schemas


def test_every_message_type_has_a_schema_and_a_typed_dict() -> None:
    assert spec.message_types() == set(VALID) == set(CONTENT_TYPES)


@pytest.mark.parametrize("name", ["message", "header", "defs", *sorted(VALID)])
def test_schemas_are_draft_2020_12(name: str) -> None:
    schema = spec.schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_files_work_on_their_own_with_references_resolved_from_disk() -> None:
    # as another tool would use them: each file loaded by its file:// URI, references
    # followed relative to it, no kernelwire code involved
    from importlib import resources

    from referencing import Registry, Resource

    root = Path(str(resources.files("kernelwire.spec").joinpath("schemas")))

    def from_disk(uri: str) -> Resource[Any]:
        return Resource.from_contents(json.loads(Path(unquote(urlparse(uri).path)).read_text()))

    registry: Registry[Any] = Registry(retrieve=from_disk)
    content_uri = (root / "content" / "execute_reply.json").as_uri()
    content = Draft202012Validator({"$ref": content_uri}, registry=registry)
    assert content.is_valid(VALID["execute_reply"])
    assert not content.is_valid(dict(ERROR, execution_count=1, traceback=[1]))
    message = Draft202012Validator({"$ref": (root / "message.json").as_uri()}, registry=registry)
    msg = _message("status", {"execution_state": "idle"})
    msg["header"]["date"] = msg["header"]["date"].isoformat()
    assert message.is_valid(msg)
    msg["header"]["date"] = "yesterday"
    assert not message.is_valid(msg)


def test_schema_returns_a_fresh_copy_and_refuses_unknown_names() -> None:
    spec.schema("header")["required"].clear()
    assert "msg_id" in spec.schema("header")["required"]
    with pytest.raises(KeyError):
        spec.schema("no_such_message")


# ------------------------------------------------------------------- valid messages


@pytest.mark.parametrize("msg_type", sorted(VALID))
def test_valid_messages_pass(msg_type: str) -> None:
    parent = msg_header(new_id(), "execute_request", "user", "client-session")
    spec.validate(_message(msg_type, VALID[msg_type], parent))


# jupyter_kernel_test's schemas refuse every input_request (they want ``password`` to be a
# number, the spec says bool) and every connect_reply (they want a status, which it has not)
JKT_MISREAD = {"input_request", "connect_reply"}


@pytest.mark.parametrize(
    "msg_type", sorted(set(VALID) & set(msgspec_v5.schema_fragments) - JKT_MISREAD)
)
def test_jupyter_kernel_test_accepts_the_same_samples(msg_type: str) -> None:
    assert not _jkt_rejects(_message(msg_type, VALID[msg_type]))


@pytest.mark.parametrize("msg_type", REPLIES_WITH_STATUS)
def test_error_and_aborted_replies_pass(msg_type: str) -> None:
    error = dict(ERROR, execution_count=1) if msg_type == "execute_reply" else ERROR
    spec.validate(_message(msg_type, error))
    spec.validate(_message(msg_type, {"status": "aborted"}))


@pytest.mark.parametrize("msg_type", REPLIES_WITH_STATUS)
def test_an_error_reply_needs_the_error_fields(msg_type: str) -> None:
    content = {k: v for k, v in ERROR.items() if k != "traceback"}
    content["execution_count"] = 1
    error = _violation(_message(msg_type, content))
    assert (error.msg_type, error.field, error.reason) == (
        msg_type,
        "content.traceback",
        "is missing",
    )


def test_unknown_message_types_pass_with_any_content_object() -> None:
    spec.validate(_message("my_extension_request", {"anything": [1, {"goes": None}]}))
    spec.validate(_message("execute_request_v2", {}))


@pytest.mark.parametrize("msg_type", sorted(VALID))
def test_extra_fields_pass(msg_type: str) -> None:
    msg = _message(msg_type, dict(VALID[msg_type], x_extension={"new": True}))
    msg["header"]["x_trace_id"] = "abc"
    msg["tracker"] = object()  # what Session.send adds
    spec.validate(msg)


def test_optional_fields_may_be_left_out() -> None:
    spec.validate(_message("execute_request", {"code": "1"}))
    spec.validate(_message("execute_reply", {"status": "ok", "execution_count": 3}))
    spec.validate(_message("inspect_request", {"code": "x", "cursor_pos": 1}))
    spec.validate(_message("display_data", {"data": {}, "metadata": {}}))
    spec.validate(_message("comm_info_request", {}))
    # ipykernel answers with an empty debug_reply when it has no debugger
    spec.validate(_message("debug_reply", {}))
    info = {k: v for k, v in KERNEL_INFO.items() if k not in ("help_links", "supported_features")}
    spec.validate(_message("kernel_info_reply", info))


def test_dates_may_be_datetimes_and_the_message_is_not_changed() -> None:
    parent = msg_header(new_id(), "execute_request", "user", "client")
    msg = _message("status", {"execution_state": "busy"}, parent)
    assert isinstance(msg["header"]["date"], datetime)
    before = copy.deepcopy(msg)
    spec.validate(msg)
    assert msg == before
    msg["header"]["date"] = "2026-11-25T21:00:00.123456Z"
    msg["parent_header"]["date"] = datetime(2026, 11, 25, 21, 0)  # naive: still a date
    spec.validate(msg)


# ------------------------------------------------------------------- wrong messages

# msg_type, content, the field named, the reason, and whether jupyter_kernel_test's own
# validator refuses it too (where it is False, kernelwire follows the spec more closely)
WRONG = [
    ("execute_request", {"code": 1}, "content.code", "is an integer, not a string", True),
    (
        "execute_reply",
        {"status": "ok", "execution_count": "1"},
        "content.execution_count",
        "is a string, not an integer",
        True,
    ),
    (
        "execute_reply",
        dict(ERROR, execution_count=1, traceback=["ok", 2]),
        "content.traceback[1]",
        "is an integer, not a string",
        True,
    ),
    (
        "inspect_request",
        {"code": "x", "cursor_pos": 1, "detail_level": 2},
        "content.detail_level",
        "is 2, not one of 0, 1",
        True,
    ),
    (
        "complete_reply",
        dict(VALID["complete_reply"], matches="os"),
        "content.matches",
        "is a string, not an array",
        True,
    ),
    (
        "history_request",
        {"output": False, "raw": True, "hist_access_type": "all"},
        "content.hist_access_type",
        "is 'all', not one of 'range', 'tail', 'search'",
        True,
    ),
    (
        "history_reply",
        {"status": "ok", "history": [[1, "2", "x"]]},
        "content.history[0][1]",
        "is a string, not an integer",
        False,
    ),
    (
        "is_complete_reply",
        {"status": "done"},
        "content.status",
        "is 'done', not one of 'complete', 'incomplete', 'invalid', 'unknown', 'error', 'aborted'",
        True,
    ),
    (
        "comm_info_reply",
        {"status": "ok", "comms": {"c1": {"target_name": 3}}},
        "content.comms.c1.target_name",
        "is an integer, not a string",
        False,
    ),
    (
        "kernel_info_reply",
        dict(KERNEL_INFO, language_info={"version": "3", "mimetype": "", "file_extension": ""}),
        "content.language_info.name",
        "is missing",
        False,
    ),
    (
        "kernel_info_reply",
        dict(KERNEL_INFO, supported_features="debugger"),
        "content.supported_features",
        "is a string, not an array",
        False,
    ),
    ("shutdown_request", {"restart": "yes"}, "content.restart", "is a string, not a boolean", True),
    (
        "debug_request",
        {"type": "event", "command": "x"},
        "content.type",
        "is 'event', not 'request'",
        False,
    ),
    (
        "create_subshell_reply",
        {"status": "ok", "subshell_id": 5},
        "content.subshell_id",
        "is an integer, not a string",
        False,
    ),
    ("delete_subshell_request", {}, "content.subshell_id", "is missing", False),
    (
        "list_subshell_reply",
        {"status": "ok", "subshell_id": "sub-1"},
        "content.subshell_id",
        "is a string, not an array",
        False,
    ),
    (
        "iopub_welcome",
        {"subscription": None},
        "content.subscription",
        "is null, not a string",
        False,
    ),
    (
        "stream",
        {"name": "stdlog", "text": ""},
        "content.name",
        "is 'stdlog', not one of 'stdout', 'stderr'",
        True,
    ),
    (
        "display_data",
        {"data": {"plain": "x"}, "metadata": {}},
        "content.data",
        "has the key 'plain', not a MIME type",
        True,
    ),
    (
        "update_display_data",
        {"data": {}, "metadata": {}, "transient": {}},
        "content.transient.display_id",
        "is missing",
        False,
    ),
    (
        "execute_input",
        {"code": "1", "execution_count": None},
        "content.execution_count",
        "is null, not an integer",
        True,
    ),
    (
        "execute_result",
        {"execution_count": 1, "data": {}, "metadata": []},
        "content.metadata",
        "is an array, not an object",
        True,
    ),
    (
        "error",
        {"ename": "E", "evalue": 3, "traceback": []},
        "content.evalue",
        "is an integer, not a string",
        True,
    ),
    (
        "status",
        {"execution_state": "sleeping"},
        "content.execution_state",
        "is 'sleeping', not one of 'busy', 'idle', 'starting'",
        True,
    ),
    ("clear_output", {"wait": "no"}, "content.wait", "is a string, not a boolean", True),
    (
        "debug_event",
        {"type": "event", "event": 3},
        "content.event",
        "is an integer, not a string",
        False,
    ),
    (
        "comm_open",
        {"comm_id": None, "target_name": "t", "data": {}},
        "content.comm_id",
        "is null, not a string",
        False,
    ),
    (
        "comm_msg",
        {"comm_id": "c", "data": "x"},
        "content.data",
        "is a string, not an object",
        False,
    ),
    ("comm_close", {"data": {}}, "content.comm_id", "is missing", False),
    (
        "input_request",
        {"prompt": "?", "password": "no"},
        "content.password",
        "is a string, not a boolean",
        True,
    ),
    ("input_reply", {"value": 5}, "content.value", "is an integer, not a string", True),
]


@pytest.mark.parametrize(("msg_type", "content", "field", "reason", "jkt_too"), WRONG)
def test_the_wrong_field_is_named(
    msg_type: str, content: dict[str, Any], field: str, reason: str, jkt_too: bool
) -> None:
    msg = _message(msg_type, content)
    error = _violation(msg)
    assert (error.msg_type, error.field, error.reason) == (msg_type, field, reason)
    assert str(error) == f"{msg_type} message: {field} {reason}"
    if jkt_too:
        assert _jkt_rejects(msg)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda m: m["header"].update(msg_id=7), "header.msg_id", "is an integer, not a string"),
        (lambda m: m["header"].pop("version"), "header.version", "is missing"),
        (lambda m: m["header"].pop("date"), "header.date", "is missing"),
        (
            lambda m: m["header"].update(date="yesterday"),
            "header.date",
            "is 'yesterday', not an ISO 8601 date and time",
        ),
        (
            lambda m: m["header"].update(version="five"),
            "header.version",
            "is 'five', not a version such as '5.5'",
        ),
        (
            lambda m: m["header"].update(subshell_id=3),
            "header.subshell_id",
            "is an integer, not a string or null",
        ),
        (lambda m: m.update(header=[]), "header", "is an array, not an object"),
        # xeus-python 0.19 sends its iopub_welcome so; the spec asks for {}
        (lambda m: m.update(parent_header=None), "parent_header", "is null, not an object"),
        (
            lambda m: m.update(parent_header=dict(msg_header("p", "x", "u", "s"), msg_type=5)),
            "parent_header.msg_type",
            "is an integer, not a string",
        ),
        (lambda m: m.update(metadata=[]), "metadata", "is an array, not an object"),
        (lambda m: m.pop("content"), "content", "is missing"),
        (lambda m: m.update(content="{}"), "content", "is a string, not an object"),
        (lambda m: m.update(buffers=b""), "buffers", "is a bytes, not an array"),
    ],
)
def test_wrong_envelopes_are_named(change: Any, field: str, reason: str) -> None:
    msg = _message("execute_request", {"code": "1"})
    change(msg)
    error = _violation(msg)
    assert (error.field, error.reason) == (field, reason)


def test_a_parent_header_is_checked_as_a_header() -> None:
    msg = _message("status", {"execution_state": "idle"}, {"msg_id": "x"})
    assert _violation(msg).field.startswith("parent_header.")


def test_a_message_that_is_not_a_dict() -> None:
    error = _violation([1, 2])
    assert (error.msg_type, error.field, str(error)) == (
        None,
        "",
        "message: the message is an array, not an object",
    )


def test_received_values_are_quoted_briefly() -> None:
    huge = "x" * 100_000
    error = _violation(_message("stream", {"name": huge, "text": ""}))
    assert error.field == "content.name"
    assert len(str(error)) < 300


def test_spec_violation_is_a_wire_error_and_a_value_error_that_pickles() -> None:
    error = _violation(_message("stream", {"name": "stdout", "text": 1}))
    assert isinstance(error, WireError)
    assert isinstance(error, ValueError)
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.msg_type, copied.field, copied.reason, str(copied)) == (
        error.msg_type,
        error.field,
        error.reason,
        str(error),
    )


# ----------------------------------------------------------- nothing but SpecViolation

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ODD_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # nan and infinities included
    | st.text(max_size=20)
    | st.binary(max_size=8)
    | st.datetimes()
    | st.just(object())
)
ANY_VALUE = st.recursive(
    ODD_LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8) | st.integers() | st.none(), children, max_size=4)
    ),
    max_leaves=20,
)
FIELD_NAMES = sorted(
    {name for content in VALID.values() for name in content}
    | {"status", "ename", "evalue", "traceback", "execution_count", "transient", "display_id"}
)


def _only_spec_violations(msg: Any) -> None:
    try:
        spec.validate(msg)
    except SpecViolation as exc:
        assert isinstance(exc.field, str)
        assert isinstance(str(exc), str)


@PROPERTY_SETTINGS
@given(ANY_VALUE)
def test_anything_at_all(msg: Any) -> None:
    _only_spec_violations(msg)


@PROPERTY_SETTINGS
@given(
    st.sampled_from(sorted(VALID)),
    st.sampled_from(["header", "parent_header", "metadata", "content", "top"]),
    st.sampled_from([*FIELD_NAMES, "msg_id", "msg_type", "date", "version", "subshell_id"]),
    ANY_VALUE,
    st.sampled_from(sorted(VALID)),
)
def test_valid_messages_with_one_field_replaced(
    msg_type: str, part: str, field: str, value: Any, header_type: str
) -> None:
    parent = msg_header(new_id(), "execute_request", "user", "client")
    msg = _message(msg_type, copy.deepcopy(VALID[msg_type]), parent)
    msg["header"]["msg_type"] = header_type  # content checked against another type's schema
    target = msg if part == "top" else msg[part]
    target[field] = value
    _only_spec_violations(msg)


# ------------------------------------------------------ Session.validate_messages


@pytest.fixture
def pair(zmq_ctx: zmq.Context[Any], tmp_path: Path) -> tuple[Any, Any]:
    return bound_pair(zmq_ctx, (zmq.PAIR, zmq.PAIR), endpoint("inproc", tmp_path))


def _send(sock: Any, msg_type: str, content: dict[str, Any]) -> None:
    Session(key=KEY).send(sock, msg_type, content)


BAD_REPLY = {"status": "ok", "execution_count": "3"}


def test_raise_mode_refuses_a_message_that_breaks_the_spec(pair: tuple[Any, Any]) -> None:
    sender, receiver = pair
    session = Session(key=KEY, validate_messages="raise")
    _send(sender, "execute_reply", BAD_REPLY)
    with pytest.raises(SpecViolation) as info:
        recv_within(session, receiver)
    assert info.value.field == "content.execution_count"
    _send(sender, "execute_reply", {"status": "ok", "execution_count": 3})
    _, msg = recv_within(session, receiver)
    assert msg["content"]["execution_count"] == 3


def test_warn_mode_logs_and_keeps_the_message(
    pair: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sender, receiver = pair
    session = Session(key=KEY, validate_messages="warn")
    _send(sender, "execute_reply", BAD_REPLY)
    # traitlets' logger: an Application's once another test made one, which may not
    # propagate to the root logger caplog listens on, or may have a higher level; listen on
    # it directly, and only there
    logger = get_logger()
    saved = logger.propagate, logger.level
    logger.addHandler(caplog.handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        _, msg = recv_within(session, receiver)
    finally:
        logger.removeHandler(caplog.handler)
        logger.propagate = saved[0]
        logger.setLevel(saved[1])
    assert msg["content"] == BAD_REPLY
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "received a message that breaks the spec: execute_reply message: "
        "content.execution_count is a string, not an integer"
    ]


def test_off_is_the_default_and_checks_nothing(
    pair: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sender, receiver = pair
    session = Session(key=KEY)
    assert session.validate_messages == "off"
    _send(sender, "execute_reply", BAD_REPLY)
    with caplog.at_level(logging.WARNING):
        _, msg = recv_within(session, receiver)
    assert msg["content"] == BAD_REPLY
    assert not [r for r in caplog.records if "spec" in r.getMessage()]


def test_the_mode_changes_at_run_time_and_survives_clone(pair: tuple[Any, Any]) -> None:
    sender, receiver = pair
    session = Session(key=KEY)
    session.validate_messages = "raise"
    clone = session.clone()
    _send(sender, "execute_reply", BAD_REPLY)
    with pytest.raises(SpecViolation):
        recv_within(clone, receiver)
    clone.validate_messages = "off"
    _send(sender, "execute_reply", BAD_REPLY)
    assert recv_within(clone, receiver)[1]["content"] == BAD_REPLY


def test_a_peek_is_not_checked(pair: tuple[Any, Any]) -> None:
    sender, receiver = pair
    session = Session(key=KEY, validate_messages="raise")
    _send(sender, "execute_reply", BAD_REPLY)
    frames = receiver.recv_multipart() if receiver.poll(10_000) else []
    _, msg_list = session.feed_identities(frames)
    peeked = session.deserialize(msg_list, content=False)
    assert peeked["msg_type"] == "execute_reply"
    with pytest.raises(SpecViolation):
        session.deserialize(msg_list)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(TraitError):
        Session(key=KEY, validate_messages="strict")


# ------------------------------------------------------------ without jsonschema


def _run(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_without_jsonschema_validate_says_what_to_install() -> None:
    out = _run(
        """
        import sys
        for banned in ("jsonschema", "referencing", "zmq", "traitlets"):
            sys.modules[banned] = None  # any import of them now raises ImportError
        from kernelwire import spec
        assert spec.schema("header")["title"] == "header"  # the schemas need nothing
        try:
            spec.validate({})
        except ImportError as exc:
            print(exc)
        """
    )
    assert "pip install 'kernelwire[spec]'" in out


def test_without_jsonschema_a_checking_session_cannot_be_made() -> None:
    out = _run(
        """
        import sys
        sys.modules["jsonschema"] = None
        from kernelwire.session import Session
        Session(key=b"k")  # off: fine
        try:
            Session(key=b"k", validate_messages="warn")
        except ImportError as exc:
            print(exc)
        """
    )
    assert "pip install 'kernelwire[spec]'" in out


def test_validate_is_sans_io() -> None:
    out = _run(
        """
        import sys
        for banned in ("zmq", "traitlets", "tornado"):
            sys.modules[banned] = None
        from kernelwire import spec
        from kernelwire.message import msg_header
        header = msg_header("id-1", "stream", "user", "session-1")
        msg = {"header": header, "parent_header": {}, "metadata": {},
               "content": {"name": "stdout", "text": 1}}
        try:
            spec.validate(msg)
        except spec.SpecViolation as exc:
            print(exc.field)
        """
    )
    assert out == "content.text"
