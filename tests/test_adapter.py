"""Tests for kernelwire.adapter, using jupyter_client.adapter as the oracle."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jupyter_client import adapter as jc

from kernelwire import adapter as kw
from kernelwire.adapter import V4toV5, V5toV4, adapt, adapters, code_to_line, extract_oname_v4

DATE = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def make_msg(
    msg_type: str,
    content: Any,
    version: Any = "5.3",
    *,
    parent: Any = None,
    date: bool = True,
) -> dict[str, Any]:
    """A message dict as Session.deserialize produces it; version=None means no key (v4)."""
    header: dict[str, Any] = {"msg_id": "m1", "msg_type": msg_type, "session": "s1"}
    header["username"] = "u"
    if date:
        header["date"] = DATE
    if version is not None:
        header["version"] = version
    return {
        "header": header,
        "parent_header": {} if parent is None else parent,
        "metadata": {"k": [1, 2]},
        "content": content,
        "msg_id": "m1",
        "msg_type": msg_type,
        "buffers": [],
    }


def v5(msg_type: str, content: Any, **kw_: Any) -> dict[str, Any]:
    return make_msg(msg_type, content, "5.3", **kw_)


def v4(msg_type: str, content: Any, **kw_: Any) -> dict[str, Any]:
    return make_msg(msg_type, content, None, **kw_)


V5_PARENT = {"msg_id": "p1", "msg_type": "execute_request", "version": "5.3", "date": DATE}
V4_PARENT = {"msg_id": "p1", "msg_type": "execute_request", "date": DATE}

V5_MESSAGES = {
    "kernel_info_reply/ipython": v5(
        "kernel_info_reply",
        {
            "status": "ok",
            "protocol_version": "5.3",
            "implementation": "ipython",
            "implementation_version": "8.20.0",
            "language_info": {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"},
            "banner": "Python 3.11",
            "help_links": [],
        },
    ),
    "kernel_info_reply/other": v5(
        "kernel_info_reply",
        {
            "status": "ok",
            "protocol_version": "5.0",
            "implementation": "ir",
            "implementation_version": "1.0",
            "language_info": {"name": "R", "version": "4.3.2rc1"},
        },
    ),
    "kernel_info_reply/toplevel-language-version": v5(
        "kernel_info_reply",
        {"language_version": "1.2", "language_info": {"name": "x", "version": "9.9"}},
    ),
    "kernel_info_reply/empty": v5("kernel_info_reply", {}),
    "kernel_info_reply/error": v5("kernel_info_reply", {"status": "error", "ename": "E"}),
    "execute_request": v5(
        "execute_request",
        {
            "code": "a = 1",
            "silent": False,
            "store_history": True,
            "user_expressions": {"x": "a"},
            "allow_stdin": True,
            "stop_on_error": True,
        },
        parent=V5_PARENT,
    ),
    "execute_request/has-user-variables": v5(
        "execute_request", {"code": "", "user_variables": ["q"]}
    ),
    "execute_reply": v5(
        "execute_reply",
        {
            "status": "ok",
            "execution_count": 3,
            "payload": [{"source": "page", "data": {"text/plain": "doc"}, "start": 0}],
            "user_expressions": {},
        },
        parent=V5_PARENT,
    ),
    "execute_reply/error": v5(
        "execute_reply", {"status": "error", "ename": "E", "evalue": "", "traceback": []}
    ),
    "execute_reply/aborted": v5("execute_reply", {"status": "aborted"}),
    "complete_request/multiline": v5(
        "complete_request", {"code": "import os\nos.pa\nx = 1", "cursor_pos": 15}
    ),
    "complete_request/line-end": v5("complete_request", {"code": "ab\ncd", "cursor_pos": 2}),
    "complete_request/past-end": v5("complete_request", {"code": "ab\ncd", "cursor_pos": 40}),
    "complete_request/empty-code": v5("complete_request", {"code": "", "cursor_pos": 0}),
    "complete_reply": v5(
        "complete_reply",
        {
            "status": "ok",
            "matches": ["os.path", "os.pathsep"],
            "cursor_start": 10,
            "cursor_end": 15,
            "metadata": {"_jupyter_types_experimental": []},
        },
    ),
    "complete_reply/error": v5("complete_reply", {"status": "error", "matches": []}),
    "inspect_request": v5(
        "inspect_request",
        {"code": "x = np.linalg.norm(a, axis=(1)", "cursor_pos": 12, "detail_level": 1},
    ),
    "inspect_request/multiline": v5(
        "inspect_request",
        {"code": "foo(1)\nbar.baz(qux(2), ", "cursor_pos": 9, "detail_level": 0},
    ),
    "inspect_request/nested-calls": v5(
        "inspect_request", {"code": "foo(bar(1), 2).baz", "cursor_pos": 3, "detail_level": 0}
    ),
    "inspect_reply": v5(
        "inspect_reply",
        {"status": "ok", "found": True, "data": {"text/plain": "doc"}, "metadata": {}},
    ),
    "stream": v5("stream", {"name": "stdout", "text": "hello\n"}, parent=V5_PARENT),
    "display_data": v5(
        "display_data",
        {
            "data": {"text/plain": "x", "application/json": {"a": [1, 2, None]}},
            "metadata": {},
            "transient": {"display_id": "d"},
        },
    ),
    "display_data/has-source": v5(
        "display_data", {"source": "kept", "data": {"text/plain": "x"}, "metadata": {}}
    ),
    "display_data/no-json": v5("display_data", {"data": {"text/plain": "x"}, "metadata": {}}),
    "display_data/unencodable-json": v5(
        "display_data", {"data": {"application/json": {1, 2}}, "metadata": {}}
    ),
    "input_request": v5("input_request", {"prompt": "pw: ", "password": True}),
    "execute_result": v5(
        "execute_result",
        {"execution_count": 1, "data": {"application/json": {"a": 1}}, "metadata": {}},
    ),
    "execute_input": v5("execute_input", {"code": "1", "execution_count": 1}),
    "error": v5("error", {"ename": "E", "evalue": "v", "traceback": []}),
    "status": v5("status", {"execution_state": "idle"}, parent=V5_PARENT),
    "comm_msg": v5("comm_msg", {"comm_id": "c", "data": {}}),
    "no-date": v5("stream", {"name": "stdout", "text": "x"}, date=False),
}

V4_MESSAGES = {
    "kernel_info_reply/ipython": v4(
        "kernel_info_reply",
        {
            "protocol_version": [4, 1],
            "ipython_version": [2, 4, 1, ""],
            "language_version": [2, 7, 6],
            "language": "python",
        },
    ),
    "kernel_info_reply/other": v4(
        "kernel_info_reply",
        {"protocol_version": [4, 0], "ipython_version": [2, 0], "language": "julia"},
    ),
    "kernel_info_reply/python3": v4(
        "kernel_info_reply", {"language": "python3", "ipython_version": [3, 0]}
    ),
    "kernel_info_reply/minimal": v4("kernel_info_reply", {"language": "python3"}),
    "kernel_info_reply/with-language-info": v4(
        "kernel_info_reply",
        {
            "language": "x",
            "language_version": [1],
            "language_info": {"version": "keep", "name": "kept"},
        },
    ),
    "execute_request": v4(
        "execute_request",
        {
            "code": "a",
            "silent": False,
            "user_variables": ["a", "b"],
            "user_expressions": {"c": "c+1"},
        },
        parent=V4_PARENT,
    ),
    "execute_request/no-user-variables": v4("execute_request", {"code": "a"}),
    "execute_reply": v4(
        "execute_reply",
        {
            "status": "ok",
            "execution_count": 1,
            "user_variables": {"a": {"status": "ok"}},
            "user_expressions": {"c": {"status": "ok"}},
            "payload": [
                {"source": "page", "text": "help!", "start_line_number": 0},
                {"source": "page", "text": "more", "data": {"text/html": "<b>"}},
                {"source": "set_next_input", "text": "x"},
            ],
        },
        parent=V4_PARENT,
    ),
    "execute_reply/bare": v4("execute_reply", {"status": "ok", "execution_count": 1}),
    "execute_reply/error": v4(
        "execute_reply", {"status": "error", "user_variables": {}, "ename": "E"}
    ),
    "complete_request": v4(
        "complete_request", {"text": "os.pa", "line": "x = os.pa", "block": None, "cursor_pos": 9}
    ),
    "complete_reply": v4(
        "complete_reply", {"status": "ok", "matches": ["os.path"], "matched_text": "os.pa"}
    ),
    "complete_reply/no-matched-text": v4(
        "complete_reply", {"status": "ok", "matches": ["a", "b"], "matched_text": ""}
    ),
    "object_info_request": v4("object_info_request", {"oname": "np.sum", "detail_level": 0}),
    "object_info_reply/call": v4(
        "object_info_reply",
        {
            "found": True,
            "oname": "f",
            "call_def": "f(x)",
            "definition": "unused",
            "call_docstring": "",
            "init_docstring": "init doc",
            "docstring": "unused",
        },
    ),
    "object_info_reply/definition-only": v4(
        "object_info_reply", {"found": True, "oname": "f", "definition": "f()"}
    ),
    "object_info_reply/empty": v4("object_info_reply", {"found": True, "oname": "f"}),
    "object_info_reply/not-found": v4("object_info_reply", {"found": False, "oname": "f"}),
    "stream": v4("stream", {"name": "stderr", "data": "oops"}, parent=V4_PARENT),
    "display_data": v4(
        "display_data",
        {
            "source": "display",
            "data": {"text/plain": "x", "application/json": '{"a": [1, null]}'},
            "metadata": {},
        },
    ),
    "display_data/bad-json": v4(
        "display_data", {"source": "x", "data": {"application/json": "{nope"}, "metadata": {}}
    ),
    "input_request": v4("input_request", {"prompt": "> "}),
    "input_request/has-password": v4("input_request", {"prompt": "> ", "password": True}),
    "pyout": v4("pyout", {"execution_count": 1, "data": {}, "metadata": {}}),
    "pyin": v4("pyin", {"code": "1", "execution_count": 1}),
    "pyerr": v4("pyerr", {"ename": "E", "evalue": "v", "traceback": []}),
    "status": v4("status", {"execution_state": "busy"}, parent=V4_PARENT),
    "no-date": v4("pyout", {"data": {}}, date=False),
}


def oracle(msg: dict[str, Any], to_version: int) -> dict[str, Any]:
    """jupyter_client's answer; it mutates its argument, so give it a copy."""
    return jc.adapt(copy.deepcopy(msg), to_version)


def assert_matches_oracle(msg: dict[str, Any], to_version: int) -> dict[str, Any]:
    snapshot = copy.deepcopy(msg)
    ours = adapt(msg, to_version)
    theirs = oracle(msg, to_version)
    assert msg == snapshot, "adapt modified its input"
    assert ours.keys() == theirs.keys()
    if "date" not in msg["header"]:
        # both sides filled in "now"; check ours is an aware UTC timestamp, then align
        assert ours["header"]["date"].utcoffset() == timedelta(0)
        assert abs(ours["header"]["date"] - theirs["header"]["date"]) < timedelta(seconds=5)
        ours = {**ours, "header": {**ours["header"], "date": theirs["header"]["date"]}}
    assert ours == theirs
    return ours


@pytest.mark.parametrize("name", sorted(V5_MESSAGES))
def test_v5_to_v4_matches_jupyter_client(name: str) -> None:
    assert_matches_oracle(V5_MESSAGES[name], 4)


@pytest.mark.parametrize("name", sorted(V4_MESSAGES))
def test_v4_to_v5_matches_jupyter_client(name: str) -> None:
    assert_matches_oracle(V4_MESSAGES[name], 5)


def test_oracle_cases_cover_every_handled_type_and_rename() -> None:
    for adapter_, cases in ((V5toV4, V5_MESSAGES), (V4toV5, V4_MESSAGES)):
        covered = {m["msg_type"] for m in cases.values()}
        assert set(adapter_.content_handlers) <= covered
        assert set(adapter_.msg_type_map) <= covered


def test_some_results_spelled_out() -> None:
    """Pin a few outputs independently of the oracle."""
    out = adapt(V5_MESSAGES["complete_request/multiline"], 4)
    assert out["content"] == {"text": "", "line": "os.pa\n", "block": None, "cursor_pos": 5}
    assert "version" not in out["header"]
    assert "version" not in adapt(V5_MESSAGES["stream"], 4)["parent_header"]

    out = adapt(V4_MESSAGES["object_info_reply/call"], 5)
    assert out["msg_type"] == out["header"]["msg_type"] == "inspect_reply"
    assert out["content"]["data"] == {"text/plain": "f(x)\ninit doc"}
    assert out["header"]["version"] == "5.0"
    assert adapt(V4_MESSAGES["stream"], 5)["parent_header"]["version"] == "5.0"

    assert extract_oname_v4("foo(bar(1), 2).baz", 0) == "foo.baz"
    assert extract_oname_v4("x = np.linalg.norm(a, axis=(1)", 0) == "np.linalg.norm"

    out = adapt(V4_MESSAGES["complete_reply"], 5)
    assert (out["content"]["cursor_start"], out["content"]["cursor_end"]) == (-5, None)


def test_empty_parent_header_is_not_stamped() -> None:
    out = adapt(v4("status", {"execution_state": "idle"}), 5)
    assert out["parent_header"] == {}


# ---------------------------------------------------------------- no mutation, fresh output

ALL_CASES = [(m, 4) for m in V5_MESSAGES.values()] + [(m, 5) for m in V4_MESSAGES.values()]


@pytest.mark.parametrize(("msg", "to_version"), ALL_CASES)
def test_output_is_independent_of_input(msg: dict[str, Any], to_version: int) -> None:
    snapshot = copy.deepcopy(msg)
    out = adapt(msg, to_version)
    assert msg == snapshot
    assert out is not msg
    for key in ("header", "parent_header", "metadata", "content"):
        assert out[key] is not msg[key]
    for key in ("header", "parent_header", "metadata", "content"):
        out[key]["scribbled"] = True
    assert msg == snapshot


def test_changed_nested_containers_are_copied() -> None:
    msg = V4_MESSAGES["execute_reply"]
    out = adapt(msg, 5)
    out["content"]["user_expressions"]["new"] = 1
    out["content"]["payload"][0]["data"]["text/html"] = "x"
    out["content"]["payload"].append(None)
    assert "new" not in msg["content"]["user_expressions"]
    assert len(msg["content"]["payload"]) == 3
    assert "data" not in msg["content"]["payload"][0]

    msg = V5_MESSAGES["display_data"]
    out = adapt(msg, 4)
    assert isinstance(msg["content"]["data"]["application/json"], dict)
    assert isinstance(out["content"]["data"]["application/json"], str)


def test_buffers_are_shared() -> None:
    msg = v5("comm_msg", {}, parent=V5_PARENT)
    msg["buffers"] = [memoryview(b"abc")]
    assert adapt(msg, 4)["buffers"] is msg["buffers"]


def test_date_is_filled_without_touching_input() -> None:
    msg = v5("status", {"execution_state": "idle"}, date=False)
    before = datetime.now(timezone.utc)
    out = adapt(msg)
    assert "date" not in msg["header"]
    assert before <= out["header"]["date"] <= datetime.now(timezone.utc)
    assert out["header"]["date"].tzinfo is not None
    assert {**out["header"], "date": None} == {**msg["header"], "date": None}


# ---------------------------------------------------------------- fast path


def test_current_version_message_is_returned_as_is() -> None:
    msg = v5("execute_result", {"data": {}})
    assert adapt(msg) is msg
    assert adapt(msg, 5) is msg
    msg4 = v4("pyout", {"data": {}})
    assert adapt(msg4, 4) is msg4


def test_current_version_skips_version_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(header: Any) -> None:
        raise AssertionError("the hot path parsed the version")

    monkeypatch.setattr(kw, "_source_major", unexpected)
    msg = v5("status", {"execution_state": "idle"})
    assert adapt(msg) is msg


@pytest.mark.parametrize("to_version", [3, 6, 0])
def test_unsupported_target_passes_through(to_version: int) -> None:
    msg = v5("stream", {"name": "stdout", "text": "x"})
    assert adapt(msg, to_version) is msg


# ---------------------------------------------------------------- explicit tables

ODD_TYPES = [
    "version",
    "update_header",
    "adapt",
    "__class__",
    "__init__",
    "__call__",
    "msg_type_map",
    "content_handlers",
    "_stamped",
    "_adapted_content",
    "handle_reply_status_error",
    "pyout",
    "object_info_request",
    "inspect_request",
]


UNLISTED = [
    (msg_type, version, to_version)
    for version, to_version, adapter_ in (("5.3", 4, V5toV4), (None, 5, V4toV5))
    for msg_type in ODD_TYPES
    if msg_type not in adapter_.content_handlers and msg_type not in adapter_.msg_type_map
]


@pytest.mark.parametrize(("msg_type", "version", "to_version"), UNLISTED)
def test_unlisted_msg_types_only_get_header_work(msg_type: str, version: Any, to_version: int):
    content = {"code": "x", "cursor_pos": 1, "oname": "x", "detail_level": 0, "text": "t"}
    msg = make_msg(msg_type, content, version)
    out = adapt(msg, to_version)
    assert out["content"] == content
    assert out["msg_type"] == out["header"]["msg_type"] == msg_type
    assert out["header"].get("version") == (None if to_version == 4 else "5.0")


# ---------------------------------------------------------------- odd versions

ODD_VERSIONS = ["", "abc", "  ", ".5", "x.5", "5x.1", None, 5, 5.0, True, [5], {"v": 5}]


@pytest.mark.parametrize("version", ODD_VERSIONS, ids=repr)
@pytest.mark.parametrize("to_version", [4, 5])
def test_unreadable_version_passes_through(version: Any, to_version: int) -> None:
    msg = make_msg("stream", {"name": "stdout", "data": "x"})
    msg["header"]["version"] = version
    assert adapt(msg, to_version) is msg


def test_unreadable_version_still_gets_a_date() -> None:
    msg = make_msg("stream", {"name": "stdout", "data": "x"}, date=False)
    msg["header"]["version"] = ""
    out = adapt(msg)
    assert isinstance(out["header"]["date"], datetime)
    assert out["content"] is msg["content"]
    assert "date" not in msg["header"]


@pytest.mark.parametrize(("version", "major"), [("5", 5), (" 5.1", 5), ("5.x", 5), ("4.1", 4)])
def test_version_major_is_read_like_jupyter_client(version: str, major: int) -> None:
    msg = make_msg("stream", {"name": "stdout", "text": "x"}, version)
    out = adapt(msg, 4)
    assert (out is msg) == (major == 4)
    assert_matches_oracle(msg, 4)


@given(st.text(max_size=8) | st.from_regex(r"\s*[+-]?[0-9_]{1,3}\s*(\..*)?", fullmatch=True))
def test_version_strings_agree_with_jupyter_client_where_it_copes(version: str) -> None:
    msg = make_msg("stream", {"name": "stdout", "text": "x"}, version)
    try:
        theirs = oracle(msg, 4)
    except (ValueError, AttributeError):
        assert adapt(msg, 4) is msg
    else:
        assert adapt(msg, 4) == theirs


# ---------------------------------------------------------------- malformed content

HANDLED = [(t, 4) for t in V5toV4.content_handlers] + [(t, 5) for t in V4toV5.content_handlers]


@pytest.mark.parametrize(("msg_type", "to_version"), HANDLED)
@pytest.mark.parametrize("content", [None, [], "text", 5, [("code", "x")]], ids=repr)
def test_non_dict_content_is_kept(msg_type: str, to_version: int, content: Any) -> None:
    msg = make_msg(msg_type, content, "5.3" if to_version == 4 else None)
    out = adapt(msg, to_version)
    assert out["content"] == content
    renames = (V5toV4 if to_version == 4 else V4toV5).msg_type_map
    assert out["msg_type"] == out["header"]["msg_type"] == renames.get(msg_type, msg_type)


MALFORMED = [
    # (to_version, msg_type, content)
    (4, "kernel_info_reply", {"protocol_version": 5}),
    (4, "kernel_info_reply", {"language_info": "python"}),
    (4, "kernel_info_reply", {"language_info": {"version": [3, 11]}}),
    (4, "kernel_info_reply", {"implementation": "ipython", "implementation_version": None}),
    (4, "complete_request", {"cursor_pos": 3}),
    (4, "complete_request", {"code": "abc"}),
    (4, "complete_request", {"code": "abc", "cursor_pos": "3"}),
    (4, "complete_request", {"code": None, "cursor_pos": 0}),
    (4, "complete_reply", {"matches": ["a"], "cursor_start": 0}),
    (4, "complete_reply", {"matches": ["a"], "cursor_start": 0, "cursor_end": None}),
    (4, "complete_reply", {"matches": "abc", "cursor_start": 0, "cursor_end": 1}),
    (4, "complete_reply", {"matches": [["a"]], "cursor_start": 0, "cursor_end": 1}),
    (4, "inspect_request", {"code": "x", "cursor_pos": 1}),
    (4, "inspect_request", {"cursor_pos": 1, "detail_level": 0}),
    (4, "stream", {"name": "stdout"}),
    (4, "display_data", {"metadata": {}}),
    (4, "display_data", {"data": "application/json"}),
    (5, "kernel_info_reply", {"protocol_version": [4, 1]}),
    (5, "kernel_info_reply", {"language": 3}),
    (5, "kernel_info_reply", {"language": "python", "protocol_version": "4.1"}),
    (5, "kernel_info_reply", {"language": "python", "language_info": []}),
    (5, "kernel_info_reply", {"language": "python", "language_version": 2}),
    (5, "execute_request", {"code": "", "user_variables": "ab"}),
    (5, "execute_request", {"code": "", "user_variables": [1]}),
    (5, "execute_request", {"code": "", "user_expressions": []}),
    (5, "execute_reply", {"status": "ok", "user_variables": ["a"]}),
    (5, "execute_reply", {"status": "ok", "payload": {"source": "page"}}),
    (5, "execute_reply", {"status": "ok", "payload": ["page"]}),
    (5, "execute_reply", {"status": "ok", "payload": [{"source": "page", "text": "t", "data": 1}]}),
    (5, "complete_request", {"text": "", "cursor_pos": 0}),
    (5, "complete_request", {"line": "x"}),
    (5, "complete_reply", {"matches": []}),
    (5, "complete_reply", {"matches": [], "matched_text": None}),
    (5, "object_info_request", {"detail_level": 0}),
    (5, "object_info_request", {"oname": ["x"], "detail_level": 0}),
    (5, "object_info_request", {"oname": "x"}),
    (5, "object_info_reply", {"oname": "x"}),
    (5, "object_info_reply", {"found": True, "definition": ["f()"]}),
    (5, "stream", {"name": "stdout", "text": "already v5"}),
    (5, "display_data", {"source": "display"}),
    (5, "display_data", {"data": ["application/json"]}),
]


@pytest.mark.parametrize(("to_version", "msg_type", "content"), MALFORMED, ids=repr)
def test_content_missing_or_mistyped_fields_is_kept(
    to_version: int, msg_type: str, content: dict[str, Any]
) -> None:
    msg = make_msg(msg_type, content, "5.3" if to_version == 4 else None)
    snapshot = copy.deepcopy(msg)
    out = adapt(msg, to_version)
    assert out["content"] == content
    assert out["content"] is not content
    assert msg == snapshot
    assert out["header"].get("version") == (None if to_version == 4 else "5.0")


def test_complete_reply_without_matches_has_empty_matched_text() -> None:
    msg = v5(
        "complete_reply",
        {"status": "ok", "matches": [], "cursor_start": 2, "cursor_end": 2, "metadata": {}},
    )
    with pytest.raises(IndexError):  # the defect this behaviour replaces
        oracle(msg, 4)
    assert adapt(msg, 4)["content"] == {"status": "ok", "matches": [], "matched_text": ""}


@pytest.mark.parametrize(
    "msg", [None, [], "msg", {}, {"header": None}, {"header": ["x"]}], ids=repr
)
def test_messages_without_a_dict_header_are_returned_as_is(msg: Any) -> None:
    for to_version in (4, 5):
        assert adapt(msg, to_version) is msg
    for adapter_ in adapters.values():
        assert adapter_(msg) is msg


def test_missing_parent_and_metadata_are_not_invented() -> None:
    msg = {"header": {"msg_type": "pyout", "date": DATE}, "content": {}}
    assert adapt(msg, 5) == {
        "header": {"msg_type": "execute_result", "date": DATE, "version": "5.0"},
        "msg_type": "execute_result",
        "content": {},
    }


# ---------------------------------------------------------------- property tests

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = sorted(
    {
        "status", "code", "cursor_pos", "line", "text", "data", "matches", "matched_text",
        "cursor_start", "cursor_end", "metadata", "oname", "detail_level", "found", "definition",
        "call_def", "docstring", "init_docstring", "source", "password", "language",
        "language_info", "language_version", "protocol_version", "ipython_version",
        "implementation", "implementation_version", "user_variables", "user_expressions",
        "payload", "name", "version",
    }
)  # fmt: skip
field_values = json_values | st.sampled_from(
    [{"application/json": "{}"}, {"application/json": {"a": 1}}, ["a", "b"], [1, 2],
     [{"source": "page", "text": "t"}], {"name": "py", "version": "1.2"}, "error", "aborted"]
)  # fmt: skip
contents = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=4), field_values)
msg_types = (
    st.sampled_from(
        sorted(
            set(V5toV4.content_handlers)
            | set(V4toV5.content_handlers)
            | set(V5toV4.msg_type_map)
            | set(V4toV5.msg_type_map)
            | set(ODD_TYPES)
        )
    )
    | json_values
)
versions = st.sampled_from(["5.0", "5.3", "4.1", "5", "4", "6.0", "", "abc"]) | json_values


@st.composite
def messages(draw: st.DrawFn) -> Any:
    header: dict[str, Any] = draw(st.dictionaries(st.text(max_size=4), json_values, max_size=3))
    if draw(st.booleans()):
        header["msg_type"] = draw(msg_types)
    if draw(st.booleans()):
        header["version"] = draw(versions)
    if draw(st.booleans()):
        header["date"] = DATE
    msg: dict[str, Any] = {
        "header": draw(st.just(header) | json_values),
        "msg_id": "m",
        "msg_type": header.get("msg_type"),
    }
    for key, strategy in (
        ("parent_header", st.just({"version": "5.3", "msg_id": "p"}) | json_values),
        ("metadata", json_values),
        ("content", contents | json_values),
    ):
        if draw(st.booleans()):
            msg[key] = draw(strategy)
    return msg | draw(st.dictionaries(st.text(max_size=3), json_values, max_size=2))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), st.sampled_from([4, 5, 6]))
def test_adapt_never_raises_and_never_mutates(msg: Any, to_version: int) -> None:
    snapshot = copy.deepcopy(msg)
    out = adapt(msg, to_version)
    assert msg == snapshot
    assert isinstance(out, dict)


# ---- well-formed random messages: exact agreement with jupyter_client

lines = st.text(st.characters(codec="utf-8"), max_size=30)


@given(code=lines, data=st.data())
def test_code_to_line_and_oname_agree_with_jupyter_client(code: str, data: st.DataObject):
    pos = data.draw(st.integers(-2, len(code) + 3))
    assert code_to_line(code, pos) == jc.code_to_line(code, pos)
    assert extract_oname_v4(code, pos) == jc.extract_oname_v4(code, pos)


@given(st.text(alphabet="ab_.( )\n1=,", max_size=40), st.integers(0, 45))
def test_oname_on_code_like_text_agrees_with_jupyter_client(code: str, pos: int) -> None:
    assert extract_oname_v4(code, pos) == jc.extract_oname_v4(code, pos)


version_text = st.from_regex(r"[0-9]{1,2}(\.[0-9a-z]{1,3}){0,3}", fullmatch=True)


@st.composite
def well_formed_v5(draw: st.DrawFn) -> dict[str, Any]:
    code = draw(lines)
    pos = draw(st.integers(0, len(code)))
    start = draw(st.integers(0, 10))
    info = {"name": draw(st.text(max_size=5))}
    if draw(st.booleans()):
        info["version"] = draw(version_text)
    choices = {
        "complete_request": {"code": code, "cursor_pos": pos},
        "inspect_request": {"code": code, "cursor_pos": pos, "detail_level": 0},
        "complete_reply": {
            "status": "ok",
            "matches": draw(st.lists(st.text(max_size=8), min_size=1, max_size=3)),
            "cursor_start": start,
            "cursor_end": start + draw(st.integers(0, 10)),
            "metadata": {},
        },
        "kernel_info_reply": {
            "status": "ok",
            "protocol_version": draw(version_text),
            "implementation": draw(st.sampled_from(["ipython", "other"])),
            "implementation_version": draw(version_text),
            "language_info": info,
        },
        "stream": {"name": "stdout", "text": code},
        "display_data": {"data": {"application/json": draw(json_values)}, "metadata": {}},
        "execute_request": {"code": code, "user_expressions": {"a": "b"}},
        "execute_reply": {"status": draw(st.sampled_from(["ok", "error"])), "user_expressions": {}},
        "input_request": {"prompt": code, "password": draw(st.booleans())},
    }
    msg_type = draw(st.sampled_from(sorted(choices)))
    return v5(msg_type, choices[msg_type], parent=draw(st.sampled_from([{}, V5_PARENT])))


@st.composite
def well_formed_v4(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(lines)
    names = draw(st.lists(st.text(max_size=4), max_size=3))
    doc_keys = ["call_def", "init_definition", "definition", "call_docstring", "docstring"]
    choices = {
        "complete_request": {"text": "", "line": text, "block": None, "cursor_pos": len(text)},
        "complete_reply": {"status": "ok", "matches": names, "matched_text": text},
        "object_info_request": {"oname": text, "detail_level": 1},
        "object_info_reply": {
            "found": draw(st.booleans()),
            **draw(st.dictionaries(st.sampled_from(doc_keys), st.text(max_size=4))),
        },
        "kernel_info_reply": {
            "language": draw(st.sampled_from(["python", "python3", "julia"])),
            **draw(
                st.dictionaries(
                    st.sampled_from(["protocol_version", "ipython_version", "language_version"]),
                    st.lists(st.integers(0, 20) | st.text(max_size=2), max_size=3),
                )
            ),
        },
        "execute_request": {"code": text, "user_variables": names},
        "execute_reply": {
            "status": "ok",
            "user_variables": {n: {"status": "ok"} for n in names},
            "payload": [{"source": "page", "text": text}],
        },
        "stream": {"name": "stdout", "data": text},
        "display_data": {"source": "x", "data": {"application/json": text}, "metadata": {}},
        "input_request": {"prompt": text},
    }
    msg_type = draw(st.sampled_from(sorted(choices)))
    return v4(msg_type, choices[msg_type], parent=draw(st.sampled_from([{}, V4_PARENT])))


@settings(max_examples=300)
@given(well_formed_v5())
def test_random_v5_messages_agree_with_jupyter_client(msg: dict[str, Any]) -> None:
    assert_matches_oracle(msg, 4)


@settings(max_examples=300)
@given(well_formed_v4())
def test_random_v4_messages_agree_with_jupyter_client(msg: dict[str, Any]) -> None:
    assert_matches_oracle(msg, 5)


# ---------------------------------------------------------------- round trips

LOSSLESS = [
    "execute_request",
    "execute_reply",
    "execute_reply/error",
    "stream",
    "display_data",
    "display_data/no-json",
    "execute_result",
    "execute_input",
    "error",
    "status",
    "comm_msg",
]


def without_version(header: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in header.items() if k != "version"}


def assert_round_trips(msg: dict[str, Any]) -> None:
    back = adapt(adapt(msg, 4), 5)
    assert back["content"] == msg["content"]
    assert back["msg_type"] == msg["msg_type"]
    assert without_version(back["header"]) == without_version(msg["header"])
    assert without_version(back["parent_header"]) == without_version(msg["parent_header"])
    assert back["header"]["version"] == "5.0"


@pytest.mark.parametrize("name", LOSSLESS)
def test_round_trip_v5_v4_v5(name: str) -> None:
    assert_round_trips(V5_MESSAGES[name])


def test_round_trip_input_request_without_password() -> None:
    assert_round_trips(v5("input_request", {"prompt": "> ", "password": False}))


json_objects = st.dictionaries(st.text(max_size=5), json_values, max_size=4)


@given(
    st.sampled_from(["stream", "display_data", "complete_request", "execute_request"]),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    json_objects,
)
def test_round_trip_property(msg_type: str, text: str, obj: dict[str, Any]) -> None:
    line = "".join(text.splitlines())  # single-line code survives complete_request
    content = {
        "stream": {"name": "stdout", "text": text},
        "display_data": {"data": {"application/json": obj, "text/plain": text}, "metadata": {}},
        "complete_request": {"code": line, "cursor_pos": len(line) // 2},
        "execute_request": {"code": text, "silent": False, "user_expressions": obj},
    }[msg_type]
    assert_round_trips(v5(msg_type, content, parent=V5_PARENT))


# ---------------------------------------------------------------- the public surface


def test_public_names_match_jupyter_client() -> None:
    for name in ("adapt", "code_to_line", "extract_oname_v4", "Adapter", "V5toV4", "V4toV5"):
        assert hasattr(kw, name) and hasattr(jc, name)
    assert set(adapters) == set(jc.adapters) == {(5, 4), (4, 5)}
    assert isinstance(adapters[(5, 4)], V5toV4)
    assert isinstance(adapters[(4, 5)], V4toV5)
    assert dict(V5toV4.msg_type_map) == jc.V5toV4.msg_type_map
    assert dict(V4toV5.msg_type_map) == jc.V4toV5.msg_type_map


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        V5toV4.content_handlers["version"] = lambda c: c


def test_a_subclass_defines_a_direction_with_tables() -> None:
    class Shout(kw.Adapter):
        version = "9.9"
        msg_type_map = {"stream": "shout"}
        content_handlers = {"stream": lambda c: {**c, "text": c["text"].upper()}}

    out = Shout()(v5("stream", {"name": "stdout", "text": "hi"}))
    assert out["msg_type"] == "shout"
    assert out["content"]["text"] == "HI"
    assert out["header"]["version"] == "9.9"


def test_json_roundtrip_of_display_data_uses_plain_json_dumps() -> None:
    obj = {"é": [1.5, None, True]}
    out = adapt(v5("display_data", {"data": {"application/json": obj}, "metadata": {}}), 4)
    assert out["content"]["data"]["application/json"] == json.dumps(obj)
