"""``kernelwire check``: conformance and security checks for any Jupyter kernel.

Starts a kernel from an installed kernelspec (or attaches to a running one's connection
file), speaks to it over raw ZeroMQ sockets, and reports per check: pass, fail or not
supported, with the evidence.
"""

from __future__ import annotations

from .model import FAIL, NOT_SUPPORTED, PASS, CheckReport, CheckResult
from .runner import CheckOptions, KernelUnavailable, run_checks

__all__ = [
    "FAIL",
    "NOT_SUPPORTED",
    "PASS",
    "CheckOptions",
    "CheckReport",
    "CheckResult",
    "KernelUnavailable",
    "run_checks",
]
