"""What every check gets: the peer, the report, the kernel's facts, and its snippets."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..client import KernelProcess
from ..kernelspec import KernelSpec
from .model import FAIL, NOT_SUPPORTED, PASS, CheckReport
from .peer import Peer


@dataclass
class CheckContext:
    """One run's shared state; checks add their results to ``report``."""

    peer: Peer
    report: CheckReport
    info: dict[str, Any]
    connection_file: str
    #: The kernel process when the checker started it (None for ``--existing``).
    kernel: KernelProcess | None = None
    spec: KernelSpec | None = None
    #: The kernel's pid: ours when we started it, else found from its listening sockets.
    pid: int | None = None
    #: Whether the checker wrote the connection file (then its mode says nothing).
    wrote_connection_file: bool = False
    #: Whether the kernel was started with the 5.6 registration handshake.
    handshake_used: bool = False
    #: kernel_info_reply content (empty when the kernel never answered).
    kernel_info: dict[str, Any] = field(default_factory=dict)
    #: Snippets for the kernel's language (None: no code for it, checks needing it are
    #: not supported).
    snippets: dict[str, str] | None = None
    #: Set by a check that saw the kernel stop answering (the runner restarts a kernel it
    #: started before the next check).
    deaf: bool = False
    #: How the kernel died each time it was restarted during the run.
    restarts: list[str] = field(default_factory=list)
    #: What the message validation checks (for the evidence).
    validator_name: str = "required fields"
    #: A private directory for the marker files of the side-effect checks.
    scratch: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="kernelwire-check-"))

    @property
    def language(self) -> str:
        info = self.kernel_info.get("language_info")
        return str(info.get("name", "")).lower() if isinstance(info, dict) else ""

    @property
    def interrupt_mode(self) -> str:
        return self.spec.interrupt_mode if self.spec is not None else "message"

    def code(self, name: str, **values: str) -> str | None:
        """The snippet ``name`` filled in, or None when the language has none."""
        if self.snippets is None or name not in self.snippets:
            return None
        return self.snippets[name].format(**values)

    def marker(self) -> str:
        """A path for a marker file nobody has created."""
        return f"{self.scratch}/marker-{uuid.uuid4().hex}"

    def alive(self) -> bool:
        return self.kernel is None or self.kernel.is_running()

    def passed(self, name: str, evidence: str) -> None:
        self.report.add(name, PASS, evidence)

    def failed(self, name: str, evidence: str) -> None:
        self.report.add(name, FAIL, evidence)

    def unsupported(self, name: str, evidence: str) -> None:
        self.report.add(name, NOT_SUPPORTED, evidence)

    def verdict(self, name: str, problems: list[str], ok_evidence: str) -> None:
        """Pass with ``ok_evidence`` when ``problems`` is empty, else fail naming them."""
        if problems:
            self.failed(name, "; ".join(problems))
        else:
            self.passed(name, ok_evidence)


def execute_content(code: str, allow_stdin: bool = False) -> dict[str, Any]:
    return {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": allow_stdin,
        "stop_on_error": False,
    }


def exit_line(kernel: KernelProcess) -> str:
    """How the kernel process ended, in one line (its output left out)."""
    return kernel.describe_exit().splitlines()[0].split("; its output ends")[0]
