"""Translate Jupyter messages between protocol major versions 4 and 5.

Every deserialized message passes through ``adapt`` on its way in, and a
Session talking to an old kernel passes outgoing messages through it too, so
the module is written to be wire-compatible with ``jupyter_client.adapter``
while being safe on arbitrary input and cheap on the common path.

Rules (each one is a deliberate difference from ``jupyter_client``):

* **Explicit dispatch.** Content rewrites are looked up in a per-adapter dict
  keyed by the ``msg_type`` the sender used. Any other ``msg_type`` (including
  names such as ``"version"`` or ``"__init__"``) gets only the header work:
  the ``version`` stamp and the 4 <-> 5 renames.
* **Source version.** A header without a ``version`` key is protocol 4 (the
  key was introduced in 5). A ``version`` that is a string is read by applying
  ``int()`` to the text before the first ``"."``, so ``"5.3"``, ``"5"`` and
  ``" 5.1"`` are all 5, exactly as ``jupyter_client`` reads them. Any other
  value (``""``, ``"abc"``, ``None``, the int ``5``...) is an unknown version:
  no adapter applies and the message passes through, as it does for a known
  but unsupported major such as ``"6.0"``. Guessing 4 for a header that does
  carry a version would rewrite content that was most likely already v5.
* **Malformed content is left alone.** A rewrite checks the fields it needs;
  if content is not a dict, lacks one of those fields, or has it with a type
  the rewrite cannot use, the content is copied unchanged (the header work
  still happens). A message whose header is not a dict is returned as is.
  As in ``jupyter_client``, replies with status ``error`` or ``aborted`` keep
  their content, and an ``application/json`` value that cannot be encoded or
  decoded is kept as it was.
* **No mutation.** The input is never modified. A rewritten message has fresh
  top-level ``header``, ``parent_header``, ``metadata`` and ``content`` dicts,
  plus fresh copies of any nested container the rewrite changes; values it
  does not change (and ``buffers``) are shared with the input.
* **Cheap when nothing changes.** A message already at the target version,
  with a ``date`` in its header, is returned as the very same object.
* A v5 ``complete_reply`` with no matches becomes a v4 reply with
  ``matched_text == ""`` (``jupyter_client`` raises ``IndexError``).

Like ``jupyter_client``, a header missing ``date`` gets an aware UTC
``datetime`` of now, whatever the versions involved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from kernelwire._version import protocol_version_info

__all__ = ["Adapter", "V4toV5", "V5toV4", "adapt", "adapters", "code_to_line", "extract_oname_v4"]

Message = dict[str, Any]
Content = dict[str, Any]
ContentRewrite = Callable[[Content], Content]

_CURRENT_MAJOR: int = protocol_version_info[0]
_CURRENT_PREFIX = f"{_CURRENT_MAJOR}."
# Headers gained their "version" key in protocol 5.
_UNVERSIONED_MAJOR = 4
# Replies in these states are forwarded with their content untouched.
_UNADAPTED_STATUSES = ("error", "aborted")
_JSON_MIME = "application/json"


class _Malformed(Exception):
    """Content lacks a field a rewrite needs, or has it with an unusable type."""


_REQUIRED: Any = object()


def _field(content: Content, key: str, kind: Any = object, default: Any = _REQUIRED) -> Any:
    """Read ``content[key]``, raising ``_Malformed`` instead of KeyError/TypeError."""
    value = content.get(key, default)
    if value is _REQUIRED or (value is not default and not isinstance(value, kind)):
        raise _Malformed(key)
    return value


def _without(content: Content, *keys: str) -> Content:
    return {k: v for k, v in content.items() if k not in keys}


def _int_parts(version: str) -> list[int]:
    """``"3.11.4rc1"`` -> ``[3, 11]``: v4 carried versions as int lists; skip non-int parts."""
    parts = []
    for piece in version.split("."):
        try:
            parts.append(int(piece))
        except ValueError:
            continue
    return parts


def _dotted(parts: list[Any] | tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in parts)


def _converted(convert: Callable[[Any], Any], value: Any) -> Any:
    """Apply a best-effort JSON conversion to an opaque payload, keeping it on any failure."""
    try:
        return convert(value)
    except Exception:  # the payload is arbitrary user data; any failure means "keep it"
        return value


def code_to_line(code: str, cursor_pos: int) -> tuple[str, int]:
    """Return the line of ``code`` holding ``cursor_pos`` and the cursor's offset in it.

    v4 completion and introspection requests carried one line, not a cell. As
    in ``jupyter_client``, a cursor just after a newline counts as the end of
    the line that newline closes, and a cursor past the end of ``code`` lands
    on the last line with whatever offset remains after subtracting every
    line's length (the last one included).
    """
    if not code:
        return "", 0
    for line in code.splitlines(keepends=True):  # non-empty code has at least one line
        if cursor_pos <= len(line):
            break
        cursor_pos -= len(line)
    return line, cursor_pos


_INNER_CALL = re.compile(r"\([^()]+\)")
_OPEN_CALL_TAIL = re.compile(r"\([^(]*$")
_DOTTED_NAME = re.compile(r"[_a-z][._0-9a-z]*", re.IGNORECASE)


def extract_oname_v4(code: str, cursor_pos: int) -> str:
    """Guess the object name a v4 ``object_info_request`` should carry.

    This follows the IPython 2 frontend heuristic that ``jupyter_client``
    reproduces: take the *whole* line holding the cursor, drop closed call
    parentheses (innermost first) and everything from the last unclosed ``(``,
    then return the last dotted name left, or ``""``.
    """
    line = code_to_line(code, cursor_pos)[0]
    removed = 1
    while removed:
        line, removed = _INNER_CALL.subn("", line)
    names = _DOTTED_NAME.findall(_OPEN_CALL_TAIL.sub("", line))
    return names[-1] if names else ""


# ---------------------------------------------------------------- v5 -> v4 content


def _kernel_info_reply_to_v4(content: Content) -> Content:
    v4: Content = {}
    for key in ("language_version", "protocol_version"):
        if key in content:
            v4[key] = _int_parts(_field(content, key, str))
    if content.get("implementation") == "ipython" and "implementation_version" in content:
        v4["ipython_version"] = _int_parts(_field(content, "implementation_version", str))
    info = _field(content, "language_info", dict, {})
    v4["language"] = info.get("name", "")
    if "version" in info and "language_version" not in v4:
        v4["language_version"] = _int_parts(_field(info, "version", str))
    return v4


def _execute_request_to_v4(content: Content) -> Content:
    return {"user_variables": [], **content}


def _execute_reply_to_v4(content: Content) -> Content:
    return {"user_variables": {}, **content}


def _complete_request_to_v4(content: Content) -> Content:
    line, cursor_pos = code_to_line(
        _field(content, "code", str), _field(content, "cursor_pos", int)
    )
    return {"text": "", "line": line, "block": None, "cursor_pos": cursor_pos}


def _complete_reply_to_v4(content: Content) -> Content:
    start = _field(content, "cursor_start", int)
    end = _field(content, "cursor_end", int)
    matches = _field(content, "matches", list)
    first = matches[0] if matches else ""
    if not isinstance(first, str):
        raise _Malformed("matches")
    v4 = _without(content, "cursor_start", "cursor_end", "metadata")
    v4["matched_text"] = first[: end - start]
    return v4


def _inspect_request_to_v4(content: Content) -> Content:
    oname = extract_oname_v4(_field(content, "code", str), _field(content, "cursor_pos", int))
    return {"oname": oname, "detail_level": _field(content, "detail_level")}


def _inspect_reply_to_v4(content: Content) -> Content:
    # v5 replies carry a rendered mime bundle; the structured v4 fields cannot be recovered.
    return {"found": False, "oname": "unknown"}


def _stream_to_v4(content: Content) -> Content:
    return {**_without(content, "text"), "data": _field(content, "text")}


def _display_data_to_v4(content: Content) -> Content:
    data = _field(content, "data", dict)
    v4 = {"source": "display", **content}
    if _JSON_MIME in data:
        v4["data"] = {**data, _JSON_MIME: _converted(json.dumps, data[_JSON_MIME])}
    return v4


def _input_request_to_v4(content: Content) -> Content:
    return _without(content, "password")


# ---------------------------------------------------------------- v4 -> v5 content


def _kernel_info_reply_to_v5(content: Content) -> Content:
    v5 = dict(content)
    for key in ("protocol_version", "ipython_version"):
        if key in content:
            v5[key] = _dotted(_field(content, key, (list, tuple)))
    v5.setdefault("protocol_version", "4.1")
    language = _field(content, "language", str)
    del v5["language"]
    if language.startswith("python") and "ipython_version" in v5:
        v5["implementation"] = "ipython"
        v5["implementation_version"] = v5.pop("ipython_version")
    info = {"name": language, **_field(content, "language_info", dict, {})}
    if "language_version" in content:
        info.setdefault("version", _dotted(_field(content, "language_version", (list, tuple))))
        del v5["language_version"]
    v5["language_info"] = info
    v5["banner"] = ""
    return v5


def _execute_request_to_v5(content: Content) -> Content:
    names = _field(content, "user_variables", list, [])
    if not all(isinstance(name, str) for name in names):
        raise _Malformed("user_variables")
    expressions = _field(content, "user_expressions", dict, {})
    v5 = _without(content, "user_variables")
    v5["user_expressions"] = {**expressions, **{name: name for name in names}}
    return v5


def _page_payload_to_v5(payload: Any) -> Any:
    """v5 pager payloads carry a mime bundle where v4 had plain ``text``."""
    if not isinstance(payload, dict):
        raise _Malformed("payload")
    if payload.get("source") != "page" or "text" not in payload:
        return payload
    data = _field(payload, "data", dict, {})
    return {**_without(payload, "text"), "data": {**data, "text/plain": payload["text"]}}


def _execute_reply_to_v5(content: Content) -> Content:
    expressions = _field(content, "user_expressions", dict, {})
    variables = content.get("user_variables")
    if variables and not isinstance(variables, dict):
        raise _Malformed("user_variables")
    v5 = _without(content, "user_variables")
    v5["user_expressions"] = {**expressions, **(variables or {})}
    if "payload" in content:
        v5["payload"] = [_page_payload_to_v5(p) for p in _field(content, "payload", list)]
    return v5


def _complete_request_to_v5(content: Content) -> Content:
    return {"code": _field(content, "line"), "cursor_pos": _field(content, "cursor_pos")}


def _complete_reply_to_v5(content: Content) -> Content:
    # Without the request we only know the match ends at the cursor: end=None means
    # "the cursor", start is relative to it, and None (not -0) means start == end.
    matched = _field(content, "matched_text", str)
    return {
        "status": "ok",
        "matches": _field(content, "matches"),
        "cursor_start": -len(matched) if matched else None,
        "cursor_end": None,
        "metadata": {},
    }


def _inspect_request_to_v5(content: Content) -> Content:
    oname = _field(content, "oname", str)
    return {
        "code": oname,
        "cursor_pos": len(oname),
        "detail_level": _field(content, "detail_level"),
    }


_DEFINITION_KEYS = ("call_def", "init_definition", "definition")
_DOCSTRING_KEYS = ("call_docstring", "init_docstring", "docstring")


def _first_text(content: Content, keys: tuple[str, ...]) -> list[str]:
    """The first non-empty of ``keys`` as a one-item list, or ``[]``."""
    for key in keys:
        value = content.get(key)
        if value:
            if not isinstance(value, str):
                raise _Malformed(key)
            return [value]
    return []


def _inspect_reply_to_v5(content: Content) -> Content:
    found = _field(content, "found")
    data: Content = {}
    if found:
        lines = _first_text(content, _DEFINITION_KEYS) + _first_text(content, _DOCSTRING_KEYS)
        data["text/plain"] = "\n".join(lines) or "<empty docstring>"
    return {"status": "ok", "found": found, "data": data, "metadata": {}}


def _stream_to_v5(content: Content) -> Content:
    return {**_without(content, "data"), "text": _field(content, "data")}


def _display_data_to_v5(content: Content) -> Content:
    data = _field(content, "data", dict)
    v5 = _without(content, "source")
    if _JSON_MIME in data:
        v5["data"] = {**data, _JSON_MIME: _converted(json.loads, data[_JSON_MIME])}
    return v5


def _input_request_to_v5(content: Content) -> Content:
    return {"password": False, **content}


# ---------------------------------------------------------------- adapters


class Adapter:
    """Rewrite one message from one protocol major version to another.

    Subclasses describe a direction with three class attributes instead of
    methods named after message types, so no ``msg_type`` can ever select
    anything but a listed content rewrite.
    """

    #: ``header["version"]`` on adapted messages; ``None`` removes the key (v4 has none).
    version: str | None = None
    #: Renamed message types, source name -> target name.
    msg_type_map: Mapping[str, str] = MappingProxyType({})
    #: Content rewrites keyed by the *source* ``msg_type``. Each returns a new dict,
    #: never modifies its argument, and raises ``_Malformed`` on unusable content.
    content_handlers: Mapping[str, ContentRewrite] = MappingProxyType({})

    def __call__(self, msg: Message) -> Message:
        """Return an adapted copy of ``msg``; ``msg`` itself is not modified."""
        header = msg.get("header") if isinstance(msg, dict) else None
        if not isinstance(header, dict):
            return msg
        header = self._stamped(header)
        adapted = {**msg, "header": header}
        msg_type = header.get("msg_type")
        rewrite = None
        if isinstance(msg_type, str):
            rewrite = self.content_handlers.get(msg_type)
            renamed = self.msg_type_map.get(msg_type)
            if renamed is not None:
                header["msg_type"] = adapted["msg_type"] = renamed
        parent = msg.get("parent_header")
        if isinstance(parent, dict):
            # an empty parent means "no parent", so it gets no version stamp
            adapted["parent_header"] = self._stamped(parent) if parent else {}
        metadata = msg.get("metadata")
        if isinstance(metadata, dict):
            adapted["metadata"] = dict(metadata)
        content = msg.get("content")
        if isinstance(content, dict):
            adapted["content"] = self._adapted_content(rewrite, content)
        return adapted

    def _stamped(self, header: dict[str, Any]) -> dict[str, Any]:
        stamped = dict(header)
        if self.version is None:
            stamped.pop("version", None)
        else:
            stamped["version"] = self.version
        return stamped

    @staticmethod
    def _adapted_content(rewrite: ContentRewrite | None, content: Content) -> Content:
        if rewrite is None or content.get("status") in _UNADAPTED_STATUSES:
            return dict(content)
        try:
            return rewrite(content)
        except _Malformed:
            return dict(content)


class V5toV4(Adapter):
    """Adapt protocol 5 messages for a protocol 4 peer."""

    version = None
    msg_type_map = MappingProxyType(
        {
            "execute_result": "pyout",
            "execute_input": "pyin",
            "error": "pyerr",
            "inspect_request": "object_info_request",
            "inspect_reply": "object_info_reply",
        }
    )
    content_handlers = MappingProxyType(
        {
            "kernel_info_reply": _kernel_info_reply_to_v4,
            "execute_request": _execute_request_to_v4,
            "execute_reply": _execute_reply_to_v4,
            "complete_request": _complete_request_to_v4,
            "complete_reply": _complete_reply_to_v4,
            "inspect_request": _inspect_request_to_v4,
            "inspect_reply": _inspect_reply_to_v4,
            "stream": _stream_to_v4,
            "display_data": _display_data_to_v4,
            "input_request": _input_request_to_v4,
        }
    )


class V4toV5(Adapter):
    """Adapt protocol 4 messages for a protocol 5 peer.

    The header is stamped ``"5.0"``, not the current minor: the rewritten
    content is only guaranteed to have the 5.0 shape.
    """

    version = "5.0"
    msg_type_map = MappingProxyType({v4: v5 for v5, v4 in V5toV4.msg_type_map.items()})
    content_handlers = MappingProxyType(
        {
            "kernel_info_reply": _kernel_info_reply_to_v5,
            "execute_request": _execute_request_to_v5,
            "execute_reply": _execute_reply_to_v5,
            "complete_request": _complete_request_to_v5,
            "complete_reply": _complete_reply_to_v5,
            "object_info_request": _inspect_request_to_v5,
            "object_info_reply": _inspect_reply_to_v5,
            "stream": _stream_to_v5,
            "display_data": _display_data_to_v5,
            "input_request": _input_request_to_v5,
        }
    )


#: One adapter per (from_major, to_major) pair.
adapters: dict[tuple[int, int], Adapter] = {
    (5, 4): V5toV4(),
    (4, 5): V4toV5(),
}


def _source_major(header: dict[str, Any]) -> int | None:
    """The sender's protocol major, or ``None`` when ``version`` is unreadable."""
    if "version" not in header:
        return _UNVERSIONED_MAJOR
    version = header["version"]
    if not isinstance(version, str):
        return None
    try:
        return int(version.partition(".")[0])
    except ValueError:
        return None


def adapt(msg: Message, to_version: int = _CURRENT_MAJOR) -> Message:
    """Return ``msg`` as a message of protocol major ``to_version``.

    Never raises on malformed messages and never modifies ``msg``; see the
    module docstring for the rules. ``msg`` itself is returned when nothing
    needs to change.
    """
    # Hot path: every received message comes through here on its way to v5.
    if to_version == _CURRENT_MAJOR and type(msg) is dict:
        header = msg.get("header")
        if type(header) is dict:
            version = header.get("version")
            if type(version) is str and version.startswith(_CURRENT_PREFIX) and "date" in header:
                return msg
    header = msg.get("header") if isinstance(msg, dict) else None
    if not isinstance(header, dict):
        return msg
    if "date" not in header:
        header = {**header, "date": datetime.now(timezone.utc)}
        msg = {**msg, "header": header}
    major = _source_major(header)
    adapter = None if major is None else adapters.get((major, to_version))
    return msg if adapter is None else adapter(msg)
