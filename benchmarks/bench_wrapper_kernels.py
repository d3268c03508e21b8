"""One wrapper kernel, on kernelwire's KernelBase and on ipykernel's Kernel, side by side.

The kernel is the same class body on both bases (only the import and the launch line
differ, as the wrapper-kernel guide says): a cell ``N`` publishes N ``stream`` messages
with ``send_response``. Both run as processes driven by kernelwire's BlockingClient, so
the client's cost is the same for both. Reported: the execute round trip (request to
reply and idle, median of ``--executes`` cells of ``0``), and for one cell publishing
``--messages`` stream messages: the kernel's CPU time (what the kernel itself costs per
message; Linux), the time until the client has its idle status, and messages lost.
That time includes the client's own work (unpacking and verifying every message): the
same cell is also sent by a bare reader, a raw pyzmq subscriber that only counts messages
until the idle status, which times what the kernel delivers ("bare reader" column).

Usage: python benchmarks/bench_wrapper_kernels.py [--executes N] [--messages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq

from kernelwire.client import BlockingClient, requests, start_kernel
from kernelwire.client.errors import KernelTimeout
from kernelwire.session import Session

KERNEL_SOURCE = """
import sys

if sys.argv[1] == "kernelwire":
    from kernelwire.kernel import KernelBase as Kernel
else:
    from ipykernel.kernelbase import Kernel


class BurstKernel(Kernel):
    implementation = "burst"
    implementation_version = "1.0"
    language_info = {"name": "burst", "mimetype": "text/plain", "file_extension": ".txt"}
    banner = "cell N: N stream messages"

    async def do_execute(
        self, code, silent, store_history=True, user_expressions=None, allow_stdin=False
    ):
        for _ in range(int(code)):
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": "x\\n"})
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }


if sys.argv[1] == "kernelwire":
    BurstKernel.launch(sys.argv[2:])
else:
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=sys.argv[2:], kernel_class=BurstKernel)
"""

BASES = ("kernelwire", "ipykernel")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(script: Path, base: str, executes: int, messages: int) -> dict[str, float]:
    """For one kernel process: the execute round trip p50 (ms); for one cell publishing
    ``messages`` stream messages, the kernel's CPU time (s), the time until its reply and
    idle status (s) and how many messages were lost. ipykernel's IOPub is a PUB socket:
    past its high-water mark (1000 messages queued for a subscriber reading slower than the
    kernel publishes) ZeroMQ drops messages; kernelwire's waits for the subscriber instead
    (see kernelwire.kernel.iopub). A lost idle status shows as an infinite time."""
    argv = [sys.executable, str(script), base, "-f", "{connection_file}"]
    with start_kernel(argv) as kernel:
        client = BlockingClient(kernel.info, kernel=kernel)
        try:
            client.wait_for_ready(timeout=60)
            for _ in range(min(executes, 20)):  # warm up
                client.execute("0", timeout=60)
            times = []
            for _ in range(executes):
                start = time.perf_counter()
                client.execute("0", timeout=60)
                times.append(time.perf_counter() - start)
            cpu_before, start = cpu_seconds(kernel.pid), time.perf_counter()
            try:
                stdout = client.execute(str(messages), timeout=60).stdout
                elapsed = time.perf_counter() - start
            except KernelTimeout:
                stdout, elapsed = "", math.inf
            cpu = cpu_seconds(kernel.pid) - cpu_before
        finally:
            client.close()  # IOPub would wait for its unread subscription too
        bare = bare_reader_seconds(kernel.info, client.session, messages)
    return {
        "rtt_ms": statistics.median(times) * 1e3,
        "cpu_s": cpu,
        "until_idle_s": elapsed,
        "bare_s": bare,
        "lost": messages - stdout.count("x") if stdout else messages,
    }


def bare_reader_seconds(info: dict[str, Any], session: Session, messages: int) -> float:
    """Seconds from sending a cell publishing ``messages`` stream messages until a raw SUB
    socket has that many plus the idle status (which ends the count): the client's
    unpacking left out. The request goes out on a socket of its own. Infinite if the idle
    status does not come (a PUB kernel dropped it)."""
    context = zmq.Context.instance()
    sub = context.socket(zmq.SUB)
    dealer = context.socket(zmq.DEALER)
    try:
        sub.rcvhwm = 0
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://{info['ip']}:{info['iopub_port']}")
        dealer.connect(f"tcp://{info['ip']}:{info['shell_port']}")
        # subscribed once any message arrives (5.5 kernels welcome; others answer this)
        while not sub.poll(100):
            session.send(dealer, "kernel_info_request", {})
        while sub.poll(200):
            sub.recv_multipart()
        while dealer.poll(0):
            dealer.recv_multipart()
        start = time.perf_counter()
        session.send(dealer, "execute_request", requests.execute(str(messages)).content)
        sub.rcvtimeo = 60_000
        received = 0
        while True:
            frames = sub.recv_multipart(copy=False)
            received += 1
            if frames[-1].bytes == IDLE:
                return time.perf_counter() - start if received >= messages else math.inf
    except zmq.Again:
        return math.inf
    finally:
        sub.close(linger=0)
        dealer.close(linger=0)


#: The content frame of an idle status, as both bases pack it.
IDLE = b'{"execution_state":"idle"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executes", type=int, default=500)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "burst_kernel.py")
        script.write_text(KERNEL_SOURCE, encoding="utf-8")
        runs: dict[str, list[dict[str, float]]] = {base: [] for base in BASES}
        for _ in range(args.rounds):
            for base in BASES:
                runs[base].append(measure(script, base, args.executes, args.messages))
    n = args.messages
    print(f"best of {args.rounds} round(s); a cell publishing {n:,} stream messages:")
    print(f"{'base':<11}| execute p50 ms | kernel CPU s | until idle s | bare reader s | lost")
    best = {}
    for base in BASES:
        best[base] = {key: min(run[key] for run in runs[base]) for key in runs[base][0]}
        row = best[base]
        print(
            f"{base:<11}| {row['rtt_ms']:14.3f} | {row['cpu_s']:12.2f} | "
            f"{row['until_idle_s']:12.2f} | {row['bare_s']:13.2f} | {row['lost']:.0f}"
        )
    kw, ipy = best["kernelwire"], best["ipykernel"]
    print(
        f"kernelwire vs ipykernel: round trip {ipy['rtt_ms'] / kw['rtt_ms']:.1f}x faster, "
        f"kernel CPU per IOPub message {ipy['cpu_s'] / max(kw['cpu_s'], 0.01):.1f}x lower, "
        f"IOPub throughput {ipy['until_idle_s'] / kw['until_idle_s']:.1f}x with the client, "
        f"{ipy['bare_s'] / kw['bare_s']:.1f}x to a bare reader"
    )


if __name__ == "__main__":
    main()
