"""Time kernelwire's Session against jupyter_client's, side by side, in one process.

Both get the same inputs (orjson packer, hmac-sha256, the same key). The runs are
interleaved (kernelwire, jupyter_client, kernelwire, ...) over several rounds and the best
round of each is kept, so that a noisy neighbour on a shared machine hurts both alike.
Prints rates and the ratio kernelwire / jupyter_client with the issue's goal beside it.

    python benchmarks/bench_session.py [--rounds N] [--seconds S]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

import jupyter_client.session as jc

import kernelwire.session as kw
from inputs import EXECUTE_REQUEST, KEY

#: name -> the goal ratio from the issue
GOALS = {
    "msg()+serialize": 1.8,
    "serialize": 1.4,
    "feed_identities+deserialize, request": 4.0,
    "feed_identities+deserialize, reply with parent": 4.0,
}


def cases(session: object) -> dict[str, Callable[[], object]]:
    """The timed operations for one Session (kernelwire's or jupyter_client's)."""
    s = session
    request = s.msg("execute_request", EXECUTE_REQUEST)  # type: ignore[attr-defined]
    request_frames = s.serialize(request, ident=[b"client-identity"])  # type: ignore[attr-defined]
    reply = s.msg(  # type: ignore[attr-defined]
        "execute_reply",
        {"status": "ok", "execution_count": 7, "user_expressions": {}, "payload": []},
        parent=request,
        metadata={"started": "2026-01-02T03:04:05.123456Z", "dependencies_met": True},
    )
    reply_frames = s.serialize(reply, ident=[b"client-identity"])  # type: ignore[attr-defined]
    feed = s.feed_identities  # type: ignore[attr-defined]
    deserialize = s.deserialize  # type: ignore[attr-defined]
    serialize = s.serialize  # type: ignore[attr-defined]
    msg = s.msg  # type: ignore[attr-defined]

    def msg_serialize() -> object:
        return serialize(msg("execute_request", EXECUTE_REQUEST), ident=[b"client-identity"])

    def serialize_only() -> object:
        return serialize(request, ident=[b"client-identity"])

    def deserialize_request() -> object:
        return deserialize(feed(request_frames)[1])

    def deserialize_reply() -> object:
        return deserialize(feed(reply_frames)[1])

    s.digest_history_size = 0  # type: ignore[attr-defined]  # the same frames, again and again
    return {
        "msg()+serialize": msg_serialize,
        "serialize": serialize_only,
        "feed_identities+deserialize, request": deserialize_request,
        "feed_identities+deserialize, reply with parent": deserialize_reply,
    }


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn``, timed over about ``seconds``."""
    n = 1000
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed
        n = int(n * max(2.0, 1.2 * seconds / max(elapsed, 1e-6)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best kept)")
    parser.add_argument("--seconds", type=float, default=0.2, help="time per measurement")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)

    ours = cases(kw.Session(key=KEY, packer="orjson"))
    theirs = cases(jc.Session(key=KEY, packer="orjson"))
    no_dates = cases(kw.Session(key=KEY, packer="orjson", parse_dates=False))
    # (label, kernelwire's, jupyter_client's, goal or None for information only)
    rows = [(name, ours[name], theirs[name], GOALS[name]) for name in ours]
    rows += [
        (f"{name} [parse_dates=False]", no_dates[name], theirs[name], None)
        for name in ours
        if name.startswith("feed_identities")
    ]
    best = [[0.0, 0.0] for _ in rows]
    for _ in range(args.rounds):
        for (_, mine, reference, _), rates in zip(rows, best, strict=True):
            rates[0] = max(rates[0], rate(mine, args.seconds))
            rates[1] = max(rates[1], rate(reference, args.seconds))

    width = max(len(row[0]) for row in rows)
    columns = f"{'kernelwire':>12} {'jupyter_client':>15} {'ratio':>7} {'goal':>6}"
    print(f"{'operation':<{width}} {columns}")
    for (label, _, _, goal), (k, j) in zip(rows, best, strict=True):
        ratio = k / j
        verdict = "" if goal is None else f"{goal:>5.1f}x {'ok' if ratio >= goal else 'BELOW'}"
        print(f"{label:<{width}} {k:>10,.0f}/s {j:>13,.0f}/s {ratio:>6.2f}x {verdict}")
    print(f"({args.rounds} interleaved rounds, best of each; orjson packer, hmac-sha256)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
