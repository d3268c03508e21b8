"""Checks of a received message before any handler reads it.

A signature proves who sent a message, not that it is well formed: a buggy or hostile
client holding the key can sign a ``msg_type`` that is a list, a header nested a thousand
levels deep, or a content whose fields have the wrong types. Handlers may rely on what
is checked here, so that no received value can make one raise.

Two levels, because they are answered differently:

- the header (:func:`check_header`). The kernel echoes it back as the parent header of
  every status, reply and output of the request, so an untrusted header gets no answer
  at all: the message is dropped. Echoed headers are bounded: at most
  :data:`MAX_HEADER_BYTES` packed and :data:`MAX_HEADER_DEPTH` levels of nesting (the
  header dict itself is level 1; a standard header has no nesting). A header the kernel
  signed itself (its own session id) is refused too: one key signs both directions, so
  anyone who sees the kernel's IOPub could replay its messages to shell or control.
- the content of a request the kernel handles (:func:`check_content`): the request is
  answered with ``status: error`` where it has a reply (ename TypeError for a wrong type,
  ValueError for a missing or out-of-range value), and dropped otherwise (comms).

Each problem is a :class:`Rejection`: a precise ``detail`` for the log and the error
reply, and a ``kind`` from a small fixed set (field and problem, never the received
value), by which rejections are counted in the kernel's rate-limited log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_DEPTH = 8
HISTORY_ACCESS_TYPES = ("tail", "range", "search")


class Rejection(NamedTuple):
    """Why a received message is not acceptable."""

    #: a bounded category, e.g. ``"header.msg_type not a str"``
    kind: str
    #: what exactly was wrong, e.g. ``"header.msg_type is a list, not a str"``
    detail: str
    #: the exception class an error reply names (TypeError or ValueError)
    error: type[Exception] = ValueError


def _wrong_type(field: str, value: Any, expected: str) -> Rejection:
    if value is None:
        found = "null"
    else:
        name = type(value).__name__
        found = f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"
    return Rejection(f"{field} not {expected}", f"{field} is {found}, not {expected}", TypeError)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests containers more than ``limit`` levels deep (iterative:
    the walk must not itself hit the recursion limit on a hostile header)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


#: Header fields the kernel reads or echoes with a type the spec fixes; the first two are
#: required (the codec already refuses a header without them).
_HEADER_STRINGS = ("msg_id", "msg_type", "session", "username", "version")


def check_header(header: dict[str, Any], packed_bytes: int, own_session: str) -> Rejection | None:
    """Whether the kernel may act on, and echo, this header; ``packed_bytes`` is the size
    of the header frame as received."""
    if packed_bytes > MAX_HEADER_BYTES:
        return Rejection(
            "header too large",
            f"header: too large ({packed_bytes} bytes packed, at most {MAX_HEADER_BYTES})",
        )
    for field in _HEADER_STRINGS:
        value = header.get(field, "")
        if value.__class__ is not str and not isinstance(value, str):
            return _wrong_type(f"header.{field}", value, "a str")
    date = header.get("date", "")
    if not isinstance(date, str | datetime):  # a datetime: stamped by the v4 adapter
        return _wrong_type("header.date", date, "a str")
    subshell = header.get("subshell_id")
    if subshell is not None and not isinstance(subshell, str):
        return _wrong_type("header.subshell_id", subshell, "a str or null")
    if _depth_exceeds(header, MAX_HEADER_DEPTH):
        return Rejection(
            "header nested too deeply", f"header: nested deeper than {MAX_HEADER_DEPTH} levels"
        )
    if header.get("session") == own_session:
        return Rejection(
            "sent by this kernel",
            f"{header['msg_type'][:80]} was sent by this kernel itself (a reflected message)",
        )
    return None


# ----------------------------------------------------------------------------- contents

#: checks one present field's value; returns (expected, problem) or None when fine
FieldCheck = Callable[[Any], "tuple[str, type[Exception]] | None"]


def _typed(expected: str, *kinds: type) -> FieldCheck:
    def check(value: Any) -> tuple[str, type[Exception]] | None:
        if isinstance(value, bool) and bool not in kinds:  # bool is an int subclass
            return expected, TypeError
        return None if isinstance(value, kinds) else (expected, TypeError)

    return check


_STR = _typed("a str", str)
_BOOL = _typed("a bool", bool)
_INT = _typed("an int", int)
_DICT = _typed("a dict", dict)
_OPTIONAL_INT = _typed("an int or null", int, type(None))
_OPTIONAL_STR = _typed("a str or null", str, type(None))


def _str_to_str(value: Any) -> tuple[str, type[Exception]] | None:
    if not isinstance(value, dict):
        return "a dict of str", TypeError
    for name, expression in value.items():
        if not isinstance(name, str) or not isinstance(expression, str):
            return "a dict of str", TypeError
    return None


def _one_of(*choices: Any) -> FieldCheck:
    """A value of the choices' (one) type that is one of them."""
    wanted = " or ".join(map(repr, choices))
    kind = type(choices[0])

    def check(value: Any) -> tuple[str, type[Exception]] | None:
        if type(value) is not kind:
            return f"{'an' if kind is int else 'a'} {kind.__name__}", TypeError
        return None if value in choices else (wanted, ValueError)

    return check


#: Per request type: field -> (check, required). Fields not listed are not read.
_CODE = {"code": (_STR, True)}
_CURSOR = {"cursor_pos": (_OPTIONAL_INT, False)}
CONTENT_FIELDS: dict[str, dict[str, tuple[FieldCheck, bool]]] = {
    "execute_request": {
        **_CODE,
        "silent": (_BOOL, False),
        "store_history": (_BOOL, False),
        "user_expressions": (_str_to_str, False),
        "allow_stdin": (_BOOL, False),
        "stop_on_error": (_BOOL, False),
    },
    "complete_request": {**_CODE, **_CURSOR},
    "inspect_request": {**_CODE, **_CURSOR, "detail_level": (_one_of(0, 1), False)},
    "is_complete_request": _CODE,
    "history_request": {
        "output": (_BOOL, False),
        "raw": (_BOOL, False),
        "hist_access_type": (_one_of(*HISTORY_ACCESS_TYPES), False),
        "session": (_OPTIONAL_INT, False),
        "start": (_OPTIONAL_INT, False),
        "stop": (_OPTIONAL_INT, False),
        "n": (_OPTIONAL_INT, False),
        "pattern": (_OPTIONAL_STR, False),
        "unique": (_BOOL, False),
    },
    "comm_info_request": {"target_name": (_OPTIONAL_STR, False)},
    "comm_open": {
        "comm_id": (_STR, True),
        "target_name": (_STR, True),
        "data": (_DICT, False),
        "target_module": (_OPTIONAL_STR, False),
    },
    "comm_msg": {"comm_id": (_STR, True), "data": (_DICT, False)},
    "comm_close": {"comm_id": (_STR, True), "data": (_DICT, False)},
    "shutdown_request": {"restart": (_BOOL, False)},
    "kernel_info_request": {},
    "interrupt_request": {},
    "connect_request": {},
    "create_subshell_request": {},
    "delete_subshell_request": {"subshell_id": (_STR, True)},
    "list_subshell_request": {},
}


def check_content(msg_type: str, content: Mapping[str, Any]) -> Rejection | None:
    """Whether ``content`` has what the handler of ``msg_type`` reads, with the right
    types; unknown message types are not checked (they are not handled)."""
    for field, (check, required) in CONTENT_FIELDS.get(msg_type, {}).items():
        if field not in content:
            if required:
                return Rejection(f"content.{field} missing", f"content.{field} is missing")
            continue
        value = content[field]
        problem = check(value)
        if problem is not None:
            expected, error = problem
            if error is TypeError:
                return _wrong_type(f"content.{field}", value, expected)
            return Rejection(
                f"content.{field} out of range",
                f"content.{field} is {value!r}, not {expected}"[:200],
            )
    cursor_pos = content.get("cursor_pos")
    if cursor_pos is not None and not 0 <= cursor_pos <= len(content["code"]):
        return Rejection(
            "content.cursor_pos out of range",
            f"content.cursor_pos is {cursor_pos}, outside the code (0 to {len(content['code'])})",
        )
    return None
