"""kernelwire.session and kernelwire.jsonutil used where code expects jupyter_client's:
the replay history compares like jupyter_client's set, replacing the module-level
``extract_dates`` changes what the Session's receive path does, the jupyter_client-named
jsonutil functions behave as jupyter_client's (outputs and warnings, under a time zone
that is not UTC), and ipykernel's in-process kernel runs on kernelwire's Session."""

from __future__ import annotations

import decimal
import json
import math
import os
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from jupyter_client import jsonutil as jc_jsonutil

from helpers import bound_pair, endpoint, recv_within
from kernelwire import jsonutil
from kernelwire import session as kw_session
from kernelwire.errors import DuplicateSignature
from kernelwire.session import Session
from kernelwire.signing import ReplayHistory
from test_jsonutil import DATE_CORPUS

KEY = b"drop-in key"
SRC = Path(kw_session.__file__).resolve().parents[1]

# ------------------------------------------------------------------ digest_history


def test_digest_history_equals_a_set_or_history_of_the_same_signatures() -> None:
    sender, receiver = Session(key=KEY), Session(key=KEY)
    for _ in range(3):
        receiver.deserialize(sender.serialize(sender.msg("status"))[1:])
    seen = set(receiver.digest_history)
    assert len(seen) == 3
    assert receiver.digest_history == seen
    assert seen == receiver.digest_history  # the set's side asks the history back
    assert receiver.digest_history == frozenset(seen)
    assert receiver.digest_history == ReplayHistory(maxsize=5, entries=reversed(list(seen)))
    assert receiver.digest_history != seen - {next(iter(seen))}
    assert receiver.digest_history != ReplayHistory(entries=[b"other"])
    assert receiver.digest_history != sorted(seen)  # a list is not a set of signatures
    assert Session(key=KEY).digest_history == set()


def test_digest_history_is_unhashable_like_a_set() -> None:
    """Equal to a set, so it may not hash by identity (equal objects must hash equal)."""
    with pytest.raises(TypeError):
        hash(ReplayHistory())


# ------------------------------------------------------------------ extract_dates


@pytest.fixture
def pair(zmq_ctx: zmq.Context[Any], tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    bound, connected = bound_pair(zmq_ctx, (zmq.PAIR, zmq.PAIR), endpoint("tcp", tmp_path))
    yield bound, connected
    bound.close(linger=0)
    connected.close(linger=0)


def send_and_receive(pair: tuple[Any, Any], receiver: Session) -> dict[str, Any]:
    sender = Session(key=KEY)
    parent = sender.msg("execute_request", {"code": ""})
    sender.send(pair[0], "execute_reply", {"status": "ok"}, parent=parent)
    _, message = recv_within(receiver, pair[1])
    assert message is not None
    return message


def test_identity_extract_dates_turns_date_parsing_off(
    pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ipyparallel does to jupyter_client for speed:
    ``jupyter_client.session.extract_dates = lambda obj: obj``."""
    receiver = Session(key=KEY)
    assert isinstance(send_and_receive(pair, receiver)["header"]["date"], datetime)
    monkeypatch.setattr(kw_session, "extract_dates", lambda obj: obj)
    message = send_and_receive(pair, receiver)
    assert isinstance(message["header"]["date"], str)
    assert isinstance(message["parent_header"]["date"], str)
    assert message["msg_type"] == "execute_reply"
    assert message["content"] == {"status": "ok"}
    monkeypatch.undo()
    assert isinstance(send_and_receive(pair, receiver)["header"]["date"], datetime)


def test_a_replaced_extract_dates_gets_header_and_parent_header(
    pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[dict[str, Any]] = []

    def mark(obj: dict[str, Any]) -> dict[str, Any]:
        given.append(dict(obj))
        return {**obj, "marked": True}

    monkeypatch.setattr(kw_session, "extract_dates", mark)
    message = send_and_receive(pair, Session(key=KEY))
    assert [g["msg_type"] for g in given] == ["execute_reply", "execute_request"]
    assert all(isinstance(g["date"], str) for g in given)  # the replacement sees raw text
    assert message["header"]["marked"] and message["parent_header"]["marked"]
    assert message["header"]["msg_id"] == message["msg_id"]


def test_parse_dates_false_wins_over_a_replaced_extract_dates(
    pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kw_session, "extract_dates", lambda obj: {**obj, "marked": True})
    message = send_and_receive(pair, Session(key=KEY, parse_dates=False))
    assert "marked" not in message["header"]
    assert isinstance(message["header"]["date"], str)


def test_a_replaced_extract_dates_still_refuses_a_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kw_session, "extract_dates", lambda obj: obj)
    sender, receiver = Session(key=KEY), Session(key=KEY)
    frames = sender.serialize(sender.msg("status"))[1:]
    receiver.deserialize(frames)
    with pytest.raises(DuplicateSignature):
        receiver.deserialize(frames)


# ------------------------------------------------------------------ jsonutil oracle


@pytest.fixture(params=["America/New_York", "Australia/Lord_Howe", "UTC"])
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's local time zone set to a zone with summer time (New York; Lord Howe
    moves by half an hour), restored afterwards."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


def normalized(value: Any) -> Any:
    """``value`` with every datetime as everything one can see of it, for comparison."""
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), value.utcoffset(), value.dst(), value.tzname())
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalized(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def outcome(module: Any, name: str, value: Any) -> Any:
    """What ``module.name(value)`` gives: its normalized result or the kind of error, and
    each warning's category, text and the line it is reported at (or "inside" the module,
    where a deep call puts it)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Any = ("returned", normalized(getattr(module, name)(value)))
        except (TypeError, ValueError, OverflowError) as exc:
            # the kind, not the text: dateutil words its refusals its own way
            kind = next(k for k in (TypeError, ValueError, OverflowError) if isinstance(exc, k))
            result = ("raised", kind.__name__)
    reported = [
        (
            w.category,
            str(w.message).replace("kernelwire.", "jupyter_client."),
            "inside" if w.filename == module.__file__ else (w.filename, w.lineno),
        )
        for w in caught
    ]
    return result, reported


def both(name: str, value: Any) -> list[Any]:
    """kernelwire's and jupyter_client's ``name`` applied to ``value`` from the same line,
    so warnings reported at the caller's line can be compared too."""
    return [outcome(module, name, value) for module in (jsonutil, jc_jsonutil)]


NAIVE_AND_ODD_TIMESTAMPS = [
    "2026-03-08T02:30:00",  # New York skips this hour
    "2026-11-01T01:30:00",  # New York repeats this hour
    "2026-10-04T02:15:00",  # Lord Howe skips this half hour
    "2026-04-05T01:45:00",  # Lord Howe repeats this half hour
    "2026-07-01T12:00:00.5",
    "1900-01-01T00:00:00",
    "1969-12-31T23:59:59.999999",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "9999-12-31T24:00:00",
    "9999-12-31T24:00:00Z",
    "2026-01-02T24:00:00",
]


@pytest.mark.parametrize("text", DATE_CORPUS + NAIVE_AND_ODD_TIMESTAMPS)
def test_parse_date_is_jupyter_clients(text: str, local_zone: str) -> None:
    ours, theirs = both("parse_date", text)
    assert ours == theirs


def test_parse_date_warns_about_naive_timestamps(local_zone: str) -> None:
    (result, reported), _ = both("parse_date", "2026-07-01T12:00:00")
    assert result[0] == "returned" and result[1][2] is not None  # aware
    assert [category for category, *_ in reported] == [DeprecationWarning]
    assert str(reported[0][1]).startswith("Interpreting naive datetime as local")


@pytest.mark.parametrize(
    "value",
    [
        None,
        5,
        b"2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05",
        {"a": ["2026-01-02T03:04:05", {"b": ("2026-07-02T03:04:05.5Z", 3)}], "n": None},
        ("2026-01-02T03:04:05+01:00", "text"),
    ],
)
def test_extract_dates_is_jupyter_clients(value: Any, local_zone: str) -> None:
    ours, theirs = both("extract_dates", value)
    assert ours == theirs
    ours, theirs = both("parse_date", value)
    assert ours == theirs


NAIVE = datetime(2026, 7, 1, 12, 0, 0, 5)
DATETIMES = [
    NAIVE,
    datetime(2026, 1, 2),
    datetime(2026, 3, 8, 2, 30),
    datetime(2026, 11, 1, 1, 30),
    datetime(2026, 11, 1, 1, 30, fold=1),
    datetime(1, 1, 1),
    datetime(9999, 12, 31, 23, 59, 59),
    datetime(2026, 1, 2, tzinfo=timezone.utc),
    datetime(2026, 1, 2, tzinfo=timezone(timedelta(0), "GMT")),
    datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-7))),
]
VALUES = [
    *DATETIMES,
    date(2026, 1, 2),
    b"\x00\xff",
    bytearray(b"a"),
    memoryview(b"ab"),
    {1, 2},
    frozenset({3}),
    (4, 5),
    np.int64(7),
    np.float32(0.5),
    np.float64("nan"),
    decimal.Decimal("1.5"),
    math.inf,
    -math.inf,
    math.nan,
    True,
    None,
    "text",
    3 + 4j,
    object,
    {"nested": [NAIVE, {"t": (NAIVE, date(2026, 1, 2))}], 1: "int key"},
    {1: "a", "1": "b"},
    {True: 1, "True": 2},
    {(1,): "tuple key", None: 2, 2.5: 3},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("name", ["json_default", "json_clean", "squash_dates", "date_default"])
def test_jsonutil_function_is_jupyter_clients(name: str, value: Any, local_zone: str) -> None:
    ours, theirs = both(name, value)
    assert ours == theirs


def test_json_default_gives_naive_datetimes_the_local_offset() -> None:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        with pytest.warns(DeprecationWarning, match="Interpreting naive datetime as local"):
            assert jsonutil.json_default(datetime(2026, 1, 2)) == "2026-01-02T00:00:00-05:00"
        with pytest.warns(DeprecationWarning):
            assert jsonutil.json_default(datetime(2026, 7, 2)) == "2026-07-02T00:00:00-04:00"
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()
    # the packers keep their own rule: naive is UTC, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jsonutil.json_default_utc(datetime(2026, 1, 2)) == "2026-01-02T00:00:00Z"


def test_the_session_keeps_its_utc_rules(local_zone: str) -> None:
    """Session's packers write a naive datetime as UTC and its receive path reads a naive
    timestamp as UTC, silently, whatever the local zone."""
    sender, receiver = Session(key=KEY), Session(key=KEY)
    message = sender.msg("status", {"when": datetime(2026, 1, 2)})
    message["header"]["date"] = "2026-01-02T03:04:05"
    frames = sender.serialize(message)[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        received = receiver.deserialize(frames)
    assert received["content"] == {"when": "2026-01-02T00:00:00Z"}
    assert received["header"]["date"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


# ------------------------------------------------------------------ ipykernel in-process

IN_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import kernelwire.session
    sys.modules["jupyter_client.session"] = kernelwire.session  # before anything imports it
    from ipykernel.inprocess.manager import InProcessKernelManager

    manager = InProcessKernelManager()
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    report = {"sessions": [type(s).__module__ for s in
                           (manager.session, manager.kernel.session, client.session)]}
    for code in ("print('hi'); 6 * 7", "1 / 0"):
        client.execute(code)
        reply = client.get_shell_msg(timeout=60)
        outputs = []
        while True:
            message = client.get_iopub_msg(timeout=60)
            outputs.append([message["msg_type"], message["content"]])
            if message["msg_type"] == "status" and (
                message["content"]["execution_state"] == "idle"
            ):
                break
        report[code] = {"reply": reply["content"], "outputs": outputs,
                        "date": type(reply["header"]["date"]).__name__}
    client.stop_channels()
    manager.shutdown_kernel()
    print(json.dumps(report))
    """
)


def test_ipykernel_in_process_kernel_runs_on_kernelwire_session() -> None:
    """ipykernel's in-process kernel and client with ``jupyter_client.session`` replaced by
    ``kernelwire.session`` (in a fresh interpreter, so no other test sees the swap): their
    DummySocket offers only send_multipart/recv_multipart, with zmq Frames inside."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    done = subprocess.run(
        [sys.executable, "-Xfrozen_modules=off", "-c", IN_PROCESS_SCRIPT],
        capture_output=True,
        text=True,
        timeout=110,  # under the 120 s test timeout, to fail with this call named
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["sessions"] == ["kernelwire.session"] * 3

    good = report["print('hi'); 6 * 7"]
    assert good["reply"]["status"] == "ok"
    assert good["date"] == "datetime"  # the client parsed the reply's date
    outputs = good["outputs"]
    assert ["stream", {"name": "stdout", "text": "hi\n"}] in outputs
    results = [content for kind, content in outputs if kind == "execute_result"]
    assert [r["data"] for r in results] == [{"text/plain": "42"}]
    assert outputs[0] == ["status", {"execution_state": "busy"}]

    bad = report["1 / 0"]
    assert bad["reply"]["status"] == "error"
    errors = [content for kind, content in bad["outputs"] if kind == "error"]
    assert [(e["ename"], e["evalue"]) for e in errors] == [
        ("ZeroDivisionError", "division by zero")
    ]
