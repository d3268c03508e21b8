"""The one place where every message received from the kernel is checked.

A small built-in check of the fields the messaging spec requires runs on every message;
when ``kernelwire.spec`` (JSON Schemas of every message) is importable, its ``validate``
runs too. Each problem is one line naming the message type and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

HEADER_FIELDS = ("msg_id", "msg_type", "username", "session", "date", "version")

#: Content fields the spec requires, per message type (replies carrying ``status: error``
#: are held to ERROR_FIELDS instead, except for execute_reply, which keeps its count).
REQUIRED_CONTENT: dict[str, tuple[str, ...]] = {
    "kernel_info_reply": (
        "status",
        "protocol_version",
        "implementation",
        "implementation_version",
        "language_info",
        "banner",
    ),
    "execute_reply": ("status", "execution_count"),
    "complete_reply": ("status", "matches", "cursor_start", "cursor_end", "metadata"),
    "inspect_reply": ("status", "found", "data", "metadata"),
    "is_complete_reply": ("status",),
    "history_reply": ("status", "history"),
    "comm_info_reply": ("status", "comms"),
    "shutdown_reply": ("status", "restart"),
    "interrupt_reply": ("status",),
    "create_subshell_reply": ("status", "subshell_id"),
    "list_subshell_reply": ("status", "subshell_id"),
    "delete_subshell_reply": ("status",),
    "status": ("execution_state",),
    "stream": ("name", "text"),
    "execute_input": ("code", "execution_count"),
    "execute_result": ("data", "metadata", "execution_count"),
    "display_data": ("data", "metadata"),
    "update_display_data": ("data", "metadata", "transient"),
    "error": ("ename", "evalue", "traceback"),
    "clear_output": ("wait",),
    "comm_open": ("comm_id", "target_name", "data"),
    "comm_msg": ("comm_id", "data"),
    "comm_close": ("comm_id", "data"),
    "input_request": ("prompt", "password"),
    "iopub_welcome": ("subscription",),
}
ERROR_FIELDS = ("ename", "evalue", "traceback")

Validator = Callable[[dict[str, Any]], list[str]]


def required_fields(msg: dict[str, Any]) -> list[str]:
    """Problems with the fields every message and its type's content must have."""
    problems: list[str] = []
    for part in ("header", "parent_header", "metadata", "content"):
        if not isinstance(msg.get(part), dict):
            problems.append(f"{part} is not an object")
    header, content = msg.get("header") or {}, msg.get("content")
    if not isinstance(header, dict) or not isinstance(content, dict):
        return problems
    msg_type = header.get("msg_type")
    problems += [f"header.{name} missing" for name in HEADER_FIELDS if name not in header]
    wanted = REQUIRED_CONTENT.get(str(msg_type), ())
    if content.get("status") == "error" and msg_type != "status":
        keep = ("status", "execution_count") if msg_type == "execute_reply" else ("status",)
        wanted = tuple(name for name in wanted if name in keep) + ERROR_FIELDS
    problems += [f"content.{name} missing" for name in wanted if name not in content]
    if msg_type == "status" and content.get("execution_state") not in (
        "busy",
        "idle",
        "starting",
    ):
        problems.append(f"content.execution_state is {content.get('execution_state')!r}")
    return problems


def _spec_validator() -> Validator | None:
    """kernelwire.spec's schema validation, when that module exists."""
    try:
        from kernelwire import spec  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    validate = getattr(spec, "validate", None)
    if validate is None:
        return None

    def schema_problems(msg: dict[str, Any]) -> list[str]:
        try:
            found = validate(msg)
        except Exception as exc:  # the validator names the field: that is the evidence
            return [f"schema: {exc}"]
        if not found:
            return []
        return [f"schema: {problem}" for problem in (found if isinstance(found, list) else [found])]

    return schema_problems


def message_validator() -> tuple[Validator, str]:
    """(the function that checks one received message, a name for what it checks)."""
    schemas = _spec_validator()
    if schemas is None:
        return required_fields, "required fields"

    def both(msg: dict[str, Any]) -> list[str]:
        return required_fields(msg) + schemas(msg)

    return both, "required fields and kernelwire.spec schemas"
