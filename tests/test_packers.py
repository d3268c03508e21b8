"""The packers: one documented JSON behaviour whichever JSON library writes it, msgpack
and pickle round trips, tolerant unpacking, and packers by name or import string."""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import orjson
import pytest
from jupyter_client.session import pickle_packer as jc_pickle_packer
from jupyter_client.session import pickle_unpacker as jc_pickle_unpacker

from kernelwire import packers
from kernelwire.packers import (
    json_packer,
    json_unpacker,
    msgpack_packer,
    msgpack_unpacker,
    orjson_packer,
    orjson_unpacker,
    pickle_packer,
    pickle_unpacker,
)

JSON_PACKERS = [json_packer, orjson_packer]
NAN, INF = float("nan"), float("inf")
UTC = timezone.utc
IST = timezone(timedelta(hours=5, minutes=30))


def _numbers() -> Iterator[int]:
    yield from (1, 2, 3)


#: (input, the documented JSON text); each input is built fresh (generators are one-shot)
DOCUMENTED: list[tuple[Callable[[], Any], bytes]] = [
    (lambda: {"a": NAN, "b": INF, "c": -INF}, b'{"a":null,"b":null,"c":null}'),
    (lambda: {"l": [NAN, 1.5, {"x": -INF}]}, b'{"l":[null,1.5,{"x":null}]}'),
    (lambda: {"t": (INF, 2)}, b'{"t":[null,2]}'),
    (lambda: {"s": {NAN}}, b'{"s":[null]}'),
    (lambda: {"arr": np.array([np.nan, 1.0])}, b'{"arr":[null,1.0]}'),
    (lambda: {"t": datetime(2026, 1, 2, 3, 4, 5, 123456)}, b'{"t":"2026-01-02T03:04:05.123456Z"}'),
    (lambda: {"t": datetime(2026, 1, 2, 3, 4, 5)}, b'{"t":"2026-01-02T03:04:05Z"}'),
    (lambda: {"t": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}, b'{"t":"2026-01-02T03:04:05Z"}'),
    (
        lambda: {"t": datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=IST)},
        b'{"t":"2026-01-02T03:04:05.000007+05:30"}',
    ),
    (
        lambda: {"t": datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=-3)))},
        b'{"t":"2026-01-02T00:00:00-03:00"}',
    ),
    (lambda: {"d": date(2026, 1, 2)}, b'{"d":"2026-01-02"}'),
    (lambda: {"b": b"\x00\xff bytes"}, b'{"b":"AP8gYnl0ZXM="}'),
    (lambda: {"m": memoryview(b"ab"), "ba": bytearray(b"q")}, b'{"m":"YWI=","ba":"cQ=="}'),
    (
        lambda: {1: "i", 1.5: "f", False: "b", None: "n"},
        b'{"1":"i","1.5":"f","false":"b","null":"n"}',
    ),
    (lambda: {"nested": {2: [True, None]}}, b'{"nested":{"2":[true,null]}}'),
    (
        lambda: {"big": 2**70, "neg": -(2**65)},
        b'{"big":1180591620717411303424,"neg":-36893488147419103232}',
    ),
    (
        lambda: {"edge": [2**63, -(2**63), 2**64]},
        b'{"edge":[9223372036854775808,-9223372036854775808,18446744073709551616]}',
    ),
    (
        lambda: {"u": "h\u00e9llo \u2603 \U0001d11e"},
        '{"u":"h\u00e9llo \u2603 \U0001d11e"}'.encode(),
    ),
    (lambda: {"s": "\ud800 lone"}, b'{"s":"\\ud800 lone"}'),
    (lambda: {"ctrl": "\x00\x1f</script>"}, b'{"ctrl":"\\u0000\\u001f</script>"}'),
    (
        lambda: {"set": {3}, "fs": frozenset([4]), "tup": (1, 2)},
        b'{"set":[3],"fs":[4],"tup":[1,2]}',
    ),
    (lambda: {"np": [np.int64(3), np.float64(1.5), np.float32(0.5)]}, b'{"np":[3,1.5,0.5]}'),
    (lambda: {"g": _numbers()}, b'{"g":[1,2,3]}'),
    (lambda: {"g": _numbers(), "n": NAN}, b'{"g":[1,2,3],"n":null}'),
    (lambda: {"g": _numbers(), "k": 2**70}, b'{"g":[1,2,3],"k":1180591620717411303424}'),
    (lambda: {"g": _numbers(), 7: "int key"}, b'{"g":[1,2,3],"7":"int key"}'),
    (lambda: {"g": (x for x in [NAN, _numbers()])}, b'{"g":[null,[1,2,3]]}'),
    (
        lambda: {"f": [0.1, -0.0, 1.0, 100.0, 123456789.125]},
        b'{"f":[0.1,-0.0,1.0,100.0,123456789.125]}',
    ),
    (lambda: {}, b"{}"),
]


@pytest.mark.parametrize(("build", "expected"), DOCUMENTED)
@pytest.mark.parametrize("pack", JSON_PACKERS, ids=["json", "orjson"])
def test_documented_json_behaviour(
    pack: Callable[[Any], bytes], build: Callable[[], Any], expected: bytes
) -> None:
    assert pack(build()) == expected


@pytest.mark.parametrize(("build", "expected"), DOCUMENTED)
def test_json_and_orjson_write_the_same_bytes(build: Callable[[], Any], expected: bytes) -> None:
    assert json_packer(build()) == orjson_packer(build())


def test_packers_warn_about_nothing(recwarn: pytest.WarningsRecorder) -> None:
    for pack in JSON_PACKERS:
        pack({"a": NAN})
    assert len(recwarn) == 0


@pytest.mark.parametrize("value", [1e300, 1e16, 1e-5, 5e-324, 1.7976931348623157e308])
def test_exponent_floats_keep_their_value(value: float) -> None:
    """Both write the shortest round-trip digits; only the exponent's spelling is each
    library's own (``1e+16`` / ``1e16``), so the value read back is the same."""
    for pack in JSON_PACKERS:
        assert json.loads(pack({"x": value}))["x"] == value


def test_other_key_types_are_refused() -> None:
    for pack in JSON_PACKERS:
        with pytest.raises(TypeError):
            pack({(1, 2): "tuple key"})


def test_unserializable_object_is_a_type_error() -> None:
    for pack in JSON_PACKERS:
        with pytest.raises(TypeError, match="not JSON serializable"):
            pack({"o": object()})


@pytest.mark.parametrize("unpack", [json_unpacker, orjson_unpacker], ids=["json", "orjson"])
def test_unpackers_are_tolerant(unpack: Callable[[Any], Any]) -> None:
    assert unpack(b'{"a":"\xff"}') == {"a": "\ufffd"}
    assert math.isnan(unpack(b'{"a": NaN}')["a"])
    assert unpack(memoryview(b'{"a":1}')) == {"a": 1}
    assert unpack('{"s":"text"}') == {"s": "text"}
    with pytest.raises(ValueError):
        unpack(b"{nope")


@pytest.mark.parametrize("pack", JSON_PACKERS, ids=["json", "orjson"])
def test_json_round_trip(pack: Callable[[Any], bytes]) -> None:
    value = {"s": "\u2603", "i": -(2**70), "f": 0.5, "l": [None, True, {"k": []}]}
    assert orjson_unpacker(pack(value)) == value
    assert json_unpacker(pack(value)) == value


def test_msgpack_round_trip() -> None:
    value = {
        "b": b"\x00\xff",
        1: "int key",
        "f": 1e300,
        "nested": {"l": [1, "two", None, True], "u": "\U0001d11e"},
        "big": 2**63,
    }
    assert msgpack_unpacker(msgpack_packer(value)) == value
    nan_back = msgpack_unpacker(msgpack_packer({"n": NAN}))["n"]
    assert math.isnan(nan_back)


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 1, 2, 3, 4, 5, 6),
        datetime(2026, 1, 2, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=IST),
    ],
)
def test_every_packer_writes_dates_as_the_json_packers_do(when: datetime) -> None:
    text = json.loads(json_packer({"t": when}))["t"]
    assert msgpack_unpacker(msgpack_packer({"t": when}))["t"] == text
    assert pickle_unpacker(pickle_packer({"t": when, "l": [when]})) == {"t": text, "l": [text]}


def test_pickle_round_trip() -> None:
    value = {"b": b"\x00", 1: {2: [3, 4]}, "n": None}
    assert pickle_unpacker(pickle_packer(value)) == value
    assert pickle.loads(pickle_packer({"x": 1})) == {"x": 1}
    # tuples come back as lists, as with jupyter_client's pickle packer
    as_tuple = {"t": (1, (2,))}
    assert pickle_unpacker(pickle_packer(as_tuple)) == jc_pickle_unpacker(
        jc_pickle_packer(as_tuple)
    )


def test_builtin_packers_by_name() -> None:
    pairs = packers.builtin_packers()
    assert pairs["json"] == (json_packer, json_unpacker)
    assert pairs["orjson"] == (orjson_packer, orjson_unpacker)
    assert pairs["pickle"] == (pickle_packer, pickle_unpacker)
    assert pairs["msgpack"] == (msgpack_packer, msgpack_unpacker)
    assert packers.has_orjson and packers.has_msgpack
    for name, (pack, unpack) in pairs.items():
        assert packers.resolve(name, 0) is pack
        assert packers.resolve(name, 1) is unpack


def test_resolve_import_strings_and_callables() -> None:
    assert packers.resolve("orjson.dumps", 0) is orjson.dumps
    assert packers.resolve("json.loads", 1) is json.loads
    assert packers.resolve(repr, 0) is repr
    assert packers.import_item("json") is json
    with pytest.raises(ImportError, match="no 'nothing_here'"):
        packers.resolve("json.nothing_here", 0)
    with pytest.raises(ModuleNotFoundError):
        packers.resolve("no_such_module_kw.pack", 0)
    with pytest.raises(TypeError, match="not callable"):
        packers.resolve("math.pi", 0)
