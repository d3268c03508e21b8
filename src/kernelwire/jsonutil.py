"""Dates and JSON cleaning, under the names ``jupyter_client.jsonutil`` uses.

Date rules, one for every packer:

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
import types
import warnings
from binascii import b2a_base64
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
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


def parse_date(s: str | None) -> str | datetime | None:
    """Return an aware datetime if ``s`` is an ISO 8601 timestamp, else ``s`` unchanged."""
    if isinstance(s, str) and len(s) > 18 and s[10] == "T" and s[4] == "-" and _match(s):
        return _to_datetime(s)
    return s


def extract_dates(obj: Any) -> Any:
    """Return a copy of ``obj`` with ISO 8601 strings (at any depth) turned into datetimes."""
    if isinstance(obj, dict):
        return {k: extract_dates(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [extract_dates(o) for o in obj]
    if isinstance(obj, str):
        return parse_date(obj)
    return obj


def extract_dates_inplace(d: dict[str, Any]) -> dict[str, Any]:
    """Turn date strings into datetimes in a dict that was just unpacked (nobody else holds
    it), walking it in place: the receive path's fast version of ``extract_dates``.

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
            d[k] = extract_dates(v)
    return d


def format_date(dt: date) -> str:
    """ISO 8601 text for a date or datetime, by the rules in this module's docstring."""
    if not isinstance(dt, datetime):
        return dt.isoformat()
    offset = dt.utcoffset()
    if offset is None or offset == _ZERO:
        return dt.replace(tzinfo=None).isoformat() + "Z"
    return dt.isoformat()


def squash_dates(obj: Any) -> Any:
    """Return a copy of ``obj`` with datetimes (at any depth) turned into ISO 8601 strings."""
    if isinstance(obj, dict):
        return {k: squash_dates(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [squash_dates(o) for o in obj]
    if isinstance(obj, datetime):
        return format_date(obj)
    return obj


def json_default(obj: Any) -> Any:
    """The ``default`` hook of every JSON packer: what JSON cannot hold natively.

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


def date_default(obj: Any) -> Any:
    """Deprecated name of ``json_default``, kept because old code imports it."""
    warnings.warn(
        "date_default is deprecated; use kernelwire.jsonutil.json_default",
        DeprecationWarning,
        stacklevel=2,
    )
    return json_default(obj)


_CONTAINERS_TO_LIST = (tuple, set, frozenset, types.GeneratorType)


def json_clean(obj: Any) -> Any:
    """Return a JSON-safe copy of ``obj`` (strict JSON: NaN and infinities become None).

    Like jupyter_client's json_clean, but non-finite floats become None rather than the
    strings "nan"/"inf", matching what every kernelwire JSON packer writes for them.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, bytes | bytearray | memoryview):
        return b2a_base64(bytes(obj), newline=False).decode("ascii")
    if isinstance(obj, date):
        return format_date(obj)
    if isinstance(obj, _CONTAINERS_TO_LIST) or (
        hasattr(obj, "__iter__") and hasattr(obj, "__next__")
    ):
        obj = list(obj)
    if isinstance(obj, list):
        return [json_clean(x) for x in obj]
    if isinstance(obj, dict):
        keys = [json_clean_key(k) for k in obj]
        if len(set(keys)) != len(keys):
            raise ValueError(f"dict cannot be safely converted to JSON: key collision in {obj!r}")
        return {key: json_clean(v) for key, v in zip(keys, obj.values(), strict=True)}
    return repr(obj)


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
    "format_date",
    "json_clean",
    "json_default",
    "parse_date",
    "squash_dates",
]
