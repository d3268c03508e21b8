"""Packers turn a message part (a dict) into bytes; unpackers turn bytes back.

The JSON packers (``json`` and ``orjson``) share one behaviour, whichever is used:

==================  ============================================================
NaN, +Inf, -Inf     written as ``null`` (strict JSON has no such numbers; ``null``
                    is also what a browser's ``JSON.stringify`` writes), no warning
naive datetime      taken as UTC: ``2026-01-02T03:04:05.123456Z``
aware datetime      UTC as ``...Z``, other offsets kept as ``+HH:MM``
bytes               base64 text (JSON has no binary; send binary as buffers)
int/float/bool/None dict keys become their JSON text: ``"1"``, ``"1.5"``, ``"true"``,
keys                ``"null"``; any other non-string key is a TypeError
ints beyond 64 bit  written exactly
sets, tuples,       written as lists (NaN inside them as ``null`` too); numpy
generators, arrays  scalars as numbers; a generator is read once, never emptied
                    by a retry
floats              the shortest digits that read back exactly; the exponent is
                    spelled by each library (``1e+16`` json, ``1e16`` orjson), so
                    only texts of floats with an exponent differ, not their values
==================  ============================================================

The output is compact JSON (no spaces). Unpacking is tolerant like jupyter_client's: if
orjson refuses a frame (invalid UTF-8, ``NaN`` literals from old peers), the stdlib parser
gets a second try with undecodable bytes replaced.

``msgpack`` and ``pickle`` carry bytes, NaN and non-string keys natively; datetimes go out
as ISO strings like the JSON packers, so that every packer gives the same message back.
"""

from __future__ import annotations

import importlib
import json
import math
import pickle
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from .jsonutil import json_clean_key, json_default_utc, squash_dates_utc

#: The pickle protocol ``pickle_packer`` writes.
PICKLE_PROTOCOL = pickle.DEFAULT_PROTOCOL

Packer = Callable[[Any], bytes]
Unpacker = Callable[[Any], Any]

_ORJSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


class _OneShotIterator(TypeError):
    """Raised by the packers' default hook instead of consuming a generator: a first
    attempt that failed later on would leave the retry nothing to write."""


def _pack_default(obj: Any) -> Any:
    if isinstance(obj, Iterator):
        raise _OneShotIterator("a one-shot iterator: packed on the careful path")
    return json_default_utc(obj)


def _strict(obj: Any) -> Any:
    """A copy where what JSON text cannot say directly is said our way (see above):
    non-finite floats as None at any depth (sets and arrays included), keys as text,
    every iterable that is not text or bytes as a list."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {json_clean_key(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    if isinstance(obj, str | bytes | bytearray | memoryview) or not isinstance(obj, Iterable):
        return obj
    return [_strict(v) for v in obj]


def _json_dumps(obj: Any) -> str:
    return json.dumps(
        obj, default=_pack_default, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )


def json_packer(obj: Any) -> bytes:
    """Pack with the stdlib ``json`` module (the documented behaviour, above)."""
    try:
        text = _json_dumps(obj)
    except ValueError:  # a NaN or an infinity somewhere
        text = _json_dumps(_strict(obj))
    except _OneShotIterator:  # a generator somewhere: make it a list once, then write
        text = _json_dumps(_strict(obj))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: escape them, which is valid JSON
        return json.dumps(
            json.loads(text), ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode("ascii")


def json_unpacker(data: Any) -> Any:
    """Unpack JSON bytes (or str) with the stdlib; undecodable bytes become U+FFFD."""
    if not isinstance(data, str):
        data = bytes(data).decode("utf-8", "replace")
    return json.loads(data)


def orjson_packer(obj: Any) -> bytes:
    """Pack with orjson; what it cannot express goes through ``json_packer``."""
    try:
        return orjson.dumps(obj, default=_pack_default, option=_ORJSON_OPTIONS)
    except TypeError:  # non-str keys, ints beyond 64 bit, lone surrogates, generators
        return json_packer(obj)


def orjson_unpacker(data: Any) -> Any:
    """Unpack with orjson; on refusal, give the stdlib parser a second, tolerant try."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json_unpacker(data)


def pickle_packer(obj: Any) -> bytes:
    """Pack with pickle (dates as ISO strings). Only for peers you trust completely."""
    return pickle.dumps(squash_dates_utc(obj), PICKLE_PROTOCOL)


#: Unpack with pickle. It runs code from the data: only for peers you trust completely.
pickle_unpacker: Unpacker = pickle.loads

#: For an unpacker, a C function to try first on the receive path; if it raises, the
#: unpacker itself runs (with its fallbacks, and a precise error if it fails too).
FIRST_TRY: dict[Unpacker, Unpacker] = {orjson_unpacker: orjson.loads}

#: Always True: orjson is a dependency (the name is jupyter_client's, where it is optional).
has_orjson = True

try:
    import msgpack
except ModuleNotFoundError:
    #: Whether msgpack is installed, and with it the ``msgpack`` packer.
    has_msgpack = False
else:
    has_msgpack = True

    def msgpack_packer(obj: Any) -> bytes:
        """Pack with msgpack; datetimes become ISO strings as with the JSON packers."""
        return msgpack.packb(obj, default=json_default_utc, datetime=False)  # type: ignore[no-any-return]

    def msgpack_unpacker(data: Any) -> Any:
        """Unpack msgpack; maps with non-string keys are accepted."""
        return msgpack.unpackb(data, strict_map_key=False)


def builtin_packers() -> dict[str, tuple[Packer, Unpacker]]:
    """The packer pairs available by name in this installation."""
    pairs: dict[str, tuple[Packer, Unpacker]] = {
        "json": (json_packer, json_unpacker),
        "orjson": (orjson_packer, orjson_unpacker),
        "pickle": (pickle_packer, pickle_unpacker),
    }
    if has_msgpack:
        pairs["msgpack"] = (msgpack_packer, msgpack_unpacker)
    return pairs


def import_item(name: str) -> Any:
    """Import ``"package.module.attr"`` and return the attribute (or the module)."""
    module_name, _, attr = name.rpartition(".")
    if not module_name:
        return importlib.import_module(name)
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"no {attr!r} in module {module_name!r}") from None


def resolve(name_or_callable: str | Callable[..., Any], side: int) -> Callable[..., Any]:
    """A packer (``side`` 0) or unpacker (``side`` 1) from a built-in name, an import
    string or a callable."""
    if callable(name_or_callable):
        return name_or_callable
    pairs = builtin_packers()
    if name_or_callable in pairs:
        return pairs[name_or_callable][side]
    if name_or_callable == "msgpack":
        raise ValueError("the msgpack packer needs the msgpack package (pip install msgpack)")
    found = import_item(name_or_callable)
    if not callable(found):
        raise TypeError(f"{name_or_callable!r} is not callable")
    return found  # type: ignore[no-any-return]


__all__ = [
    "PICKLE_PROTOCOL",
    "builtin_packers",
    "has_msgpack",
    "has_orjson",
    "json_packer",
    "json_unpacker",
    "orjson_packer",
    "orjson_unpacker",
    "pickle_packer",
    "pickle_unpacker",
    "resolve",
]
if has_msgpack:
    __all__ += ["msgpack_packer", "msgpack_unpacker"]
