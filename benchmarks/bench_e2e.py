"""End to end, as a user feels it: kernelwire vs jupyter_client, reference kernel vs ipykernel.

Four pairings run side by side in one process, each with a kernel process of its own:
kernelwire's BlockingClient or jupyter_client's BlockingKernelClient, with the reference
kernel (``python -m kernelwire.kernel``) or ipykernel. A raw-pyzmq floor does the same
message exchange unsigned, with frames made beforehand: a tiny ROUTER/PUB "kernel" in a
child process answers each request with busy, the reply and idle (and, for the flushed
prints, one stream message per print), and a DEALER/SUB client waits for reply and idle.

Figures, each time from sending the request until both the reply and ``idle`` are in, with
every output received (and checked):

- ``execute "pass"``: p50 and p90 round trip;
- ``3,000 prints + flush``: ``print(i, flush=True)`` in a loop;
- ``15,000 prints``: buffered ``print(i)`` in a loop;
- ``kernelwire run "print(6*7)"`` and ``jupyter run --kernel python3`` wall time (a new
  process, a new kernel, one cell, shutdown);
- ``kernelwire --help`` wall time (beside the interpreter's own start-up, its floor).

Every round runs every pairing once (so a noisy neighbour hurts them alike); latencies are
pooled over the rounds, throughput and wall figures take the median over the rounds.
Ratios compare jupyter_client + ipykernel with kernelwire + its kernel; the goals are the
ones of the project's speed issue, and the misses are listed last.

    python benchmarks/bench_e2e.py [--rounds N] [--executes N] [--quick] [--plot FILE]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median, quantiles
from typing import Any

import zmq

from kernelwire.client import BlockingClient, KernelProcess, start_kernel

KERNELS = {
    "kernelwire": (sys.executable, "-m", "kernelwire.kernel", "-f", "{connection_file}"),
    "ipykernel": (sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"),
}
CLIENTS = ("kernelwire", "jupyter_client")
#: The pairing the goals are about, and the one it is compared with.
OURS, THEIRS = ("kernelwire", "kernelwire"), ("jupyter_client", "ipykernel")
FLUSHED = "for i in range({n}):\n    print(i, flush=True)"
BUFFERED = "for i in range({n}):\n    print(i)"
TIMEOUT = 120.0


@dataclass
class Sizes:
    executes: int = 200
    flushed: int = 3000
    buffered: int = 15000


@dataclass
class Figures:
    """What one pairing measured, over all rounds."""

    latencies: list[float] = field(default_factory=list)
    flushed: list[float] = field(default_factory=list)
    buffered: list[float] = field(default_factory=list)


# ------------------------------------------------------------------- clients


class KernelwirePairing:
    """kernelwire's BlockingClient on a kernel started by kernelwire's launcher."""

    def __init__(self, kernel: KernelProcess) -> None:
        self.client = BlockingClient(kernel.info, kernel=kernel)
        self.client.wait_for_ready(TIMEOUT)

    def execute(self, code: str) -> str:
        result = self.client.execute(code, timeout=TIMEOUT)
        if result.status != "ok":
            raise RuntimeError(f"cell failed: {result.reply}")
        return "".join(
            msg["content"]["text"] for msg in result.outputs if msg["msg_type"] == "stream"
        )

    def close(self) -> None:
        self.client.close()


class JupyterClientPairing:
    """jupyter_client's BlockingKernelClient attached to the same kind of kernel."""

    def __init__(self, kernel: KernelProcess) -> None:
        from jupyter_client.blocking import BlockingKernelClient

        with BlockingClient(kernel.info, kernel=kernel) as probe:  # started before attaching:
            probe.wait_for_ready(TIMEOUT)  # a slow start is no death for jupyter_client
        self.client = BlockingKernelClient()
        self.client.load_connection_info(kernel.info)
        self.client.start_channels()
        self.client.wait_for_ready(timeout=TIMEOUT)

    def execute(self, code: str) -> str:
        texts: list[str] = []

        def collect(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                texts.append(msg["content"]["text"])

        reply = self.client.execute_interactive(code, timeout=TIMEOUT, output_hook=collect)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"cell failed: {reply['content']}")
        return "".join(texts)

    def close(self) -> None:
        self.client.stop_channels()


# ------------------------------------------------------------------- raw floor


def raw_messages() -> dict[str, list[bytes]]:
    """The unsigned frames of every message of the raw exchange, made once."""
    from kernelwire.session import Session

    session = Session(key=b"", packer="orjson")
    request = session.msg("execute_request", {"code": "pass", "silent": False})
    frames = {"request": session.serialize(request)}
    for name, msg_type, content in (
        ("busy", "status", {"execution_state": "busy"}),
        ("idle", "status", {"execution_state": "idle"}),
        ("stream", "stream", {"name": "stdout", "text": "2999\n"}),
        ("reply", "execute_reply", {"status": "ok", "execution_count": 1}),
    ):
        frames[name] = session.serialize(session.msg(msg_type, content, parent=request))
    return frames


def serve_raw() -> None:
    """The raw "kernel": per request, busy, N stream messages (N in the request's last
    frame), the reply and idle. Prints its two endpoints, then serves until stdin closes."""
    frames = raw_messages()
    context: zmq.Context[Any] = zmq.Context()
    shell, iopub = context.socket(zmq.ROUTER), context.socket(zmq.PUB)
    iopub.sndhwm = 0
    shell.bind("tcp://127.0.0.1:*")
    iopub.bind("tcp://127.0.0.1:*")
    print(shell.last_endpoint.decode(), iopub.last_endpoint.decode(), flush=True)
    poller = zmq.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    busy, idle, stream, reply = (frames[name] for name in ("busy", "idle", "stream", "reply"))
    while True:
        ready = dict(poller.poll())
        if sys.stdin.fileno() in ready:
            break
        request = shell.recv_multipart()
        iopub.send_multipart([b"status", *busy])
        for _ in range(int(request[-1])):
            iopub.send_multipart([b"stream", *stream])
        shell.send_multipart([request[0], *reply])
        iopub.send_multipart([b"status", *idle])
    context.destroy(linger=0)


class RawPairing:
    """A DEALER and a SUB against the raw kernel: send, then wait for reply and idle."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve-raw"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        shell_url, iopub_url = self.process.stdout.readline().split()
        self.frames = raw_messages()
        self.context: zmq.Context[Any] = zmq.Context()
        self.shell, self.iopub = self.context.socket(zmq.DEALER), self.context.socket(zmq.SUB)
        self.iopub.rcvhwm = 0
        self.iopub.subscribe(b"")
        self.shell.connect(shell_url)
        self.iopub.connect(iopub_url)
        self.poller = zmq.Poller()
        self.poller.register(self.shell, zmq.POLLIN)
        self.poller.register(self.iopub, zmq.POLLIN)
        while True:  # until the subscription has reached the kernel
            self.shell.send_multipart([*self.frames["request"], b"0"])
            if self.iopub.poll(200):
                self._wait(0)
                break
            self.shell.recv_multipart()
        self._drain()

    def exchange(self, prints: int) -> None:
        self.shell.send_multipart([*self.frames["request"], str(prints).encode()])
        self._wait(prints)

    def _wait(self, prints: int) -> None:
        replied = idle = False
        streams = 0
        idle_content = self.frames["idle"][-1]
        while not (replied and idle):
            ready = dict(self.poller.poll(int(TIMEOUT * 1000)))
            if not ready:
                raise RuntimeError("the raw kernel did not answer")
            if self.shell in ready:
                self.shell.recv_multipart()
                replied = True
            while self.iopub in ready:
                try:
                    frames = self.iopub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if frames[0] == b"stream":
                    streams += 1
                elif frames[-1] == idle_content:
                    idle = True
        if streams != prints:
            raise RuntimeError(f"raw: {streams} stream messages, expected {prints}")

    def _drain(self) -> None:
        for socket in (self.shell, self.iopub):
            while socket.poll(100):
                socket.recv_multipart()

    def close(self) -> None:
        self.context.destroy(linger=0)
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


# ------------------------------------------------------------------- measuring


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def check_lines(text: str, n: int, who: str) -> None:
    expected = "".join(f"{i}\n" for i in range(n))
    if text != expected:
        raise RuntimeError(f"{who}: output incomplete or out of order ({len(text)} characters)")


def measure_pairing(pairing: Any, figures: Figures, sizes: Sizes, who: str) -> None:
    for _ in range(sizes.executes):
        figures.latencies.append(timed(lambda: pairing.execute("pass")))
    text = ""

    def flushed() -> None:
        nonlocal text
        text = pairing.execute(FLUSHED.format(n=sizes.flushed))

    figures.flushed.append(timed(flushed))
    check_lines(text, sizes.flushed, who)

    def buffered() -> None:
        nonlocal text
        text = pairing.execute(BUFFERED.format(n=sizes.buffered))

    figures.buffered.append(timed(buffered))
    check_lines(text, sizes.buffered, who)


def measure_raw(raw: RawPairing, figures: Figures, sizes: Sizes) -> None:
    for _ in range(sizes.executes):
        figures.latencies.append(timed(lambda: raw.exchange(0)))
    figures.flushed.append(timed(lambda: raw.exchange(sizes.flushed)))


def command_wall(argv: list[str], expected: str) -> float:
    """Wall time of a command that must print ``expected``."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or expected not in done.stdout:
        raise RuntimeError(f"{argv[:4]} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed


# ------------------------------------------------------------------- reporting


def p(values: list[float], q: int) -> float:
    """The q-th percentile (50, 90) of ``values``."""
    if len(values) < 2:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[q - 1]


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds:.3f} s"


@dataclass
class Ratio:
    name: str  # short, for the chart
    label: str
    value: float  # how many times faster (or, for "within", the factor to the floor)
    goal: float
    at_least: bool  # the value must be >= goal (else <= goal)

    @property
    def met(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal


def report(
    figures: dict[tuple[str, str], Figures],
    raw: Figures,
    walls: dict[str, list[float]],
    sizes: Sizes,
) -> list[Ratio]:
    pairings = list(figures)
    names = [f"{client}/{kernel}" for client, kernel in pairings] + ["raw pyzmq"]
    rows: list[tuple[str, list[str]]] = []
    everyone = [*figures.values(), raw]
    rows.append(('execute "pass" p50', [fmt(p(f.latencies, 50)) for f in everyone]))
    rows.append(('execute "pass" p90', [fmt(p(f.latencies, 90)) for f in everyone]))
    rows.append((f"{sizes.flushed:,} prints + flush", [fmt(median(f.flushed)) for f in everyone]))
    rows.append(
        (
            f"{sizes.buffered:,} prints",
            [fmt(median(f.buffered)) for f in figures.values()] + ["-"],
        )
    )
    width = max(len(label) for label, _ in rows)
    cell = max(len(name) for name in names) + 2
    print(f"{'figure':<{width}} " + "".join(f"{name:>{cell}}" for name in names))
    for label, cells in rows:
        print(f"{label:<{width}} " + "".join(f"{c:>{cell}}" for c in cells))
    print()
    for name, values in walls.items():
        print(f"{name:<42} median {fmt(median(values)):>10}   min {fmt(min(values)):>10}")
    print()

    ours, theirs = figures[OURS], figures[THEIRS]
    ratios = [
        Ratio(
            'execute "pass" p50',
            'execute "pass" p50, jupyter_client+ipykernel / kernelwire',
            p(theirs.latencies, 50) / p(ours.latencies, 50),
            10.0,
            True,
        ),
        Ratio(
            'execute "pass" p50 / raw',
            'execute "pass" p50, kernelwire / raw pyzmq floor',
            p(ours.latencies, 50) / p(raw.latencies, 50),
            2.0,
            False,
        ),
        Ratio(
            f"{sizes.flushed:,} prints + flush",
            f"{sizes.flushed:,} prints + flush, jupyter_client+ipykernel / kernelwire",
            median(theirs.flushed) / median(ours.flushed),
            20.0,
            True,
        ),
        Ratio(
            f"{sizes.buffered:,} prints",
            f"{sizes.buffered:,} prints, jupyter_client+ipykernel / kernelwire",
            median(theirs.buffered) / median(ours.buffered),
            8.0,
            True,
        ),
        Ratio(
            "kernelwire run",
            "run print(6*7), jupyter run / kernelwire run",
            median(walls["jupyter run --kernel python3"]) / median(walls["kernelwire run"]),
            3.0,
            True,
        ),
    ]
    for ratio in ratios:
        sign = ">=" if ratio.at_least else "<="
        verdict = "ok" if ratio.met else "BELOW"
        print(f"ratio {ratio.label}: {ratio.value:.2f}x (goal {sign} {ratio.goal:g}x) {verdict}")
    help_wall = median(walls["kernelwire --help"])
    help_ok = help_wall <= 0.15
    print(f"kernelwire --help: {fmt(help_wall)} (goal <= 0.15 s) {'ok' if help_ok else 'BELOW'}")
    missed = [r.label for r in ratios if not r.met] + ([] if help_ok else ["kernelwire --help"])
    print("goals missed: " + ("; ".join(missed) if missed else "none"))
    return ratios


def session_ratios() -> list[tuple[str, float]]:
    """In-process Session ratios (kernelwire / jupyter_client), from a short bench_session
    run, for the chart."""
    import jupyter_client.session as jc

    import kernelwire.session as kw
    from bench_session import cases, rate
    from inputs import KEY

    ours = cases(kw.Session(key=KEY, packer="orjson"))
    theirs = cases(jc.Session(key=KEY, packer="orjson"))
    best = {name: [0.0, 0.0] for name in ours}
    for _ in range(2):
        for name in ours:
            best[name][0] = max(best[name][0], rate(ours[name], 0.05))
            best[name][1] = max(best[name][1], rate(theirs[name], 0.05))
    return [(name, k / j) for name, (k, j) in best.items()]


def plot(path: str, ratios: list[Ratio], in_process: list[tuple[str, float]]) -> None:
    from matplotlib.figure import Figure

    end_to_end = [(r.name, r.value, r.goal) for r in ratios if r.at_least]
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2)
    positions = range(len(end_to_end))
    left.barh(list(positions), [value for _, value, _ in end_to_end], color="#2a7ab9")
    left.scatter(
        [goal for _, _, goal in end_to_end], list(positions), marker="|", s=400, color="black"
    )
    left.set_yticks(list(positions), [label for label, _, _ in end_to_end], fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("times faster than jupyter_client + ipykernel (bar: measured, |: goal)")
    left.set_title("End to end (bench_e2e.py)")
    positions = range(len(in_process))
    right.barh(list(positions), [value for _, value in in_process], color="#2a7ab9")
    right.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    right.set_yticks(list(positions), [name for name, _ in in_process], fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("times faster than jupyter_client's Session")
    right.set_title("Session, in process (bench_session.py)")
    figure.savefig(path, dpi=80)
    print(f"chart written to {path}")


# ------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--executes", type=int, help='"pass" executes per pairing and round')
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round (a smoke run)")
    parser.add_argument("--plot", metavar="FILE", help="write a PNG chart of the ratios")
    parser.add_argument("--serve-raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_raw:
        serve_raw()
        return 0
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    sizes = Sizes(executes=10, flushed=30, buffered=150) if args.quick else Sizes()
    rounds = 1 if args.quick else args.rounds
    if args.executes is not None:
        sizes.executes = args.executes

    kernels: list[KernelProcess] = []
    pairings: dict[tuple[str, str], Any] = {}
    raw: RawPairing | None = None
    figures = {(c, k): Figures() for c in CLIENTS for k in KERNELS}
    raw_figures = Figures()
    walls: dict[str, list[float]] = {
        "kernelwire run": [],
        "jupyter run --kernel python3": [],
        "kernelwire --help": [],
        "python -c pass (the interpreter alone)": [],
    }
    script = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)  # noqa: SIM115
    script.write("print(6*7)\n")
    script.close()
    try:
        for client, kernel_name in figures:
            kernel = start_kernel(KERNELS[kernel_name], kernel_name=kernel_name)
            kernels.append(kernel)
            kind = KernelwirePairing if client == "kernelwire" else JupyterClientPairing
            pairings[client, kernel_name] = kind(kernel)
        raw = RawPairing()
        warm_up = Sizes(executes=5, flushed=10, buffered=10)
        for key, pairing in pairings.items():
            measure_pairing(pairing, Figures(), warm_up, "/".join(key))
        for round_number in range(rounds):
            for key, pairing in pairings.items():
                measure_pairing(pairing, figures[key], sizes, "/".join(key))
            measure_raw(raw, raw_figures, sizes)
            walls["kernelwire run"].append(
                command_wall([sys.executable, "-m", "kernelwire", "run", "print(6*7)"], "42")
            )
            walls["jupyter run --kernel python3"].append(
                command_wall(
                    [sys.executable, "-m", "jupyter", "run", "--kernel", "python3", script.name],
                    "42",
                )
            )
            walls["kernelwire --help"].append(
                command_wall([sys.executable, "-m", "kernelwire", "--help"], "usage")
            )
            walls["python -c pass (the interpreter alone)"].append(
                command_wall([sys.executable, "-c", "print('usage')"], "usage")
            )
            print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    finally:
        for pairing in pairings.values():
            pairing.close()
        if raw is not None:
            raw.close()
        for kernel in kernels:
            kernel.cleanup()
        os.unlink(script.name)

    ratios = report(figures, raw_figures, walls, sizes)
    print(
        f"({rounds} interleaved rounds; {sizes.executes} executes per pairing and round; "
        "latencies pooled, other figures the median over rounds)"
    )
    if args.plot:
        plot(args.plot, ratios, session_ratios())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
