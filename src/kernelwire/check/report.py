"""Rendering a report: a table for people, JSON for CI."""

from __future__ import annotations

import json

from .model import FAIL, NOT_SUPPORTED, PASS, CheckReport


def render_table(report: CheckReport) -> str:
    """One row per check: name, result, evidence; then a summary line."""
    kernel = report.kernel
    lines = [
        f"kernelwire check: {kernel.get('implementation', '?')} "
        f"{kernel.get('implementation_version', '')} (protocol "
        f"{kernel.get('protocol_version', '?')}, language {kernel.get('language', '?')})"
    ]
    name_width = max([len("check"), *(len(r.name) for r in report.results)])
    status_width = len(NOT_SUPPORTED)
    lines.append(f"{'check':<{name_width}}  {'result':<{status_width}}  evidence")
    lines.append(f"{'-' * name_width}  {'-' * status_width}  {'-' * 8}")
    for result in report.results:
        lines.append(
            f"{result.name:<{name_width}}  {result.status:<{status_width}}  {result.evidence}"
        )
    counts = {
        status: sum(r.status == status for r in report.results)
        for status in (PASS, FAIL, NOT_SUPPORTED)
    }
    lines.append(
        f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[NOT_SUPPORTED]} not supported"
    )
    lines += [f"kernel restarted: {restart}" for restart in kernel.get("restarts") or []]
    return "\n".join(lines)


def render_json(report: CheckReport) -> str:
    return json.dumps(report.to_json(), indent=2)
