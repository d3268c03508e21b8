"""Dates and JSON cleaning, under the names ``jupyter_client.jsonutil`` uses.

Two sets of functions live here:

* jupyter_client's names (``parse_date``, ``extract_dates``, ``squash_dates``,
  ``json_default``, ``date_default``, ``json_clean``) behave exactly as jupyter_client 8's,
  warnings included, so code that calls them gets what it was written for: a naive
  timestamp or datetime is taken as LOCAL time with a DeprecationWarning, a string the
  pattern matches but that is no date raises ValueError, NaN is cleaned to ``"nan"``.
* kernelwire's own (``parse_date_utc``, ``extract_dates_utc``, ``extract_dates_inplace``,
  ``squash_dates_utc``, ``json_default_utc``, ``format_date``) are what Session's receive
  path and packers use, by the rules below.

Date rules of Session and every packer:

* A datetime goes out as ISO 8601. UTC is written with ``Z``; another offset is kept as
  ``+HH:MM``; a naive datetime is taken to be UTC (the protocol's dates are UTC, and
  "local time of whichever machine packed it" is not a meaning a peer can recover).
* On receipt, a string that matches the ISO 8601 timestamp pattern jupyter_client uses
  becomes an aware ``datetime``; a naive timestamp is read as UTC, with no warning.
  One that names no instant a ``datetime`` holds (month 13, ``24:00:01``, the end of
  9999-12-31) stays a string, where jupyter_client raises ValueError or OverflowError.
  The check is a few character tests, then the pattern, then ``datetime.fromisoformat``:
  no dateutil, so parsing costs well under a microsecond.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
import time
import types
import warnings
from binascii import b2a_base64
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

#: The ``strftime`` format of a timestamp without time zone (jupyter_client's name).
ISO8601 = "%Y-%m-%dT%H:%M:%S.%f"
#: jupyter_client's pattern for strings that look like ISO 8601 timestamps.
ISO8601_PAT = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,6})?(Z|([\+\-]\d{2}:?\d{2}))?$"
)

#: What kernelwire converts: ISO8601_PAT (jupyter_client's public pattern) without what
#: dateutil refuses there: non-ASCII digits, a trailing newline, offset minutes over 59.
_STRICT_PAT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[\+\-][0-9]{2}:?[0-5][0-9])?"
)

utc = timezone.utc
_match = _STRICT_PAT.fullmatch
_ZERO = timedelta(0)
_fromisoformat = datetime.fromisoformat


def _fromisoformat_compat(s: str) -> datetime:
    """``fromisoformat`` for Python 3.10, which rejects ``Z``, ``+HHMM`` and odd fractions."""
    match = ISO8601_PAT.match(s)
    if match is None:  # the receive path's positional check let a non-timestamp through
        raise ValueError(f"not an ISO 8601 timestamp: {s!r}")
    base, fraction, zone = match.group(1), match.group(2) or "", match.group(3) or ""
    if fraction:
        fraction = fraction.ljust(7, "0")
    if zone == "Z":
        zone = "+00:00"
    elif zone and ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    return datetime.fromisoformat(base + fraction + zone)  # not _fromisoformat: that is us


if sys.version_info < (3, 11):
    _fromisoformat = _fromisoformat_compat


def _end_of_day(s: str) -> datetime | None:
    """ISO 8601's ``24:00:00`` (the end of a day) as the next midnight, as dateutil reads
    it (jupyter_client converts it); None for anything else fromisoformat refused, and for
    the end of 9999-12-31, whose next midnight no datetime holds (jupyter_client raises
    OverflowError there; a received header must not make the receiver raise)."""
    if s[11:13] != "24":
        return None
    try:
        dt = _fromisoformat(s[:11] + "00" + s[13:])
    except ValueError:
        return None
    if dt.minute or dt.second or dt.microsecond:
        return None
    try:
        return dt + timedelta(days=1)
    except OverflowError:
        return None


def _to_datetime(s: str) -> str | datetime:
    try:
        dt = _fromisoformat(s)
    except ValueError:  # the right shape but no date, e.g. month 13: leave it a string
        end_of_day = _end_of_day(s)
        if end_of_day is None:
            return s
        dt = end_of_day
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=utc)


def _convert_leaves(obj: Any, leaf: type, convert: Callable[[Any], Any]) -> Any:
    """A copy of ``obj`` with ``convert`` applied to each ``leaf`` instance at any depth of
    dicts, lists and tuples (tuples become lists, as in jupyter_client)."""
    if isinstance(obj, dict):
        return {k: _convert_leaves(v, leaf, convert) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_convert_leaves(o, leaf, convert) for o in obj]
    if isinstance(obj, leaf):
        return convert(obj)
    return obj


def parse_date_utc(s: str | None) -> str | datetime | None:
    """Return an aware datetime if ``s`` is an ISO 8601 timestamp (naive: UTC), else ``s``
    unchanged: the receive path's rule, never a warning or an error."""
    if isinstance(s, str) and len(s) > 18 and s[10] == "T" and s[4] == "-" and _match(s):
        return _to_datetime(s)
    return s


def extract_dates_utc(obj: Any) -> Any:
    """Return a copy of ``obj`` with ISO 8601 strings (at any depth) turned into datetimes
    by ``parse_date_utc``."""
    return _convert_leaves(obj, str, parse_date_utc)


def extract_dates_inplace(d: dict[str, Any]) -> dict[str, Any]:
    """Turn date strings into datetimes in a dict that was just unpacked (nobody else holds
    it), walking it in place: the receive path's fast version of ``extract_dates_utc``.

    The shape every current peer sends, ``2026-01-02T03:04:05.123456Z``, is recognised by
    position (fromisoformat then checks the digits), which skips the regex.
    """
    for k, v in d.items():
        if type(v) is str:
            # cheapest first: length and an index, no slice (this loop is per message)
            if len(v) < 19 or v[10] != "T" or v[4] != "-":
                continue
            if (
                len(v) == 27
                and v[26] == "Z"
                and v[19] == "."
                and v[16] == ":"
                and v[13] == ":"
                and v[7] == "-"
            ):
                try:
                    d[k] = _fromisoformat(v)  # aware: it ends in Z
                    continue
                except ValueError:
                    pass  # e.g. 24:00:00; the general path below decides
            if _match(v):
                d[k] = _to_datetime(v)
        elif type(v) is dict or type(v) is list:
            d[k] = extract_dates_utc(v)
    return d


def format_date(dt: date) -> str:
    """ISO 8601 text for a date or datetime, by the rules in this module's docstring."""
    if not isinstance(dt, datetime):
        return dt.isoformat()
    offset = dt.utcoffset()
    if offset is None or offset == _ZERO:
        return dt.replace(tzinfo=None).isoformat() + "Z"
    return dt.isoformat()


def squash_dates_utc(obj: Any) -> Any:
    """Return a copy of ``obj`` with datetimes (at any depth) turned into ISO 8601 strings
    by ``format_date`` (naive ones as UTC)."""
    return _convert_leaves(obj, datetime, format_date)


def json_default_utc(obj: Any) -> Any:
    """The ``default`` hook of every packer: what JSON cannot hold natively.

    datetimes and dates -> ISO 8601 (see above); bytes -> base64 text; other iterables
    (sets, generators, arrays) -> lists; other numbers -> int or float.
    """
    if isinstance(obj, date):
        return format_date(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return b2a_base64(bytes(obj), newline=False).decode("ascii")
    if isinstance(obj, Iterable):
        return list(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    raise TypeError(f"{obj!r} is not JSON serializable")


# ------------------------------------------------------- jupyter_client's functions, exactly

_EPOCH = datetime(1970, 1, 1)


class _LocalTime(tzinfo):
    """The machine's time zone as jupyter_client attaches it to naive datetimes (dateutil's
    ``tzlocal``): offsets read from ``time`` when made; whether a wall clock is summer time
    is asked of ``time.localtime`` with the wall clock taken as standard time (so a skipped
    hour counts as summer time), and in a repeated hour ``fold=0`` is summer time."""

    def __init__(self) -> None:
        self._standard = timedelta(seconds=-time.timezone)
        self._summer = timedelta(seconds=-time.altzone) if time.daylight else self._standard
        self._names = tuple(time.tzname)

    def _wall_is_summer(self, dt: datetime) -> bool:
        seconds = (dt.replace(tzinfo=None) - _EPOCH).total_seconds()
        return bool(time.localtime(seconds + time.timezone).tm_isdst)

    def _in_summer(self, dt: datetime | None) -> bool:
        shift = self._summer - self._standard
        if not shift or dt is None:
            return False
        if self._wall_is_summer(dt):
            return True
        repeated_hour = self._wall_is_summer(dt - shift)
        return repeated_hour and not dt.fold

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        if dt is None and self._summer != self._standard:
            return None
        return self._summer if self._in_summer(dt) else self._standard

    def dst(self, dt: datetime | None) -> timedelta | None:
        if dt is None and self._summer != self._standard:
            return None
        return self._summer - self._standard if self._in_summer(dt) else _ZERO

    def tzname(self, dt: datetime | None) -> str:
        return self._names[self._in_summer(dt)]

    def __repr__(self) -> str:
        return "kernelwire.jsonutil._LocalTime()"


class _Offset(tzinfo):
    """A parsed timestamp's fixed offset as dateutil gives it to jupyter_client: named
    "UTC" when zero and unnamed otherwise, with ``dst()`` zero (``timezone`` says None)."""

    def __init__(self, offset: timedelta) -> None:
        self._offset = offset

    def __getinitargs__(self) -> tuple[timedelta]:  # pickling
        return (self._offset,)

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self._offset

    def dst(self, dt: datetime | None) -> timedelta:
        return _ZERO

    def tzname(self, dt: datetime | None) -> str | None:
        return None if self._offset else "UTC"

    def __repr__(self) -> str:
        return f"kernelwire.jsonutil._Offset({self._offset!r})"


def _local_if_naive(dt: datetime) -> datetime:
    """jupyter_client's reading of a naive datetime: local time (the wall clock kept), with
    its DeprecationWarning, message and stack level, which code filters warnings by."""
    if not dt.tzinfo:
        warnings.warn(
            f"Interpreting naive datetime as local {dt}. Please add timezone info to timestamps.",
            DeprecationWarning,
            stacklevel=4,
        )
        dt = dt.replace(tzinfo=_LocalTime())
    return dt


def _parse_timestamp(s: str) -> datetime:
    """A string ISO8601_PAT matched, parsed as dateutil's isoparse does (jupyter_client
    calls it): ValueError for what it refuses, e.g. month 13 or non-ASCII digits."""
    if not _match(s):
        raise ValueError(f"ISO 8601 string with parts dateutil refuses: {s!r}")
    try:
        dt = _fromisoformat(s)
    except ValueError:
        if s[11:13] != "24":
            raise
        # 24:00:00 is the next midnight, and on 9999-12-31 an OverflowError, as in dateutil
        dt = _fromisoformat(s[:11] + "00" + s[13:])
        if dt.minute or dt.second or dt.microsecond:
            raise ValueError(f"hour 24 is only allowed at 24:00:00: {s!r}") from None
        dt += timedelta(days=1)
    offset = dt.utcoffset()
    return dt if offset is None else dt.replace(tzinfo=_Offset(offset))


def parse_date(s: str | None) -> str | datetime | None:
    """jupyter_client's ``parse_date``: a datetime if ISO8601_PAT matches ``s`` (naive: local
    time, with a DeprecationWarning), ``s`` itself otherwise."""
    if s is None:
        return s
    if ISO8601_PAT.match(s):
        return _local_if_naive(_parse_timestamp(s))
    return s


def extract_dates(obj: Any) -> Any:
    """jupyter_client's ``extract_dates``: a copy of ``obj`` with ``parse_date`` applied to
    every string at any depth (tuples become lists)."""
    # Its own recursion, not _convert_leaves: parse_date's DeprecationWarning points
    # ``stacklevel`` frames up, which must land where jupyter_client's does.
    if isinstance(obj, dict):
        return {k: extract_dates(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [extract_dates(o) for o in obj]
    if isinstance(obj, str):
        return parse_date(obj)
    return obj


def squash_dates(obj: Any) -> Any:
    """jupyter_client's ``squash_dates``: a copy of ``obj`` with datetimes as ``isoformat()``
    (naive ones stay naive; UTC is written ``+00:00``)."""
    return _convert_leaves(obj, datetime, lambda dt: dt.isoformat())


def json_default(obj: Any) -> Any:
    """jupyter_client's ``json_default``: a naive datetime gets the local offset (with a
    DeprecationWarning), UTC is written ``Z``; bytes become base64; other iterables lists."""
    if isinstance(obj, datetime):
        return _local_if_naive(obj).isoformat().replace("+00:00", "Z")
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, bytes):
        return b2a_base64(obj, newline=False).decode("ascii")
    if isinstance(obj, Iterable):
        return list(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    raise TypeError(f"{obj!r} is not JSON serializable")


def date_default(obj: Any) -> Any:
    """Deprecated name of ``json_default``, kept because old code imports it."""
    warnings.warn(
        "date_default is deprecated since jupyter_client 7.0.0."
        " Use kernelwire.jsonutil.json_default.",
        stacklevel=2,
    )
    return json_default(obj)


_CONTAINERS_TO_LIST = (tuple, set, types.GeneratorType)


def json_clean(obj: Any) -> Any:
    """jupyter_client's ``json_clean``: a JSON-safe copy of ``obj``. NaN and infinities
    become their repr (``"nan"``), dates ``strftime(ISO8601)``, keys ``str(key)``;
    ValueError for key collisions and objects it cannot clean."""
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return repr(obj) if math.isnan(obj) or math.isinf(obj) else float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, bytes):
        return b2a_base64(obj, newline=False).decode("ascii")
    if isinstance(obj, _CONTAINERS_TO_LIST) or (
        hasattr(obj, "__iter__") and hasattr(obj, "__next__")
    ):
        obj = list(obj)
    if isinstance(obj, list):
        return [json_clean(x) for x in obj]
    if isinstance(obj, dict):
        if len(set(map(str, obj))) != len(obj):
            raise ValueError(f"dict cannot be safely converted to JSON: key collision in {obj!r}")
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, date):
        return obj.strftime(ISO8601)
    raise ValueError(f"Can't clean for JSON: {obj!r}")


def json_clean_key(key: Any) -> str:
    """A dict key as JSON text writes it: int 1 -> "1", True -> "true", None -> "null"."""
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        return repr(float(key)) if isinstance(key, float) else str(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


__all__ = [
    "ISO8601",
    "ISO8601_PAT",
    "date_default",
    "extract_dates",
    "extract_dates_utc",
    "format_date",
    "json_clean",
    "json_default",
    "json_default_utc",
    "parse_date",
    "parse_date_utc",
    "squash_dates",
    "squash_dates_utc",
]
