"""Typed dicts of the Jupyter messaging spec 5.5: the header and the content of every
message type, for type checkers.

At run time messages stay plain dicts: these classes cost nothing per message, they only
let mypy (and editors) check the keys and value types of the messages you build and read::

    from kernelwire.spec.types import ExecuteRequestContent

    content: ExecuteRequestContent = {"code": "1 + 1", "silent": False}

A reply's content is a union of its ``status: "ok"`` shape, :class:`ErrorReply` and
:class:`AbortedReply`; test ``content["status"]`` and mypy narrows to the right one.
Fields the spec marks optional (or gives a default) are not required. The JSON Schemas of
:mod:`kernelwire.spec` check the same shapes at run time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypedDict

#: A MIME bundle: MIME type (``"text/plain"``) -> the data in that format.
MimeBundle = dict[str, Any]


class _HeaderRequired(TypedDict):
    msg_id: str
    msg_type: str
    username: str
    session: str
    #: ISO 8601 on the wire; a Session that parses dates (the default) gives a datetime
    date: str | datetime
    version: str


class Header(_HeaderRequired, total=False):
    """A message header. ``subshell_id`` (5.5) picks the subshell of a shell request."""

    subshell_id: str | None


class _MessageRequired(TypedDict):
    header: Header
    #: the header of the message this one answers, or ``{}``
    parent_header: Header | dict[str, Any]
    metadata: dict[str, Any]
    content: dict[str, Any]


class Message(_MessageRequired, total=False):
    """A message as a dict, as ``Session.msg`` builds it and ``Session.deserialize``
    returns it (which adds ``buffers``; both copy ``msg_id`` and ``msg_type`` up from the
    header). Cast ``content`` to the typed dict of its ``msg_type``."""

    msg_id: str
    msg_type: str
    buffers: list[Any]


# --------------------------------------------------------------------- reply statuses


class ErrorReply(TypedDict):
    """The content of any reply whose request failed."""

    status: Literal["error"]
    ename: str
    evalue: str
    traceback: list[str]


class AbortedReply(TypedDict):
    """The content of a reply to an aborted request (deprecated by the spec since 5.1,
    still sent by kernels for requests queued behind a failed execution)."""

    status: Literal["aborted"]


# ----------------------------------------------------------------------------- shell


class _ExecuteRequestRequired(TypedDict):
    code: str


class ExecuteRequestContent(_ExecuteRequestRequired, total=False):
    """``execute_request``: run ``code``."""

    silent: bool
    store_history: bool
    user_expressions: dict[str, str]
    allow_stdin: bool
    stop_on_error: bool


class _ExecuteReplyOkRequired(TypedDict):
    status: Literal["ok"]
    execution_count: int


class ExecuteReplyOk(_ExecuteReplyOkRequired, total=False):
    #: deprecated by the spec; each payload has a ``source``
    payload: list[dict[str, Any]]
    user_expressions: dict[str, Any]


class ExecuteReplyError(ErrorReply):
    execution_count: int


ExecuteReplyContent = ExecuteReplyOk | ExecuteReplyError | AbortedReply


class _InspectRequestRequired(TypedDict):
    code: str
    cursor_pos: int


class InspectRequestContent(_InspectRequestRequired, total=False):
    detail_level: Literal[0, 1]


class InspectReplyOk(TypedDict):
    status: Literal["ok"]
    found: bool
    data: MimeBundle
    metadata: dict[str, Any]


InspectReplyContent = InspectReplyOk | ErrorReply | AbortedReply


class CompleteRequestContent(TypedDict):
    code: str
    cursor_pos: int


class CompleteReplyOk(TypedDict):
    status: Literal["ok"]
    matches: list[str]
    cursor_start: int
    cursor_end: int
    metadata: dict[str, Any]


CompleteReplyContent = CompleteReplyOk | ErrorReply | AbortedReply


class _HistoryRequestRequired(TypedDict):
    output: bool
    raw: bool
    hist_access_type: Literal["range", "tail", "search"]


class HistoryRequestContent(_HistoryRequestRequired, total=False):
    session: int
    start: int
    stop: int
    n: int
    pattern: str
    unique: bool


class HistoryReplyOk(TypedDict):
    status: Literal["ok"]
    #: ``[session, line, input]``, or ``[session, line, [input, output or None]]`` when
    #: output was requested
    history: list[list[Any]]


HistoryReplyContent = HistoryReplyOk | ErrorReply | AbortedReply


class IsCompleteRequestContent(TypedDict):
    code: str


class _IsCompleteVerdictRequired(TypedDict):
    status: Literal["complete", "incomplete", "invalid", "unknown"]


class IsCompleteVerdict(_IsCompleteVerdictRequired, total=False):
    """What ``is_complete_reply`` says of the code (its status is the verdict, not "ok")."""

    #: only with status ``"incomplete"``: how to indent the next line
    indent: str


IsCompleteReplyContent = IsCompleteVerdict | ErrorReply | AbortedReply


class ConnectRequestContent(TypedDict):
    """``connect_request`` (deprecated since 5.1): no fields."""


class ConnectReplyContent(TypedDict, total=False):
    """``connect_reply`` (deprecated since 5.1): the ports of the running channels."""

    shell_port: int
    iopub_port: int
    stdin_port: int
    hb_port: int
    control_port: int


class CommInfoRequestContent(TypedDict, total=False):
    target_name: str


class CommInfo(TypedDict):
    target_name: str


class CommInfoReplyOk(TypedDict):
    status: Literal["ok"]
    #: comm id -> its target
    comms: dict[str, CommInfo]


CommInfoReplyContent = CommInfoReplyOk | ErrorReply | AbortedReply


class KernelInfoRequestContent(TypedDict):
    """``kernel_info_request`` (shell or control): no fields."""


class _LanguageInfoRequired(TypedDict):
    name: str
    version: str
    mimetype: str
    file_extension: str


class LanguageInfo(_LanguageInfoRequired, total=False):
    pygments_lexer: str
    codemirror_mode: str | dict[str, Any]
    nbconvert_exporter: str


class HelpLink(TypedDict):
    text: str
    url: str


class _KernelInfoReplyOkRequired(TypedDict):
    status: Literal["ok"]
    protocol_version: str
    implementation: str
    implementation_version: str
    language_info: LanguageInfo
    banner: str


class KernelInfoReplyOk(_KernelInfoReplyOkRequired, total=False):
    #: deprecated in 5.5: ``"debugger"`` in ``supported_features`` says it
    debugger: bool
    help_links: list[HelpLink]
    #: 5.5 (JEP 92), e.g. ``"debugger"``, ``"kernel subshells"``
    supported_features: list[str]


KernelInfoReplyContent = KernelInfoReplyOk | ErrorReply | AbortedReply


# --------------------------------------------------------------------------- control


class ShutdownRequestContent(TypedDict):
    restart: bool


class ShutdownReplyOk(TypedDict):
    status: Literal["ok"]
    restart: bool


ShutdownReplyContent = ShutdownReplyOk | ErrorReply | AbortedReply


class InterruptRequestContent(TypedDict):
    """``interrupt_request`` (control, 5.3): no fields."""


class InterruptReplyOk(TypedDict):
    status: Literal["ok"]


InterruptReplyContent = InterruptReplyOk | ErrorReply | AbortedReply


class _DebugRequestRequired(TypedDict):
    type: Literal["request"]
    command: str


class DebugRequestContent(_DebugRequestRequired, total=False):
    """``debug_request`` (control, 5.5): a Debug Adapter Protocol request."""

    seq: int
    arguments: Any


class DebugReplyContent(TypedDict, total=False):
    """``debug_reply`` (control, 5.5): a Debug Adapter Protocol response (empty from a
    kernel without a debugger)."""

    type: Literal["response"]
    success: bool
    command: str
    seq: int
    request_seq: int
    message: str
    body: Any


class CreateSubshellRequestContent(TypedDict):
    """``create_subshell_request`` (control, 5.5): no fields."""


class CreateSubshellReplyOk(TypedDict):
    status: Literal["ok"]
    subshell_id: str


CreateSubshellReplyContent = CreateSubshellReplyOk | ErrorReply | AbortedReply


class DeleteSubshellRequestContent(TypedDict):
    subshell_id: str


class DeleteSubshellReplyOk(TypedDict):
    status: Literal["ok"]


DeleteSubshellReplyContent = DeleteSubshellReplyOk | ErrorReply | AbortedReply


class ListSubshellRequestContent(TypedDict):
    """``list_subshell_request`` (control, 5.5): no fields."""


class ListSubshellReplyOk(TypedDict):
    status: Literal["ok"]
    #: the ids of all subshells
    subshell_id: list[str]


ListSubshellReplyContent = ListSubshellReplyOk | ErrorReply | AbortedReply


# ----------------------------------------------------------------------------- iopub


class IopubWelcomeContent(TypedDict):
    """``iopub_welcome`` (5.5): sent on each new IOPub subscription, with no parent."""

    #: the subscribed topic; ``""`` for all
    subscription: str


class StreamContent(TypedDict):
    name: Literal["stdout", "stderr"]
    text: str


class Transient(TypedDict, total=False):
    """Data about an output that is not saved with it (5.1)."""

    display_id: str


class _DisplayDataRequired(TypedDict):
    data: MimeBundle
    metadata: dict[str, Any]


class DisplayDataContent(_DisplayDataRequired, total=False):
    transient: Transient


class UpdateDisplayDataContent(TypedDict):
    """``update_display_data`` (5.1): ``transient["display_id"]`` names the display."""

    data: MimeBundle
    metadata: dict[str, Any]
    transient: Transient


class ExecuteInputContent(TypedDict):
    code: str
    execution_count: int


class _ExecuteResultRequired(TypedDict):
    execution_count: int
    data: MimeBundle
    metadata: dict[str, Any]


class ExecuteResultContent(_ExecuteResultRequired, total=False):
    transient: Transient


class ErrorContent(TypedDict):
    """``error`` on IOPub: an exception raised by executed code."""

    ename: str
    evalue: str
    traceback: list[str]


class StatusContent(TypedDict):
    execution_state: Literal["busy", "idle", "starting"]


class ClearOutputContent(TypedDict):
    #: clear only when the next output arrives
    wait: bool


class _DebugEventRequired(TypedDict):
    type: Literal["event"]
    event: str


class DebugEventContent(_DebugEventRequired, total=False):
    """``debug_event`` (iopub, 5.5): a Debug Adapter Protocol event."""

    seq: int
    body: Any


# ----------------------------------------------------- comms (shell and iopub, both ways)


class _CommOpenRequired(TypedDict):
    comm_id: str
    target_name: str
    data: dict[str, Any]


class CommOpenContent(_CommOpenRequired, total=False):
    target_module: str | None


class CommMsgContent(TypedDict):
    comm_id: str
    data: dict[str, Any]


class CommCloseContent(TypedDict):
    comm_id: str
    data: dict[str, Any]


# ----------------------------------------------------------------------------- stdin


class InputRequestContent(TypedDict):
    prompt: str
    #: do not echo what is typed
    password: bool


class InputReplyContent(TypedDict):
    value: str


#: msg_type -> the typed dict (or union of them) of its content.
CONTENT_TYPES: dict[str, Any] = {
    "execute_request": ExecuteRequestContent,
    "execute_reply": ExecuteReplyContent,
    "inspect_request": InspectRequestContent,
    "inspect_reply": InspectReplyContent,
    "complete_request": CompleteRequestContent,
    "complete_reply": CompleteReplyContent,
    "history_request": HistoryRequestContent,
    "history_reply": HistoryReplyContent,
    "is_complete_request": IsCompleteRequestContent,
    "is_complete_reply": IsCompleteReplyContent,
    "connect_request": ConnectRequestContent,
    "connect_reply": ConnectReplyContent,
    "comm_info_request": CommInfoRequestContent,
    "comm_info_reply": CommInfoReplyContent,
    "kernel_info_request": KernelInfoRequestContent,
    "kernel_info_reply": KernelInfoReplyContent,
    "shutdown_request": ShutdownRequestContent,
    "shutdown_reply": ShutdownReplyContent,
    "interrupt_request": InterruptRequestContent,
    "interrupt_reply": InterruptReplyContent,
    "debug_request": DebugRequestContent,
    "debug_reply": DebugReplyContent,
    "create_subshell_request": CreateSubshellRequestContent,
    "create_subshell_reply": CreateSubshellReplyContent,
    "delete_subshell_request": DeleteSubshellRequestContent,
    "delete_subshell_reply": DeleteSubshellReplyContent,
    "list_subshell_request": ListSubshellRequestContent,
    "list_subshell_reply": ListSubshellReplyContent,
    "iopub_welcome": IopubWelcomeContent,
    "stream": StreamContent,
    "display_data": DisplayDataContent,
    "update_display_data": UpdateDisplayDataContent,
    "execute_input": ExecuteInputContent,
    "execute_result": ExecuteResultContent,
    "error": ErrorContent,
    "status": StatusContent,
    "clear_output": ClearOutputContent,
    "debug_event": DebugEventContent,
    "comm_open": CommOpenContent,
    "comm_msg": CommMsgContent,
    "comm_close": CommCloseContent,
    "input_request": InputRequestContent,
    "input_reply": InputReplyContent,
}
