"""The public operations of both clients, written once over the core's plans.

Each method builds a plan (``core.ClientCore``) and hands it to the client's ``_run``: the
blocking client runs it to its result, the asyncio client returns a coroutine for it. The
type parameters say what the calls return in each client: the value itself, or a
coroutine of it.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from . import requests
from .core import ClientCore, Plan
from .results import Comm
from .router import REQUEST_TIMEOUT, InputHandler, OutputCallback

#: What ``execute`` returns (an ExecutionResult, or a coroutine of one).
ResultT = TypeVar("ResultT")
#: What a request with a reply returns (the reply message, or a coroutine of it).
ReplyT = TypeVar("ReplyT")
#: What ``shutdown`` returns (the reply or None, or a coroutine of that).
MaybeReplyT = TypeVar("MaybeReplyT")
#: What ``collect_outputs`` returns (a list of IOPub messages, or a coroutine of it).
OutputsT = TypeVar("OutputsT")
#: What ``comm_open`` returns (a Comm, or a coroutine of one).
CommT = TypeVar("CommT")
#: What a message sent without waiting returns (its msg_id, or a coroutine of it).
MsgIdT = TypeVar("MsgIdT")
#: What ``create_subshell`` returns (the new subshell's id, or a coroutine of it).
SubshellIdT = TypeVar("SubshellIdT")
#: What ``list_subshells`` returns (a list of subshell ids, or a coroutine of it).
SubshellIdsT = TypeVar("SubshellIdsT")


class ClientOperations(
    Generic[ResultT, ReplyT, MaybeReplyT, OutputsT, CommT, MsgIdT, SubshellIdT, SubshellIdsT]
):
    """Requests, comms and control, the same in both clients."""

    core: ClientCore

    def _run(self, plan: Plan[Any]) -> Any:
        """Perform ``plan``: its result (blocking) or a coroutine of it (asyncio)."""
        raise NotImplementedError

    def wait_for_ready(self, timeout: float = REQUEST_TIMEOUT) -> ReplyT:
        """Wait until the kernel answers ``kernel_info_request`` and IOPub delivers.

        A SUB socket misses what is published before its subscription reaches the
        kernel, so this repeats kernel_info_request until some IOPub message (its status,
        or an ``iopub_welcome``) arrives. Returns the kernel_info_reply.
        """
        return self._run(self.core.wait_for_ready(timeout))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ shell requests

    def execute(
        self,
        code: str,
        *,
        timeout: float | None = None,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: dict[str, str] | None = None,
        allow_stdin: bool | None = None,
        stop_on_error: bool = True,
        output_callback: OutputCallback | None = None,
        input_handler: InputHandler | None = None,
        subshell_id: str | None = None,
    ) -> ResultT:
        """Run ``code``; returns the reply and the IOPub messages of the request, collected
        until the kernel reports idle for it. ``output_callback`` sees each IOPub message
        as it arrives; if it raises, this call raises that error (once) and the request's
        later outputs are only kept. stdin is allowed when an input handler is given (here
        or on the client) unless ``allow_stdin`` says otherwise. ``subshell_id`` runs it
        on that subshell (see ``create_subshell``) instead of the main shell."""
        plan = self.core.execute(
            code,
            timeout=timeout,
            output_callback=output_callback,
            input_handler=input_handler,
            subshell_id=subshell_id,
            silent=silent,
            store_history=store_history,
            user_expressions=user_expressions,
            allow_stdin=allow_stdin,
            stop_on_error=stop_on_error,
        )
        return self._run(plan)  # type: ignore[no-any-return]

    def kernel_info(self, timeout: float | None = REQUEST_TIMEOUT) -> ReplyT:
        """The kernel_info_reply message."""
        return self._ask(requests.kernel_info(), timeout)

    def complete(
        self,
        code: str,
        cursor_pos: int | None = None,
        timeout: float | None = REQUEST_TIMEOUT,
        *,
        subshell_id: str | None = None,
    ) -> ReplyT:
        """The complete_reply message; the cursor defaults to the end of ``code``."""
        return self._ask(requests.complete(code, cursor_pos), timeout, subshell_id)

    def inspect(
        self,
        code: str,
        cursor_pos: int | None = None,
        detail_level: int = 0,
        timeout: float | None = REQUEST_TIMEOUT,
        *,
        subshell_id: str | None = None,
    ) -> ReplyT:
        """The inspect_reply message; the cursor defaults to the end of ``code``."""
        request = requests.inspect(code, cursor_pos, detail_level)
        return self._ask(request, timeout, subshell_id)

    def is_complete(
        self, code: str, timeout: float | None = REQUEST_TIMEOUT, *, subshell_id: str | None = None
    ) -> ReplyT:
        """The is_complete_reply message."""
        return self._ask(requests.is_complete(code), timeout, subshell_id)

    def history(
        self,
        hist_access_type: str = "tail",
        *,
        output: bool = False,
        raw: bool = True,
        n: int = 10,
        timeout: float | None = REQUEST_TIMEOUT,
        **options: Any,
    ) -> ReplyT:
        """The history_reply message (``options``: session, start, stop, pattern, unique)."""
        request = requests.history(hist_access_type, output=output, raw=raw, n=n, options=options)
        return self._ask(request, timeout)

    def comm_info(
        self, target_name: str | None = None, timeout: float | None = REQUEST_TIMEOUT
    ) -> ReplyT:
        """The comm_info_reply message (all comms, or those of ``target_name``)."""
        return self._ask(requests.comm_info(target_name), timeout)

    def request(
        self,
        msg_type: str,
        content: dict[str, Any] | None = None,
        *,
        channel: str = "shell",
        buffers: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: float | None = REQUEST_TIMEOUT,
        subshell_id: str | None = None,
    ) -> ReplyT:
        """Send any request on ``channel`` (shell or control): a message type this client
        has no method for, or a custom one; returns its reply (the first message on that
        channel whose parent is this request). ``subshell_id``: a shell request runs on
        that subshell."""
        request = requests.custom(
            msg_type, content, channel=channel, buffers=buffers, metadata=metadata
        )
        return self._ask(request, timeout, subshell_id)

    def debug_request(
        self,
        command: str,
        arguments: dict[str, Any] | None = None,
        timeout: float | None = REQUEST_TIMEOUT,
    ) -> ReplyT:
        """A Debug Adapter Protocol request (``debugInfo``, ``initialize``...) to the
        kernel's debugger, on control; the debug_reply message. ``seq`` counts up per
        client."""
        return self._ask(requests.debug(command, arguments, self.core.next_debug_seq()), timeout)

    def _ask(
        self, request: requests.Request, timeout: float | None, subshell_id: str | None = None
    ) -> ReplyT:
        request = requests.on_subshell(request, subshell_id)
        return self._run(self.core.ask(request, timeout))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ comms

    def comm_open(
        self,
        target_name: str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
        comm_id: str | None = None,
    ) -> CommT:
        """Open a comm to the kernel's ``target_name``; the kernel's messages on it collect
        in the returned ``Comm`` as messages are handled (see ``collect_outputs``)."""
        request = requests.comm_open(
            target_name, data, comm_id=comm_id, buffers=buffers, metadata=metadata
        )
        return self._run(self.core.comm_open(request))  # type: ignore[no-any-return]

    def comm_msg(
        self,
        comm: Comm | str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MsgIdT:
        """Send ``data`` (and binary ``buffers``) on a comm; returns the message id."""
        request = requests.comm_msg(comm, data, buffers=buffers, metadata=metadata)
        return self._run(self.core.notify(request))  # type: ignore[no-any-return]

    def comm_close(
        self,
        comm: Comm | str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
    ) -> MsgIdT:
        """Close a comm; returns the message id."""
        request = requests.comm_close(comm, data, buffers=buffers)
        return self._run(self.core.notify(request))  # type: ignore[no-any-return]

    def collect_outputs(self, msg_id: str, timeout: float | None = REQUEST_TIMEOUT) -> OutputsT:
        """Wait until the request ``msg_id`` (one of the last few hundred sent) is complete:
        the kernel reported idle for it (and replied, if it has a reply). Returns the IOPub
        messages it caused; use it to resume a request after a timeout, or for comms.
        (What arrived while no call waited for the request is held up to
        ``UNCLAIMED_OUTPUTS`` messages over all requests, the oldest dropped first.)"""
        return self._run(self.core.collect_outputs(msg_id, timeout))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ control

    def interrupt(self, timeout: float | None = REQUEST_TIMEOUT) -> ReplyT:
        """Ask the kernel to interrupt the running code; the interrupt_reply message."""
        return self._ask(requests.interrupt(), timeout)

    # ------------------------------------------------------------------ subshells (JEP 91)

    def create_subshell(self, timeout: float | None = REQUEST_TIMEOUT) -> SubshellIdT:
        """Create a subshell in the kernel (one that lists ``"kernel subshells"`` in its
        kernel_info ``supported_features``; another leaves the request unanswered, a
        KernelTimeout); returns its id, for ``execute(..., subshell_id=...)`` and the other
        shell requests, which then run on the subshell's own thread, beside the main shell.
        SubshellError when the kernel refuses (too many subshells)."""
        return self._run(self.core.create_subshell(timeout))  # type: ignore[no-any-return]

    def list_subshells(self, timeout: float | None = REQUEST_TIMEOUT) -> SubshellIdsT:
        """The ids of the kernel's subshells."""
        return self._run(self.core.list_subshells(timeout))  # type: ignore[no-any-return]

    def delete_subshell(self, subshell_id: str, timeout: float | None = REQUEST_TIMEOUT) -> ReplyT:
        """Delete a subshell; returns the reply's content. SubshellError for an id the
        kernel does not know."""
        plan = self.core.delete_subshell(subshell_id, timeout)
        return self._run(plan)  # type: ignore[no-any-return]

    def shutdown(self, restart: bool = False, timeout: float = 10.0) -> MaybeReplyT:
        """Ask the kernel to shut down; returns the shutdown_reply (None when a kernel we
        started exited before replying). Waits for a started kernel's process to end."""
        return self._run(self.core.shutdown(restart, timeout))  # type: ignore[no-any-return]


__all__ = ["ClientOperations"]
