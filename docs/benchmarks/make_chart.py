"""Draw the benchmarks page's chart from saved outputs of the two benchmark scripts.

    python benchmarks/bench_session.py > docs/benchmarks/bench_session.txt
    python benchmarks/bench_sockets.py > docs/benchmarks/bench_sockets.txt
    python docs/benchmarks/make_chart.py

The chart is drawn from the text the scripts print, so it shows exactly the run whose
tables the page quotes.
"""

from __future__ import annotations

import re
from pathlib import Path

from matplotlib.figure import Figure

HERE = Path(__file__).resolve().parent
#: "operation   340,428/s   183,638/s   1.85x ..."
SESSION_ROW = re.compile(r"^(?P<op>\S.*?)\s+(?P<kw>[\d,]+)/s\s+(?P<jc>[\d,]+)/s\s")


def session_rates(text: str) -> list[tuple[str, float, float]]:
    """(operation, kernelwire msg/s, jupyter_client msg/s) for each row of bench_session."""
    rows = []
    for line in text.splitlines():
        match = SESSION_ROW.match(line)
        if match:
            rate = {side: float(match[side].replace(",", "")) for side in ("kw", "jc")}
            rows.append((match["op"], rate["kw"], rate["jc"]))
    return rows


def socket_ratios(text: str) -> list[tuple[str, float, float]]:
    """(cell, kernelwire/raw, jupyter_client/raw) rates for each row of bench_sockets."""
    rows = []
    for line in text.splitlines():
        if "|" not in line or line.startswith("transport"):
            continue
        cell, _rates, ratios, *_ = (part.split() for part in line.split("|"))
        rows.append((" ".join(cell), float(ratios[0]), float(ratios[1])))
    return rows


def main() -> None:
    session = session_rates((HERE / "bench_session.txt").read_text(encoding="utf-8"))
    sockets = socket_ratios((HERE / "bench_sockets.txt").read_text(encoding="utf-8"))
    figure = Figure(figsize=(13, 6), layout="constrained")
    left, right = figure.subplots(1, 2)
    height = 0.38

    labels = [op.replace("feed_identities+", "") for op, _, _ in session]
    positions = range(len(session))
    left.barh(
        [p - height / 2 for p in positions],
        [kw / 1000 for _, kw, _ in session],
        height,
        label="kernelwire",
        color="#2a7ab9",
    )
    left.barh(
        [p + height / 2 for p in positions],
        [jc / 1000 for _, _, jc in session],
        height,
        label="jupyter_client",
        color="#b0b0b0",
    )
    left.set_yticks(list(positions), labels, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("thousand messages per second (higher is better)")
    left.set_title("Session operations, one process (bench_session.py)")

    positions = range(len(sockets))
    right.barh(
        [p - height / 2 for p in positions],
        [kw for _, kw, _ in sockets],
        height,
        label="kernelwire",
        color="#2a7ab9",
    )
    right.barh(
        [p + height / 2 for p in positions],
        [jc for _, _, jc in sockets],
        height,
        label="jupyter_client",
        color="#b0b0b0",
    )
    right.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    right.set_yticks(list(positions), [cell for cell, _, _ in sockets], fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("rate as a fraction of raw pyzmq (1.0 = no overhead)")
    right.set_title("Two processes over real sockets (bench_sockets.py)")
    figure.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncols=2)

    figure.savefig(HERE / "chart.png", dpi=90)


if __name__ == "__main__":
    main()
