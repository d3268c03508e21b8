"""kernelwire's own date functions (Session's receive path and packers), with
jupyter_client.jsonutil as the oracle for WHICH strings are dates. Documented differences
of these ``*_utc`` functions: a naive timestamp is read as UTC (not local time), a
date-shaped string that is no date stays a string (jupyter_client raises). The
jupyter_client-named functions are compared with jupyter_client's in test_dropin.py."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from jupyter_client import jsonutil as jc_jsonutil

from kernelwire import jsonutil
from kernelwire.jsonutil import (
    extract_dates_inplace,
    extract_dates_utc,
    format_date,
    json_clean,
    json_default_utc,
    parse_date_utc,
    squash_dates_utc,
)

UTC = timezone.utc

DATE_CORPUS = [
    "2026-01-02T03:04:05.123456Z",
    "2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05",
    "2026-01-02T03:04:05.1Z",
    "2026-01-02T03:04:05.12",
    "2026-01-02T03:04:05.123+01:00",
    "2026-01-02T03:04:05.1234-0530",
    "2026-01-02T03:04:05.12345+0000",
    "2026-01-02T03:04:05.000000Z",
    "2026-01-02T03:04:05-00:00",
    "2026-01-02T03:04:05+23:59",
    "9999-12-31T23:59:59.999999-23:59",
    "2024-02-29T00:00:00Z",
    "2026-01-02T24:00:00Z",
    "2026-12-31T24:00:00.000000+01:00",
    # not dates for either
    "2026-01-02T03:04:05.1234567Z",
    "2026-W47-1T03:04:05Z",
    "2026-W47-1T03:04:05.123456Z",
    "2026-01-02T03:04Z",
    "2026-01-02T03:04",
    "2026-01-02t03:04:05Z",
    "2026-01-02 03:04:05Z",
    "2026-01-02T03:04:05+01",
    "2026-01-02T03:04:05.Z",
    "2026-01-02T03:04:05.12345xZ",
    "2026-01-02",
    "20260102T030405Z",
    "x2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05Z ",
    "",
    "T",
    "not a date at all",
    # date-shaped but no date: jupyter_client raises, kernelwire leaves the string
    "2026-13-01T03:04:05Z",
    "2026-02-30T03:04:05Z",
    "2025-02-29T03:04:05.123456Z",
    "0000-01-02T03:04:05Z",
    "2026-01-02T25:04:05Z",
    "2026-01-02T23:60:05Z",
    "2026-01-02T23:59:60Z",
    "2026-01-02T24:00:00.000001Z",
    "2026-01-02T24:30:00Z",
    "2026-01-02T03:04:05+25:00",
    "2026-01-02T03:04:05+0160",
    "2026-01-02T03:04:05+01:60",
    "2026-01-02T03:04:05Z\n",
    "2026-01-02T03:04:05\n",
    "\u0662\u0660\u0662\u0666-01-02T03:04:05Z",
    "2026-01-02T03:04:0\u0665.123456Z",
    "2026-01-02T03:04:05.123456+01:0\u0665",
]


def jupyter_client_reads(text: str) -> Any:
    """jupyter_client's reading of ``text``: a datetime, the string, or None if it raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return jc_jsonutil.parse_date(text)
        except ValueError:
            return None


def same_instant(ours: datetime, theirs: datetime, text: str) -> bool:
    """Same wall clock and, for a timestamp with an offset, the same offset; a naive
    timestamp is UTC for kernelwire (jupyter_client: local time, on purpose not copied)."""
    naive = not (text.endswith("Z") or "+" in text[19:] or "-" in text[19:])
    expected_offset = timedelta(0) if naive else theirs.utcoffset()
    return (
        ours.replace(tzinfo=None) == theirs.replace(tzinfo=None)
        and ours.utcoffset() == expected_offset
    )


def test_the_same_strings_are_dates() -> None:
    ours = {text for text in DATE_CORPUS if isinstance(parse_date_utc(text), datetime)}
    theirs = {text for text in DATE_CORPUS if isinstance(jupyter_client_reads(text), datetime)}
    assert ours == theirs
    assert len(ours) == 15  # the corpus really exercises both sides


@pytest.mark.parametrize("text", DATE_CORPUS)
def test_parse_date_against_jupyter_client(text: str) -> None:
    ours = parse_date_utc(text)
    theirs = jupyter_client_reads(text)
    if isinstance(theirs, datetime):
        assert isinstance(ours, datetime)
        assert ours.tzinfo is not None
        assert same_instant(ours, theirs, text)
    else:
        assert ours is text


@pytest.mark.parametrize("text", DATE_CORPUS)
def test_the_receive_path_agrees_with_parse_date(text: str) -> None:
    header = {"date": text, "nested": {"when": [text]}, "n": 1, "none": None}
    extract_dates_inplace(header)
    expected = parse_date_utc(text)
    assert header["date"] == expected
    assert type(header["date"]) is type(expected)
    assert header["nested"] == {"when": [expected]}


@pytest.mark.parametrize("text", DATE_CORPUS)
def test_the_python_310_parser_reads_the_same(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: on Python 3.10 the fromisoformat fallback called itself, so every
    date raised RecursionError (and every received message was a BadFrame). Here the
    fallback is swapped in, as 3.10 does, and must read the corpus like 3.11+."""
    expected_header = extract_dates_inplace({"date": text})
    expected = parse_date_utc(text)
    monkeypatch.setattr(jsonutil, "_fromisoformat", jsonutil._fromisoformat_compat)
    assert parse_date_utc(text) == expected
    assert extract_dates_inplace({"date": text}) == expected_header


def test_extract_dates_walks_containers_and_copies() -> None:
    date_text = "2026-01-02T03:04:05.5Z"
    original = {
        "a": [date_text, {"b": date_text, "c": "plain"}],
        "t": (date_text, 3),
        "n": 1.5,
        "none": None,
        "keep": "2026-13-01T00:00:00Z",
    }
    extracted = extract_dates_utc(original)
    when = datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert extracted == {
        "a": [when, {"b": when, "c": "plain"}],
        "t": [when, 3],
        "n": 1.5,
        "none": None,
        "keep": "2026-13-01T00:00:00Z",
    }
    assert original["a"][0] == date_text  # not modified
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        del original["keep"]  # jupyter_client raises on it
        assert extract_dates_utc(original) == jc_jsonutil.extract_dates(original)


def test_parse_date_passes_non_strings_through() -> None:
    assert parse_date_utc(None) is None
    assert extract_dates_utc(5) == 5
    assert extract_dates_utc(b"2026-01-02T03:04:05Z") == b"2026-01-02T03:04:05Z"


def test_the_public_pattern_is_jupyter_clients() -> None:
    assert jsonutil.ISO8601 == jc_jsonutil.ISO8601
    assert jsonutil.ISO8601_PAT.pattern == jc_jsonutil.ISO8601_PAT.pattern


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, 6), "2026-01-02T03:04:05.000006Z"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, tzinfo=timezone(timedelta(hours=2))), "2026-01-02T00:00:00+02:00"),
        (datetime(2026, 1, 2, tzinfo=timezone(timedelta(0), "GMT")), "2026-01-02T00:00:00Z"),
        (date(2026, 1, 2), "2026-01-02"),
    ],
)
def test_format_date(value: date, text: str) -> None:
    assert format_date(value) == text
    assert json_default_utc(value) == text
    if isinstance(value, datetime):  # squash_dates_utc, like squash_dates, takes datetimes only
        assert squash_dates_utc({"l": [value], "t": (value,)}) == {"l": [text], "t": [text]}


def test_formatted_dates_read_back_equal() -> None:
    for when in (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime.now(UTC)):
        assert parse_date_utc(format_date(when)) == when
    offset = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-7)))
    assert parse_date_utc(format_date(offset)) == offset


def test_json_default_utc() -> None:
    assert json_default_utc(b"\x00\xff") == "AP8="
    assert json_default_utc(bytearray(b"a")) == "YQ=="
    assert json_default_utc({1}) == [1]
    assert json_default_utc(np.int64(7)) == 7 and type(json_default_utc(np.int64(7))) is int
    assert type(json_default_utc(np.float32(0.5))) is float
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_default_utc(object())


def test_json_clean_like_jupyter_client() -> None:
    value = {
        "s": "x",
        "i": 3,
        "f": 1.5,
        "b": b"\x01",
        "l": [1, (2, 3)],
        "set": {4},
        1: "int key",
        "g": (x for x in "ab"),
        "nested": {"t": (None, True)},
    }
    theirs = jc_jsonutil.json_clean({**value, "g": iter("ab")})
    assert json_clean(value) == theirs
