"""What each client request sends: one function per message type, building it (no I/O).

Both clients call these, then do their own sending and waiting, so the content of a
request (and its defaults, such as the cursor at the end of the code) is decided once.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from .results import Comm


@dataclass(frozen=True)
class Request:
    """A message to send, the channel it goes on, and what completes it: the reply, the
    kernel's idle status for it, or both. ``subshell_id`` (a shell request's header
    field, JEP 91) runs it on that subshell of the kernel instead of the main shell."""

    msg_type: str
    content: dict[str, Any]
    channel: str = "shell"
    wants_reply: bool = True
    wants_idle: bool = False
    buffers: list[Any] | None = None
    metadata: dict[str, Any] | None = None
    subshell_id: str | None = None


def on_subshell(request: Request, subshell_id: str | None) -> Request:
    """``request`` sent to the subshell ``subshell_id`` (None: the main shell)."""
    if subshell_id is None:
        return request
    if request.channel != "shell":
        raise ValueError(f"only shell requests run on a subshell, not {request.channel} ones")
    return dataclasses.replace(request, subshell_id=subshell_id)


def execute(
    code: str,
    *,
    silent: bool = False,
    store_history: bool = True,
    user_expressions: dict[str, str] | None = None,
    allow_stdin: bool | None = None,
    stop_on_error: bool = True,
    can_answer_input: bool = False,
) -> Request:
    """stdin is allowed when the caller can answer input, unless ``allow_stdin`` is given."""
    content = {
        "code": code,
        "silent": silent,
        "store_history": store_history,
        "user_expressions": user_expressions or {},
        "allow_stdin": can_answer_input if allow_stdin is None else allow_stdin,
        "stop_on_error": stop_on_error,
    }
    return Request("execute_request", content, wants_idle=True)


def kernel_info() -> Request:
    return Request("kernel_info_request", {})


def complete(code: str, cursor_pos: int | None) -> Request:
    """The cursor defaults to the end of ``code``."""
    pos = len(code) if cursor_pos is None else cursor_pos
    return Request("complete_request", {"code": code, "cursor_pos": pos})


def inspect(code: str, cursor_pos: int | None, detail_level: int) -> Request:
    """The cursor defaults to the end of ``code``."""
    pos = len(code) if cursor_pos is None else cursor_pos
    content = {"code": code, "cursor_pos": pos, "detail_level": detail_level}
    return Request("inspect_request", content)


def is_complete(code: str) -> Request:
    return Request("is_complete_request", {"code": code})


def history(
    hist_access_type: str, *, output: bool, raw: bool, n: int, options: dict[str, Any]
) -> Request:
    """``options`` (session, start, stop, pattern, unique) are passed on as given."""
    content = {"hist_access_type": hist_access_type, "output": output, "raw": raw, "n": n}
    return Request("history_request", {**content, **options})


def comm_info(target_name: str | None) -> Request:
    """All comms, or those of ``target_name``."""
    content = {} if target_name is None else {"target_name": target_name}
    return Request("comm_info_request", content)


def comm_open(
    target_name: str,
    data: dict[str, Any] | None,
    *,
    comm_id: str | None,
    buffers: list[Any] | None,
    metadata: dict[str, Any] | None,
) -> Request:
    """A fresh ``comm_id`` unless one is given. comm messages get no reply, only idle."""
    content = {
        "comm_id": comm_id or uuid.uuid4().hex,
        "target_name": target_name,
        "data": data or {},
    }
    return Request(
        "comm_open", content, wants_reply=False, wants_idle=True, buffers=buffers, metadata=metadata
    )


def comm_msg(
    comm: Comm | str,
    data: dict[str, Any] | None,
    *,
    buffers: list[Any] | None,
    metadata: dict[str, Any] | None,
) -> Request:
    content = {"comm_id": _comm_id(comm), "data": data or {}}
    return Request(
        "comm_msg", content, wants_reply=False, wants_idle=True, buffers=buffers, metadata=metadata
    )


def comm_close(
    comm: Comm | str, data: dict[str, Any] | None, *, buffers: list[Any] | None
) -> Request:
    """Marks ``comm`` (when a ``Comm``) closed: the kernel drops it on receipt."""
    if isinstance(comm, Comm):
        comm.closed = True
    content = {"comm_id": _comm_id(comm), "data": data or {}}
    return Request("comm_close", content, wants_reply=False, wants_idle=True, buffers=buffers)


def _comm_id(comm: Comm | str) -> str:
    return comm.comm_id if isinstance(comm, Comm) else comm


def custom(
    msg_type: str,
    content: dict[str, Any] | None,
    *,
    channel: str,
    buffers: list[Any] | None,
    metadata: dict[str, Any] | None,
) -> Request:
    """Any request on shell or control; the first message parented to it on that channel
    is its reply."""
    if channel not in ("shell", "control"):
        raise ValueError(f"requests go on shell or control, not {channel!r}")
    return Request(msg_type, content or {}, channel, buffers=buffers, metadata=metadata)


def debug(command: str, arguments: dict[str, Any] | None, seq: int) -> Request:
    """A Debug Adapter Protocol request for the kernel's debugger, on control."""
    content = {"type": "request", "seq": seq, "command": command, "arguments": arguments or {}}
    return Request("debug_request", content, channel="control")


def create_subshell() -> Request:
    """JEP 91: the reply's ``subshell_id`` names the new subshell."""
    return Request("create_subshell_request", {}, channel="control")


def delete_subshell(subshell_id: str) -> Request:
    return Request("delete_subshell_request", {"subshell_id": subshell_id}, channel="control")


def list_subshells() -> Request:
    """The reply's ``subshell_id`` is the list of the kernel's subshells."""
    return Request("list_subshell_request", {}, channel="control")


def interrupt() -> Request:
    return Request("interrupt_request", {}, channel="control")


def shutdown(restart: bool) -> Request:
    return Request("shutdown_request", {"restart": restart}, channel="control")


__all__ = [
    "Request",
    "comm_close",
    "comm_info",
    "comm_msg",
    "comm_open",
    "complete",
    "create_subshell",
    "delete_subshell",
    "execute",
    "history",
    "inspect",
    "interrupt",
    "is_complete",
    "kernel_info",
    "list_subshells",
    "on_subshell",
    "shutdown",
]
