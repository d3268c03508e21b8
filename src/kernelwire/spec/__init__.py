"""The Jupyter messaging spec 5.5 as data: JSON Schemas of every message, and ``validate``.

The schemas (JSON Schema draft 2020-12) ship in this package, under ``schemas/``:
``message.json`` (the message dict: header, parent_header, metadata, content),
``header.json``, ``defs.json`` (shared parts) and ``content/<msg_type>.json`` for the content
of each message type. They refer to each other by relative paths, so any validator that
loads them from files resolves them. :func:`schema` returns one of them as a dict.

:func:`validate` needs the ``jsonschema`` package (``pip install 'kernelwire[spec]'``);
the schemas themselves do not. Typed dicts of the same messages, for mypy, are in
:mod:`kernelwire.spec.types`. Sans-IO like the message format: no sockets, and neither zmq
nor traitlets is needed.

What the spec leaves open passes: unknown message types, extra fields, and the fields the
spec marks optional. A header or parent_header date may be a ``datetime`` (what a
Session makes of received dates) as well as an ISO 8601 string.
"""

from __future__ import annotations

import functools
import json
import posixpath
import threading
from datetime import datetime
from importlib import resources
from typing import Any

from ..errors import SpecViolation

#: The protocol version the schemas describe.
SPEC_VERSION = "5.5"
#: The schemas that describe no content: the message dict, its header, shared parts.
_FRAME_SCHEMAS = ("message", "header", "defs")
#: Longest received value or path quoted in an error (a peer controls them).
_QUOTE_LIMIT = 80

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}
_EXPECTED_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}

_build_lock = threading.Lock()
_compiled: _Validators | None = None


def _schema_files() -> Any:
    return resources.files(__name__).joinpath("schemas")


@functools.cache
def message_types() -> frozenset[str]:
    """The message types that have a content schema."""
    content_dir = _schema_files().joinpath("content")
    return frozenset(
        entry.name[: -len(".json")]
        for entry in content_dir.iterdir()
        if entry.name.endswith(".json")
    )


def schema(name: str) -> dict[str, Any]:
    """A fresh copy of one schema: ``"message"``, ``"header"``, ``"defs"`` or a message type
    (the schema of its content). KeyError for a name with no schema."""
    if name in _FRAME_SCHEMAS:
        path = _schema_files().joinpath(f"{name}.json")
    elif name in message_types():
        path = _schema_files().joinpath("content").joinpath(f"{name}.json")
    else:
        raise KeyError(f"no schema named {name!r}")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def require_jsonschema() -> None:
    """Raise ImportError, saying what to install, when ``jsonschema`` is missing."""
    try:
        import jsonschema  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "checking messages against the message spec needs the jsonschema package: "
            "pip install 'kernelwire[spec]' (or jsonschema>=4.18)"
        ) from exc


class _Validators:
    """The validators, built once on first use: one per message type (the message schema
    with its content schema in place) and one for message types without a schema.

    References between the files are inlined first, so that checking a message follows
    none (resolving them on every message made validation about 1.6 times slower).
    """

    def __init__(self) -> None:
        require_jsonschema()
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import best_match

        #: picks the most relevant of the errors found in a message
        self.best_match = best_match

        files = {f"{name}.json": schema(name) for name in _FRAME_SCHEMAS}
        for msg_type in message_types():
            files[f"content/{msg_type}.json"] = schema(msg_type)
        message = _inline(files["message.json"], "message.json", files)
        self.any_type: Any = Draft202012Validator(message)
        # keyed by str | None so that a message without a usable msg_type looks up too
        self.by_type: dict[str | None, Any] = {}
        for msg_type in message_types():
            content = _inline(files[f"content/{msg_type}.json"], f"content/{msg_type}.json", files)
            properties = {**message["properties"], "content": content}
            self.by_type[msg_type] = Draft202012Validator({**message, "properties": properties})


def _inline(node: Any, base: str, files: dict[str, Any]) -> Any:
    """``node`` (from the file ``base``) with every ``$ref`` replaced by what it refers to:
    ``other.json`` or ``other.json#/$defs/name``, relative to ``base``; or ``#/...``."""
    if isinstance(node, list):
        return [_inline(item, base, files) for item in node]
    if not isinstance(node, dict):
        return node
    inlined = {
        key: _inline(value, base, files)
        for key, value in node.items()
        if key not in ("$ref", "$defs", "$schema")
    }
    ref = node.get("$ref")
    if ref is None:
        return inlined
    file_part, _, pointer = ref.partition("#")
    path = (
        posixpath.normpath(posixpath.join(posixpath.dirname(base), file_part))
        if file_part
        else base
    )
    target = files[path]
    for token in filter(None, pointer.split("/")):
        target = target[token]
    resolved = _inline(target, path, files)
    return {"allOf": [resolved], **inlined} if inlined else resolved


def _validators() -> _Validators:
    global _compiled
    if _compiled is None:
        with _build_lock:
            if _compiled is None:
                _compiled = _Validators()
    return _compiled


def validate(msg: Any) -> None:
    """Check a message dict (header, parent_header, metadata and the content of its
    ``msg_type``) against the spec; raise :class:`~kernelwire.errors.SpecViolation`
    naming the first wrong field (``error.field``, e.g. ``"content.execution_count"``).

    Unknown message types and extra fields pass. Needs ``jsonschema`` (ImportError
    otherwise). Raises nothing but SpecViolation (or that ImportError), whatever ``msg`` is.
    """
    compiled = _validators()
    msg_type = _msg_type_of(msg)
    validator = compiled.by_type.get(msg_type, compiled.any_type)
    try:
        problem = compiled.best_match(validator.iter_errors(_with_string_dates(msg)))
        if problem is None:
            return
        field, reason = _describe(problem)
    except Exception as exc:  # a value jsonschema cannot handle must not escape as itself
        raise SpecViolation(msg_type, "", f"could not be checked: {type(exc).__name__}") from exc
    raise SpecViolation(msg_type, field, reason)


def _msg_type_of(msg: Any) -> str | None:
    header = msg.get("header") if isinstance(msg, dict) else None
    msg_type = header.get("msg_type") if isinstance(header, dict) else None
    if isinstance(msg_type, str):
        return msg_type[:_QUOTE_LIMIT]
    return None


def _with_string_dates(msg: Any) -> Any:
    """``msg`` with header and parent_header dates that are datetimes (as a Session parses
    them) replaced by their ISO strings; the caller's dicts are not changed."""
    if not isinstance(msg, dict):
        return msg
    replaced = None
    for part in ("header", "parent_header"):
        value = msg.get(part)
        if isinstance(value, dict) and isinstance(value.get("date"), datetime):
            if replaced is None:
                replaced = dict(msg)
            replaced[part] = {**value, "date": value["date"].isoformat()}
    return msg if replaced is None else replaced


def _describe(error: Any) -> tuple[str, str]:
    """The dotted path of the field an error is about, and what is wrong with it, in words
    that quote at most a bounded part of the received value."""
    path = list(error.absolute_path)
    kind = error.validator
    value = error.validator_value
    instance = error.instance
    if kind == "required":
        missing = next((name for name in value if name not in instance), value[0])
        return _dotted([*path, missing]), "is missing"
    if "propertyNames" in error.absolute_schema_path:
        return _dotted(path), f"has the key {_quote(instance)}, not a MIME type"
    if kind == "type":
        expected = [value] if isinstance(value, str) else list(value)
        wanted = " or ".join(_EXPECTED_NAMES.get(name, name) for name in expected)
        return _dotted(path), f"is {_type_name(instance)}, not {wanted}"
    if kind == "enum":
        options = ", ".join(_quote(option) for option in value)
        return _dotted(path), f"is {_quote(instance)}, not one of {options}"
    if kind == "const":
        return _dotted(path), f"is {_quote(instance)}, not {_quote(value)}"
    if kind == "pattern":
        described = error.schema.get("description") if isinstance(error.schema, dict) else None
        wanted = described or f"a string matching {value!r}"
        return _dotted(path), f"is {_quote(instance)}, not {wanted}"
    if kind in ("minItems", "maxItems"):
        bound = "fewer" if kind == "minItems" else "more"
        return _dotted(path), f"has {len(instance)} items, {bound} than {value}"
    return _dotted(path), _clip(str(error.message))


def _dotted(path: list[Any]) -> str:
    """``["content", "traceback", 2]`` -> ``"content.traceback[2]"``."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            name = step if isinstance(step, str) else repr(step)
            text += f".{name}" if text else name
    return _clip(text)


def _type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value)) or f"a {type(value).__name__}"


def _quote(value: Any) -> str:
    """A short repr of a scalar (strings cut before repr: they may be huge); the type of
    anything else (its repr could be huge, or too deep to make)."""
    if isinstance(value, (str, bytes)):
        return _clip(repr(value[: _QUOTE_LIMIT + 1]))
    if value is None or isinstance(value, (bool, int, float)):
        return _clip(repr(value))
    return _type_name(value)


def _clip(text: str) -> str:
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


__all__ = [
    "SPEC_VERSION",
    "SpecViolation",
    "message_types",
    "require_jsonschema",
    "schema",
    "validate",
]
