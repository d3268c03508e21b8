"""What can go wrong between a client and a kernel, beyond a single bad message."""

from __future__ import annotations

from typing import Any

from ..errors import WireError


class ClientError(Exception):
    """Base class: a request to a kernel could not be completed."""


class KernelTimeout(ClientError, TimeoutError):
    """What was waited for did not arrive in time. ``msg_id`` names the request still
    pending (``collect_outputs(msg_id)`` resumes waiting for it), or is None."""

    def __init__(self, message: str, msg_id: str | None = None) -> None:
        super().__init__(message)
        #: The request still pending, or None.
        self.msg_id = msg_id


class KernelDied(ClientError):
    """The kernel process exited, or stopped answering heartbeats, while we waited."""


class KernelStartError(ClientError):
    """The kernel process could not be started or exited before it became ready."""


class MessageRefused(ClientError, WireError):
    """A reply from the kernel failed verification: the connection's key or signature
    scheme differs from the kernel's. The refused message's error is the ``__cause__``."""


class ExecutionError(ClientError):
    """The executed code raised: ``ename``, ``evalue`` and ``traceback`` from the kernel."""

    def __init__(self, content: dict[str, Any]) -> None:
        #: The exception's class name, e.g. ``"ZeroDivisionError"``.
        self.ename: str = str(content.get("ename", ""))
        #: The exception's message.
        self.evalue: str = str(content.get("evalue", ""))
        #: The traceback's lines, as the kernel formatted them (they may hold ANSI colours).
        self.traceback: list[str] = list(content.get("traceback", []))
        super().__init__(f"{self.ename}: {self.evalue}")


class SubshellError(ClientError):
    """The kernel refused a subshell request (an unknown ``subshell_id``, too many
    subshells): ``ename`` and ``evalue`` from its reply."""

    def __init__(self, content: dict[str, Any]) -> None:
        self.ename: str = str(content.get("ename", ""))
        self.evalue: str = str(content.get("evalue", ""))
        super().__init__(self.evalue or "the kernel refused the subshell request")


__all__ = [
    "ClientError",
    "ExecutionError",
    "KernelDied",
    "KernelStartError",
    "KernelTimeout",
    "MessageRefused",
    "SubshellError",
]
