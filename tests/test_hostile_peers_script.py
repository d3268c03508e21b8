"""benchmarks/hostile_peers.py runs every attack to the end and reports each one (a smoke
run at tiny sizes against each kernel; no figure is checked: what a kernel survives is for
the script to report, not for this test to judge)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "hostile_peers.py"
ATTACKS = ("a", "b", "c", "d", "e", "f")
KERNELS = ("kernelwire", "ipykernel")


def test_hostile_peers_reports_every_attack(tmp_path: Path) -> None:
    # One run per kernel, side by side: most of a run is waiting on the kernel.
    runs = {
        kernel: subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                "--kernels",
                kernel,
                "--scale",
                "0.0005",
                "--timeout",
                "20",
                "--log-dir",
                str(tmp_path / kernel),
                "--json",
                str(tmp_path / f"{kernel}.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for kernel in KERNELS
    }
    try:
        outputs = {kernel: run.communicate(timeout=110)[0] for kernel, run in runs.items()}
    finally:
        for run in runs.values():
            run.kill()
            run.wait()
    for kernel, out in outputs.items():
        assert runs[kernel].returncode == 0, out
        rows = {tuple(line.split()[:2]) for line in out.splitlines() if "|" in line}
        for attack in ATTACKS:
            assert (kernel, f"{attack}.") in rows, out
        assert "goal: kernelwire 0 crashes, 0 dead channels, RSS within 2x of idle" in out
        reported = json.loads((tmp_path / f"{kernel}.json").read_text())
        assert [(o["kernel"], o["attack"]) for o in reported] == [(kernel, a) for a in ATTACKS]
        for outcome in reported:
            assert {"crashed", "dead", "idle_rss_kb", "peak_rss_kb", "log_bytes"} <= outcome.keys()
    assert _processes_mentioning(str(tmp_path)) == [], "a kernel was left running"


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (the kernels get their
    connection file, under the test's tmp_path, on the command line)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if any(text.encode() in arg for arg in args):
            found.append(b" ".join(args).decode(errors="replace"))
    return found
