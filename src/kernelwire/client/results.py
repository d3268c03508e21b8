"""What a request brings back: the reply and the IOPub messages it caused; comms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ExecutionError


@dataclass
class ExecutionResult:
    """An ``execute_reply`` and the IOPub messages whose parent was the request.

    ``outputs`` holds every IOPub message of the request in arrival order (status and
    execute_input included); the properties pick out what callers usually want.
    """

    #: The ``execute_reply`` message.
    reply: dict[str, Any]
    #: Every IOPub message whose parent was the request, in arrival order.
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``"ok"``, ``"error"`` or ``"aborted"``, from the reply."""
        return str(self.reply["content"].get("status", ""))

    @property
    def execution_count(self) -> int | None:
        """The kernel's count of executed cells, from the reply (None if it has none)."""
        return self.reply["content"].get("execution_count")  # type: ignore[no-any-return]

    def _stream(self, name: str) -> str:
        return "".join(
            m["content"].get("text", "")
            for m in self.outputs
            if m["msg_type"] == "stream" and m["content"].get("name") == name
        )

    @property
    def stdout(self) -> str:
        """All text the code wrote to stdout."""
        return self._stream("stdout")

    @property
    def stderr(self) -> str:
        """All text the code wrote to stderr."""
        return self._stream("stderr")

    @property
    def result(self) -> dict[str, Any] | None:
        """The MIME bundle of the ``execute_result``, if the code produced one."""
        for m in self.outputs:
            if m["msg_type"] == "execute_result":
                return m["content"].get("data", {})  # type: ignore[no-any-return]
        return None

    @property
    def displays(self) -> list[dict[str, Any]]:
        """The ``display_data`` messages, in order."""
        return [m for m in self.outputs if m["msg_type"] == "display_data"]

    @property
    def error(self) -> dict[str, Any] | None:
        """``{ename, evalue, traceback}`` when the code raised, else None."""
        if self.status != "error":
            return None
        for m in self.outputs:
            if m["msg_type"] == "error":
                return m["content"]  # type: ignore[no-any-return]
        return self.reply["content"]  # type: ignore[no-any-return]

    def raise_for_error(self) -> None:
        """Raise ``ExecutionError`` when the code raised."""
        error = self.error
        if error is not None:
            raise ExecutionError(error)


@dataclass
class Comm:
    """A comm this client opened, or the kernel opened (see the clients' ``on_comm_open``).
    ``received`` collects the kernel's ``comm_msg`` and ``comm_close`` messages for it
    (buffers included) as they arrive, and ``on_message`` is called with each."""

    #: The comm's id, chosen by the side that opened it.
    comm_id: str
    #: The target it was opened to (kernel-side, or this client's for a kernel's comm).
    target_name: str
    #: The msg_id of the ``comm_open`` message.
    open_msg_id: str
    #: The kernel's ``comm_msg`` and ``comm_close`` messages for this comm, in order.
    received: list[dict[str, Any]] = field(default_factory=list)
    #: True once either side closed it.
    closed: bool = False
    #: True for a comm the kernel opened.
    opened_by_kernel: bool = False
    #: Called with each ``comm_msg`` and ``comm_close`` from the kernel on this comm, as
    #: it is filed; what it raises is logged.
    on_message: Callable[[dict[str, Any]], Any] | None = None


__all__ = ["Comm", "ExecutionResult"]
