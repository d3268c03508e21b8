"""The benchmark scripts run to the end and report every cell (a smoke run: tiny timings,
no figure is checked, since these machines are shared and noisy).

bench_sockets also checks, for every run, that the server received exactly the messages
the client sent, for raw pyzmq, kernelwire and jupyter_client alike.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_sockets_reports_every_cell() -> None:
    out = _run("bench_sockets.py", "--rounds", "3", "--seconds", "0.01", "--sizes", "small,large")
    rows = {tuple(line.split()[:3]) for line in out.splitlines() if "|" in line}
    for transport in ("tcp", "ipc"):
        for mode in ("pingpong", "pipelined"):
            for size in ("small", "large"):
                assert (transport, mode, size) in rows, out
    assert "goals missed:" in out


def test_bench_session_reports_every_operation() -> None:
    out = _run("bench_session.py", "--rounds", "1", "--seconds", "0.01")
    for operation in (
        "msg()+serialize",
        "serialize",
        "feed_identities+deserialize, request",
        "feed_identities+deserialize, reply with parent",
    ):
        assert any(line.startswith(operation + " ") for line in out.splitlines()), out


def test_bench_e2e_reports_every_ratio(tmp_path: Path) -> None:
    chart = tmp_path / "chart.png"
    out = _run("bench_e2e.py", "--quick", "--plot", str(chart))
    ratios = [line for line in out.splitlines() if line.startswith("ratio ")]
    for figure in ('execute "pass" p50', "prints + flush", "prints,", "run print(6*7)"):
        assert any(figure in line for line in ratios), out
    assert "raw pyzmq floor" in out
    assert "goals missed:" in out
    assert chart.read_bytes().startswith(b"\x89PNG")
