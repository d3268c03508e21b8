"""Real sockets, two processes: kernelwire vs jupyter_client vs raw pyzmq, in one run.

The client (this process, a DEALER) and a server (a child process, a ROUTER) exchange
Jupyter messages over tcp and ipc:

- ping-pong: the client sends an execute_request and waits for the server's reply, which
  echoes the content (and buffers);
- pipelined: the client sends as fast as it can; the server only receives.

Sizes: small (an execute_request), medium (~60 KB of content, just under the zero-copy
threshold) and large (a 10 MB buffer of random bytes, sent zero-copy and received with
copy=False).
"raw" sends the very same frames, serialized once beforehand, with plain pyzmq: the
floor that any Session is measured against. Every (transport, mode, size) cell runs raw,
kernelwire and jupyter_client back to back, over several rounds (large cells twice as
long), each after a short unrecorded warm-up run of its own kind (a run is measurably
disturbed by the one before it), in an order that rotates every round. Each ratio to
raw is taken within a round, where a noisy neighbour hurts all three
alike, and the median over the rounds is shown, with the median rates. CPU per message is
time.process_time in each process (client + server, zmq's I/O threads included). Where
the OS allows, the client and the server are pinned to two different CPUs (--no-pin to
let them float): on a small shared machine this halves the spread between runs.

    python benchmarks/bench_sockets.py [--seconds S] [--rounds N] [--no-pin]
        [--transports tcp,ipc] [--modes pingpong,pipelined] [--sizes small,medium,large]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import median
from typing import Any, cast

import zmq

from inputs import EXECUTE_REQUEST, KEY

IMPLS = ("raw", "kernelwire", "jupyter_client")

MEDIUM = {"name": "stdout", "text": "0123456789abcdef" * 3750}  # 60 000 characters
LARGE_BYTES = 10 * 1024 * 1024
#: The large buffer, one object for every implementation, made once per process. Its bytes
#: are real data: a ``bytes(N)`` of zeros is calloc'd memory that may be untouched pages all
#: mapped to the kernel's one zero page (copied from cache at no memory cost) or, when the
#: allocator reuses freed memory, ten real megabytes; which one depends on allocator
#: history, and it made whichever implementation ran on zero pages up to 20% "faster".
LARGE = random.Random(0).randbytes(LARGE_BYTES)

#: (mode, size) -> goal for kernelwire / raw rate
RATE_GOALS = {
    ("pingpong", "small"): 0.8,
    ("pipelined", "small"): 0.6,
    ("pingpong", "large"): 0.95,
    ("pipelined", "large"): 0.95,
}
#: (mode, size) -> goal for kernelwire CPU per message / raw CPU per message
CPU_GOALS = {("pingpong", "small"): 1.5}


@dataclass(frozen=True)
class Case:
    impl: str
    transport: str
    mode: str
    size: str

    @property
    def copy(self) -> bool:
        """Large messages are received without copying (memoryviews over zmq Frames)."""
        return self.size != "large"

    @property
    def hwm(self) -> int:
        """Keep at most a few 10 MB messages queued."""
        return 4 if self.size == "large" else 1000

    @property
    def batch(self) -> int:
        """Messages between two looks at the clock."""
        return {"small": 64, "medium": 16, "large": 1}[self.size]

    def payload(self) -> tuple[dict[str, Any], list[Any]]:
        if self.size == "small":
            return EXECUTE_REQUEST, []
        if self.size == "medium":
            return MEDIUM, []
        return {"name": "data"}, [LARGE]


def make_session(impl: str) -> Any:
    """The Session of ``impl`` (raw builds its frames with kernelwire's, once)."""
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    if impl == "jupyter_client":
        import jupyter_client.session as jc

        return jc.Session(key=KEY, packer="orjson")
    import kernelwire.session as kw

    return kw.Session(key=KEY, packer="orjson")


def raw_frames(case: Case) -> tuple[list[Any], list[Any]]:
    """The request frames and the reply frames (without identities) for raw sends."""
    session = make_session("kernelwire")
    content, buffers = case.payload()
    request = session.msg("execute_request", content)
    reply = session.msg("execute_reply", content, parent=request)
    return session.serialize(request) + buffers, session.serialize(reply)


# --------------------------------------------------------------------------- server


def recv_dict(control: zmq.Socket[Any]) -> dict[str, Any]:
    """One JSON object from the control socket."""
    return cast(dict[str, Any], control.recv_json())


# The servers keep no message alive while they wait for the next one: holding a 10 MB
# message across the next receive changes how the allocator recycles memory.


def serve_raw(sock: zmq.Socket[Any], case: Case) -> int:
    request, reply = raw_frames(case)
    expected = len(request) + 1  # + the ROUTER identity
    recv, send, copy, count = sock.recv_multipart, sock.send_multipart, case.copy, 0
    if case.mode == "pingpong":
        while len(frames := recv(0, copy)) == expected:
            send([frames[0], *reply, *frames[7:]], copy=copy)
            del frames
            count += 1
    else:
        while len(recv(0, copy)) == expected:
            count += 1
    return count


def serve_session(sock: zmq.Socket[Any], case: Case) -> int:
    session = make_session(case.impl)
    recv, send, copy, count = session.recv, session.send, case.copy, 0
    if case.mode == "pingpong":
        while True:
            idents, msg = recv(sock, mode=0, copy=copy)
            if msg["msg_type"] == "stop":
                break
            send(sock, "execute_reply", msg["content"], msg, idents, msg["buffers"])
            del msg
            count += 1
    else:
        while recv(sock, mode=0, copy=copy)[1]["msg_type"] != "stop":
            count += 1
    return count


def pin(cpu: int | None) -> None:
    """Keep this process (its zmq I/O threads included, made later) on one CPU."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def two_cpus() -> tuple[int, int] | None:
    """The CPUs for the client and the server, or None when pinning is not possible."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


def serve(control_address: str) -> None:
    """The server process: runs the cases the client asks for over the control socket."""
    context: zmq.Context[Any] = zmq.Context()
    control = context.socket(zmq.PAIR)
    control.connect(control_address)
    ipc_dir = tempfile.mkdtemp(prefix="kw-bench-")
    try:
        while (command := recv_dict(control))["cmd"] == "run":
            case = Case(**command["case"])
            sock = context.socket(zmq.ROUTER)
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = case.hwm
            if case.transport == "tcp":
                sock.bind("tcp://127.0.0.1:*")
            else:
                sock.bind(f"ipc://{ipc_dir}/{case.impl}-{case.mode}-{case.size}")
            control.send_json({"endpoint": sock.last_endpoint.decode()})
            hello = sock.recv_multipart()  # the connection is up
            sock.send_multipart([hello[0], b"hello"])
            start = time.process_time()
            count = (serve_raw if case.impl == "raw" else serve_session)(sock, case)
            sock.send_multipart([hello[0], b"done"])
            cpu = time.process_time() - start
            sock.close()
            control.send_json({"count": count, "cpu": cpu})
    finally:
        shutil.rmtree(ipc_dir, ignore_errors=True)
        context.destroy(linger=0)


# --------------------------------------------------------------------------- client


def timed(batch: int, seconds: float, step: Callable[[], None]) -> int:
    """Run ``step`` in batches until ``seconds`` have passed; the number of steps."""
    deadline = time.perf_counter() + seconds
    count = 0
    while True:
        for _ in range(batch):
            step()
        count += batch
        if time.perf_counter() >= deadline:
            return count


def client_steps(
    case: Case, sock: zmq.Socket[Any]
) -> tuple[Callable[[], None], Callable[[], None]]:
    """(one timed step, the stop signal) for ``case`` on the connected DEALER."""
    copy = case.copy
    if case.impl == "raw":
        request, _ = raw_frames(case)
        send, recv = sock.send_multipart, sock.recv_multipart

        def stop() -> None:
            send([*request, b"stop"])  # one frame more than a request

        def raw_round_trip() -> None:
            send(request, copy=copy)
            recv(0, copy)

        def raw_send() -> None:
            send(request, copy=copy)

        return (raw_round_trip if case.mode == "pingpong" else raw_send), stop

    session = make_session(case.impl)
    content, buffers = case.payload()
    s_send, s_recv = session.send, session.recv

    def session_stop() -> None:
        s_send(sock, "stop", {})

    def round_trip() -> None:
        s_send(sock, "execute_request", content, buffers=buffers)
        s_recv(sock, mode=0, copy=copy)

    def one_way() -> None:
        s_send(sock, "execute_request", content, buffers=buffers)

    return (round_trip if case.mode == "pingpong" else one_way), session_stop


@dataclass
class Result:
    rate: float  # messages (or round trips) per second
    cpu_client: float  # seconds of CPU per message
    cpu_server: float

    FIELDS = ("rate", "cpu_client", "cpu_server")

    @property
    def cpu(self) -> float:
        return self.cpu_client + self.cpu_server


def run_case(
    context: zmq.Context[Any], control: zmq.Socket[Any], case: Case, seconds: float
) -> Result:
    control.send_json({"cmd": "run", "case": asdict(case)})
    endpoint = recv_dict(control)["endpoint"]
    sock = context.socket(zmq.DEALER)
    sock.linger = 0
    sock.sndhwm = sock.rcvhwm = case.hwm
    sock.connect(endpoint)
    sock.send(b"hello")
    sock.recv()
    step, stop = client_steps(case, sock)
    start_cpu, start = time.process_time(), time.perf_counter()
    count = timed(case.batch, seconds, step)
    stop()
    sock.recv_multipart()  # "done": the server has received everything
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    server = recv_dict(control)
    sock.close()
    assert server["count"] == count, (case, server["count"], count)
    return Result(count / elapsed, cpu / count, server["cpu"] / count)


def report(runs: dict[tuple[str, str, str], dict[str, list[Result]]]) -> None:
    header = (
        f"{'transport':9} {'mode':9} {'size':6} | {'raw /s':>8} {'kw /s':>8} {'jc /s':>8} | "
        f"{'kw/raw':>6} {'jc/raw':>6} {'goal':>6} | {'cpu us raw':>10} {'kw':>7} {'jc':>7} | "
        f"{'kw/raw':>6} {'jc/raw':>6} {'goal':>6}"
    )
    print(header)
    print("-" * len(header))
    missed = []
    for (transport, mode, size), row in runs.items():
        raw, kw, jc = (
            Result(*(median(getattr(r, f) for r in row[i]) for f in Result.FIELDS)) for i in IMPLS
        )
        rate_goal = RATE_GOALS.get((mode, size))
        cpu_goal = CPU_GOALS.get((mode, size))
        kw_rate, jc_rate = (paired(row[i], row["raw"], "rate") for i in IMPLS[1:])
        kw_cpu, jc_cpu = (paired(row[i], row["raw"], "cpu") for i in IMPLS[1:])
        mark_rate = _verdict(kw_rate >= rate_goal) if rate_goal else ""
        mark_cpu = _verdict(kw_cpu <= cpu_goal) if cpu_goal else ""
        if rate_goal and kw_rate < rate_goal:
            missed.append(f"{transport} {mode} {size}: rate {kw_rate:.2f} < {rate_goal}")
        if cpu_goal and kw_cpu > cpu_goal:
            missed.append(f"{transport} {mode} {size}: cpu {kw_cpu:.2f}x > {cpu_goal}x")
        print(
            f"{transport:9} {mode:9} {size:6} | {raw.rate:8.0f} {kw.rate:8.0f} {jc.rate:8.0f} | "
            f"{kw_rate:6.2f} {jc_rate:6.2f} {_goal(rate_goal, '>=')}{mark_rate} | "
            f"{raw.cpu * 1e6:10.1f} {kw.cpu * 1e6:7.1f} {jc.cpu * 1e6:7.1f} | "
            f"{kw_cpu:6.2f} {jc_cpu:6.2f} {_goal(cpu_goal, '<=')}{mark_cpu}"
        )
    print()
    print("rates: round trips/s (pingpong) or messages/s (pipelined), median of the rounds;")
    print("ratios: the median over the rounds of each round's ratio to raw;")
    print("cpu: client + server process time per message, microseconds (I/O threads included)")
    print("goals missed: " + ("; ".join(missed) if missed else "none"))


def paired(results: list[Result], raw: list[Result], field: str) -> float:
    """The median over the rounds of ``field`` relative to raw's in the same round."""
    return median(getattr(r, field) / getattr(b, field) for r, b in zip(results, raw, strict=True))


def _goal(goal: float | None, sign: str) -> str:
    return f"{sign}{goal:<4}" if goal else " " * 6


def _verdict(ok: bool) -> str:
    return " ok" if ok else " MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=0.14, help="timed run per cell (large: twice)"
    )
    parser.add_argument(
        "--rounds", type=int, default=6, help="rounds (a multiple of 3); medians are shown"
    )
    parser.add_argument("--transports", default="tcp,ipc")
    parser.add_argument("--modes", default="pingpong,pipelined")
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the processes")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        pin(args.cpu)
        serve(args.serve)
        return
    cpus = None if args.no_pin else two_cpus()
    pin(cpus[0] if cpus else None)

    context: zmq.Context[Any] = zmq.Context()
    control = context.socket(zmq.PAIR)
    control.linger = 0
    control.bind("tcp://127.0.0.1:*")
    server_cpu = [] if cpus is None else ["--cpu", str(cpus[1])]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", control.last_endpoint.decode(), *server_cpu]
    )
    cells = [
        (t, m, s)
        for t in args.transports.split(",")
        for m in args.modes.split(",")
        for s in args.sizes.split(",")
    ]
    runs: dict[tuple[str, str, str], dict[str, list[Result]]] = {
        cell: {impl: [] for impl in IMPLS} for cell in cells
    }
    started = time.perf_counter()
    try:
        for round_number in range(args.rounds):
            for cell in cells:
                seconds = args.seconds * (2 if cell[2] == "large" else 1)
                # a run is measurably disturbed by the one before it (allocator state,
                # caches): each is preceded by a short unrecorded run of the same kind,
                # and the order rotates every round
                shift = round_number % len(IMPLS)
                for impl in IMPLS[shift:] + IMPLS[:shift]:
                    case = Case(impl, *cell)
                    run_case(context, control, case, seconds / 5)
                    runs[cell][impl].append(run_case(context, control, case, seconds))
        control.send_json({"cmd": "exit"})
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        context.destroy(linger=0)
    print(
        f"bench_sockets: python {sys.version.split()[0]}, pyzmq {zmq.__version__}, "
        f"libzmq {zmq.zmq_version()}, {args.rounds} rounds x {args.seconds}s per cell, "
        f"{f'pinned to CPUs {cpus[0]} and {cpus[1]}' if cpus else 'not pinned'}, "
        f"{time.perf_counter() - started:.0f}s in all\n"
    )
    report(runs)


if __name__ == "__main__":
    main()
