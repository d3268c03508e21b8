"""KernelBase: the Jupyter protocol machinery of a kernel, for any language.

A kernel subclasses :class:`KernelBase` and fills in the hooks ipykernel's wrapper kernels
know (``do_execute``, ``do_complete``, ...; each may be ``async``); the base does the rest:

- sockets and threads (see :mod:`.serving`): shell and stdin on the main thread, which
  runs the hooks (so ``KeyboardInterrupt`` from SIGINT lands in them); control on its own
  thread, answering shutdown, interrupt and kernel_info at once, even while a cell runs;
  IOPub (new subscribers get ``iopub_welcome``) and the heartbeat on theirs.
- the protocol's rules: every request is framed by ``status: busy`` and ``status: idle``
  on IOPub, parented to it; ``execute_input`` and the execution count; ``stop_on_error``
  aborts; interrupts (see :mod:`.interrupts`); shutdown; input requests on stdin
  (:meth:`KernelBase.raw_input`); comms; ``kernel_info``; ``connect_request``; subshells
  (JEP 91, see :mod:`.subshells`): shell requests that run on threads of their own.
- hostile peers: messages that fail verification, or whose header cannot be trusted (see
  :mod:`.validation`: wrong types, too big or deep to echo, sent by this kernel itself),
  are logged and dropped without status; a handled request whose content is malformed
  gets ``status: error``; unknown request types are logged and get no reply (the spec
  allows kernels to leave requests they do not handle unanswered). Logging of such
  problems is rate-limited (see :mod:`.logs`), peers are bounded by :mod:`.limits`, and
  no handler failure ends a channel's loop.

The dispatch never touches a socket itself: it reads and writes through a
:class:`~.channels.KernelIO` (socket-like objects and a publisher), which
:mod:`.serving` makes from a connection file and :mod:`.memory` in memory, so the
protocol rules can be tested without processes or sockets. The base changes no
process-wide state except the SIGINT handler (and signal mask) that interrupts need, while
:meth:`KernelBase.run` serves; a subclass adds its own in
:meth:`KernelBase._patch_process`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import traceback
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any, ClassVar

import zmq

from .._version import __version__, kernel_protocol_version
from ..connect import session_from_connection_info
from ..errors import BadFrame, WireError
from ..protocol import CHANNELS, reply_type
from .channels import IOFactory, KernelIO, Publisher
from .comm import CommManager
from .interrupts import InterruptGate
from .limits import KernelLimits
from .logs import RejectionLog
from .serving import SocketServer
from .stdin import StdinChannel
from .subshells import FEATURE as SUBSHELL_FEATURE
from .subshells import (
    ShellContext,
    SubshellLimitError,
    SubshellManager,
    UnknownSubshellError,
    error_content,
)
from .validation import Rejection, check_content, check_header

log = logging.getLogger("kernelwire.kernel")

#: A request handler: ``handler(socket, idents, msg)`` answers on ``socket``.
Handler = Callable[[Any, list[bytes], dict[str, Any]], None]
#: What a hook returns: a reply content, or an awaitable of one (``async def`` hooks).
HookResult = dict[str, Any] | Awaitable[dict[str, Any]]

_current: KernelBase | None = None


def _set_current(kernel: KernelBase | None) -> None:
    global _current
    _current = kernel


def get_kernel() -> KernelBase:
    """The kernel running in this process (for user code: comms, ``display`` plumbing)."""
    if _current is None:
        raise RuntimeError("no kernelwire kernel is running in this process")
    return _current


def _error_reply(exc: BaseException) -> dict[str, Any]:
    """``status: error`` for a request whose handler raised."""
    lines = traceback.format_exception_only(type(exc), exc)
    return {
        "status": "error",
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "traceback": [line.rstrip("\n") for line in lines],
    }


class _ShellLocal(threading.local):
    """Per thread, the shell context it serves: a thread that is no shell's (the main one,
    user threads) starts with the main shell's. A default per thread rather than
    ``getattr(..., default)``: a missing attribute costs an exception each time, and every
    ``print`` asks for this (the parent of its text)."""

    def __init__(self, main_shell: ShellContext) -> None:
        self.context = main_shell


class KernelBase:
    """A kernel speaking Jupyter protocol 5.6; subclasses implement the ``do_*`` hooks
    (ipykernel's wrapper-kernel API) and set the class attributes below."""

    #: The kernel (not the language) and its version, for ``kernel_info_reply``.
    implementation: str = "kernelwire-base"
    implementation_version: str = __version__
    #: ``language_info`` of ``kernel_info_reply``: at least ``name``, ``mimetype`` and
    #: ``file_extension``.
    language_info: ClassVar[dict[str, Any]] = {
        "name": "text",
        "mimetype": "text/plain",
        "file_extension": ".txt",
    }
    #: Shown by console frontends before the first prompt.
    banner: str = ""
    #: ``[{"text": ..., "url": ...}]``: links frontends show in their help menu.
    help_links: ClassVar[list[dict[str, str]]] = []
    #: ``supported_features`` of ``kernel_info_reply`` (JEP 92).
    supported_features: ClassVar[list[str]] = []
    #: Serve subshells (JEP 91, see :mod:`.subshells`): the hooks then run on several
    #: threads at once. False for a kernel whose hooks are not thread-safe (as does
    #: ``KernelLimits.max_subshells=0`` for one run).
    allow_subshells: ClassVar[bool] = True
    log: ClassVar[logging.Logger] = log
    #: Cells stored in the history so far, on every shell (see ``execution_count``).
    _stored_cells = 0

    def __init__(
        self,
        connection_info: dict[str, Any],
        limits: KernelLimits | None = None,
        *,
        io: IOFactory | None = None,
    ) -> None:
        """Bind the sockets of ``connection_info`` (a connection file's content), or take
        ``io(kernel)`` instead (see :mod:`.memory`)."""
        self.connection_info = connection_info
        self.limits = limits if limits is not None else KernelLimits()
        # parse_dates=False: parent headers are echoed back exactly as the client sent them.
        self.session = session_from_connection_info(
            connection_info, parse_dates=False, username="kernel"
        )
        self._server: SocketServer | None = None
        self.io = self._open_sockets() if io is None else io(self)
        self.shell, self.control, self.stdin_socket = self.io.shell, self.io.control, self.io.stdin
        self.iopub = self.io.iopub

        self._count_lock = threading.Lock()
        self.rejections = RejectionLog(log)
        self.comms = CommManager(self._publish_comm, self.rejections)
        self.stdin = StdinChannel(self.stdin_socket, self.session)
        self.stdin.before_request = self._flush_output

        # The main shell's request and interrupt state; a subshell thread has its own.
        self._main_shell = ShellContext(self.shell, self.shell, None, InterruptGate())
        self._shell_local = _ShellLocal(self._main_shell)
        self.subshells = SubshellManager(
            self,
            self.io.open_subshell_outbox,
            self.limits.max_subshells if self.allow_subshells else 0,
            self.limits.shell_rcvhwm,
        )
        self.iopub.guard = self.stdin.guard = self.interrupts.deferred
        self._loops = threading.local()  # an event loop per thread, for async hooks
        self._all_loops: list[asyncio.AbstractEventLoop] = []
        self._execute_keywords = _accepted_keywords(self.do_execute, ("cell_id", "cell_meta"))
        self._shutdown_requested = False
        self._stopping = threading.Event()
        self._finished = threading.Event()
        #: Read as early as possible: the launcher may die while the kernel starts.
        self._parent_pid_at_start = os.getppid()
        #: True when the kernel stopped because its launcher died (the process that started
        #: it, or the one named by ``JPY_PARENT_PID``).
        self.launcher_gone = False
        self.shell_handlers: dict[str, Handler] = {
            "execute_request": self._execute,
            "kernel_info_request": self._kernel_info,
            "complete_request": self._complete,
            "inspect_request": self._inspect,
            "is_complete_request": self._is_complete,
            "history_request": self._history,
            "comm_info_request": self._comm_info,
            "comm_open": self._comm_open,
            "comm_msg": self._comm_msg,
            "comm_close": self._comm_close,
            "connect_request": self._connect,
        }
        self.control_handlers: dict[str, Handler] = {
            "kernel_info_request": self._kernel_info,
            "shutdown_request": self._shutdown,
            "interrupt_request": self._interrupt,
        }
        if self.subshells.supported:
            self.control_handlers.update(
                create_subshell_request=self._create_subshell,
                delete_subshell_request=self._delete_subshell,
                list_subshell_request=self._list_subshell,
            )

    # ------------------------------------------------------------------- the hooks

    def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_id: str | None = None,
    ) -> HookResult:
        """Run ``code``; return the ``execute_reply`` content (``status``,
        ``execution_count``, and ``ename``/``evalue``/``traceback`` for an error). Publish
        output with :meth:`send_response` on :attr:`iopub_socket`, an error also as an
        ``error`` message. ``self.execution_count`` is already counted for this cell.
        An interrupt raises ``KeyboardInterrupt`` in it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement do_execute")

    def do_complete(self, code: str, cursor_pos: int) -> HookResult:
        """The ``complete_reply`` content: ``matches``, ``cursor_start``, ``cursor_end``."""
        return {
            "status": "ok",
            "matches": [],
            "cursor_start": cursor_pos,
            "cursor_end": cursor_pos,
            "metadata": {},
        }

    def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> HookResult:
        """The ``inspect_reply`` content: ``found``, and ``data`` (a MIME bundle)."""
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}

    def do_is_complete(self, code: str) -> HookResult:
        """The ``is_complete_reply`` content: ``status`` complete, incomplete (with an
        ``indent``), invalid or unknown."""
        return {"status": "unknown"}

    def do_history(
        self,
        hist_access_type: str,
        output: bool,
        raw: bool,
        session: int | None = None,
        start: int | None = None,
        stop: int | None = None,
        n: int | None = None,
        pattern: str | None = None,
        unique: bool = False,
    ) -> HookResult:
        """The ``history_reply`` content: ``history``, a list of entries."""
        return {"status": "ok", "history": []}

    def do_shutdown(self, restart: bool) -> HookResult:
        """Clean up before the kernel ends; the ``shutdown_reply`` content. Runs on the
        control thread, possibly while ``do_execute`` still runs (it is interrupted)."""
        return {"status": "ok", "restart": restart}

    def kernel_info(self) -> dict[str, Any]:
        """The content of ``kernel_info_reply``, from the class attributes."""
        features = list(self.supported_features)
        if self.subshells.supported and SUBSHELL_FEATURE not in features:
            features.append(SUBSHELL_FEATURE)
        return {
            "status": "ok",
            "protocol_version": kernel_protocol_version,
            "implementation": self.implementation,
            "implementation_version": self.implementation_version,
            "language_info": self.language_info,
            "banner": self.banner,
            "help_links": self.help_links,
            "debugger": False,
            "supported_features": features,
        }

    # -------------------------------------------------------- what hooks may call

    @property
    def interrupts(self) -> InterruptGate:
        """The interrupt state of this thread's shell (the main shell's for other threads:
        SIGINT and ``interrupt_request`` reach the main shell only)."""
        return self._shell_context().interrupts

    @property
    def _parent(self) -> dict[str, Any]:
        """The header of the request this thread's shell handles (the main shell's for
        threads that are no shell: user threads, output flushing)."""
        return self._shell_context().parent

    @_parent.setter
    def _parent(self, header: dict[str, Any]) -> None:
        self._shell_context().parent = header

    @property
    def execution_count(self) -> int:
        """The count of the cell the calling thread's shell runs; between cells, the count
        of the last cell stored. Subshells run cells at once: each sees its own number."""
        context = self._cell_context()
        return self._stored_cells if context is None else context.cell_count  # type: ignore[return-value]

    @execution_count.setter
    def execution_count(self, count: int) -> None:
        self._stored_cells = count
        context = self._cell_context()
        if context is not None:
            context.cell_count = count

    def _cell_context(self) -> ShellContext | None:
        """The calling thread's shell while it runs a cell (None otherwise, and before
        ``__init__`` made the shells: a subclass may set ``execution_count`` first)."""
        if "_shell_local" not in self.__dict__:
            return None
        context = self._shell_context()
        return None if context.cell_count is None else context

    def _shell_context(self) -> ShellContext:
        return self._shell_local.context

    def _enter_shell(self, context: ShellContext) -> None:
        """Make the calling thread a subshell's (see :mod:`.subshells`)."""
        self._shell_local.context = context

    def _leave_shell(self) -> None:
        """A subshell's thread ends: its event loop goes with it."""
        self._shell_local.context = self._main_shell
        loop = getattr(self._loops, "loop", None)
        if loop is not None:
            self._all_loops.remove(loop)
            loop.close()

    @property
    def iopub_socket(self) -> Publisher:
        """What to pass to :meth:`send_response` to publish on IOPub (not a socket)."""
        return self.iopub

    def send_response(
        self,
        stream: Any,
        msg_or_type: str,
        content: dict[str, Any] | None = None,
        ident: bytes | None = None,
        buffers: list[Any] | None = None,
        track: bool = False,
        header: None = None,
        metadata: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> None:
        """Publish ``msg_or_type`` on IOPub (``stream`` is :attr:`iopub_socket`), parented
        to the request being handled, after the output the kernel holds back. ``ident`` is
        the topic; ``track`` and ``channel`` are accepted for ipykernel's signature."""
        if stream is not self.iopub:
            raise TypeError("send_response publishes on IOPub only: pass self.iopub_socket")
        if header is not None:
            raise TypeError("send_response does not take a header: the kernel makes one")
        self._flush_output()
        topic = ident.decode("utf-8", "replace") if isinstance(ident, bytes) else ident
        self.iopub.publish(msg_or_type, content or {}, self._parent, topic, metadata, buffers)

    def raw_input(self, prompt: str = "") -> str:
        """A line of input from the frontend that sent the running ``execute_request``
        (blocks until it answers); :class:`.stdin.StdinNotImplementedError` when that
        frontend set ``allow_stdin: false``, EOFError when its input ended."""
        return self.stdin.request(str(prompt), password=False)

    def getpass(self, prompt: str = "", stream: Any = None) -> str:
        """:meth:`raw_input` for a password: the frontend does not echo it."""
        return self.stdin.request(str(prompt), password=True)

    def stop(self) -> None:
        """End the kernel once the request being handled is answered."""
        self._stopping.set()

    # ------------------------------------------------------------- launching

    @classmethod
    def launch(cls, argv: list[str] | None = None) -> None:
        """Run this kernel as a program: ``-f CONNECTION_FILE`` from ``argv`` (default
        ``sys.argv[1:]``), as Jupyter starts kernels; see :func:`.launch.launch`."""
        from .launch import launch

        launch(cls, argv)

    # ------------------------------------------------------------------ serving

    def _open_sockets(self) -> KernelIO:
        """Bind the sockets of the connection info (see :mod:`.serving`)."""
        self._server = SocketServer(self)
        return self._server.io

    def run(self) -> None:
        """Serve until a shutdown_request, :meth:`stop` or the launcher's end stops the
        kernel; restores the process state after."""
        if self._server is None:
            raise RuntimeError("run() serves sockets; this kernel was made with its own io")
        _set_current(self)
        try:
            self._server.serve()
        finally:
            _set_current(None)

    def _patch_process(self, undo: ExitStack) -> None:
        """Change process-wide state for as long as the kernel serves (stdio, builtins...),
        registering how to undo each change on ``undo``; the base changes nothing."""

    def _flush_output(self) -> None:
        """Publish output the kernel holds back, before any other message of the request
        (replies, input requests, display); the base holds none back."""

    def _release(self) -> None:
        """Once the sockets are closed: log what is still counted, close event loops."""
        self.rejections.close()
        for loop in self._all_loops:
            loop.close()

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if not self.interrupts.on_signal():
            log.info("interrupt received while no request runs: ignored")

    # ---------------------------------------------------------------- dispatching

    def _parse(self, frames: list[Any], channel: str) -> tuple[list[bytes], dict[str, Any]] | None:
        """Identities and message, or None when it is dropped: unreadable, unsigned,
        replayed, or with a header the kernel will not act on or echo."""
        try:
            idents, msg_list = self.session.feed_identities(frames)
            msg = self.session.deserialize(msg_list)
            rejection = check_header(msg["header"], len(msg_list[1]), self.session.session)
        except WireError as exc:
            kind = type(exc).__name__ + (f" {exc.frame}" if isinstance(exc, BadFrame) else "")
            self.rejections.report(channel, kind, f"dropped a message on {channel}: {exc}")
            return None
        except Exception as exc:  # a codec bug must not take the kernel down
            self.rejections.report(
                channel,
                f"unexpected {type(exc).__name__}",
                f"dropped a message on {channel}: unexpected {exc!r}"[:500],
                logging.ERROR,
            )
            return None
        if rejection is not None:
            self._reject(channel, rejection, "dropped")
            return None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <- %s", channel, msg["msg_type"])
        return idents, msg

    def _reject(self, channel: str, rejection: Rejection, verb: str, msg_type: str = "") -> None:
        prefix = f"{msg_type} " if msg_type else ""
        self.rejections.report(
            channel,
            prefix + rejection.kind,
            f"{verb} a message on {channel}: {prefix}{rejection.detail}",
        )

    def _dispatch(
        self, socket: Any, handlers: dict[str, Handler], frames: Any, channel: str
    ) -> None:
        parsed = self._parse(frames, channel)
        if parsed is not None:
            self._handle(socket, handlers, *parsed, channel)

    def _dispatch_guarded(
        self, socket: Any, handlers: dict[str, Handler], frames: Any, channel: str
    ) -> None:
        """:meth:`_dispatch`, but nothing it raises may end the shell loop or the control
        thread (a late interrupt, a comm callback's SystemExit, a bug of ours)."""
        try:
            self._dispatch(socket, handlers, frames, channel)
        except zmq.ContextTerminated:
            raise
        except (Exception, KeyboardInterrupt, SystemExit) as exc:
            self.rejections.report(
                channel,
                f"dispatch failed with {type(exc).__name__}",
                f"handling a message on {channel} failed",
                logging.ERROR,
                exc,
            )

    def _handle(
        self,
        socket: Any,
        handlers: dict[str, Handler],
        idents: list[bytes],
        msg: dict[str, Any],
        channel: str,
    ) -> None:
        msg_type = msg["msg_type"]
        if channel == "shell":  # the reply may go elsewhere than self.shell (a subshell)
            self._parent = msg["header"]
            self.interrupts.request_started()
        self._status("busy", msg)
        try:
            handler = handlers.get(msg_type)
            if handler is None:
                self.rejections.report(
                    channel,
                    "no handler",
                    f"ignored a message on {channel}: no handler for {msg_type[:80]!r}",
                )
            elif (rejection := check_content(msg_type, msg["content"])) is not None:
                self._refuse(socket, idents, msg, rejection, channel)
            else:
                handler(socket, idents, msg)
        # an interrupt may hit a comm callback, which may also call sys.exit()
        except (Exception, KeyboardInterrupt, SystemExit) as exc:
            self.rejections.report(
                channel,
                f"{msg_type} failed with {type(exc).__name__}",
                f"handling {msg_type} on {channel} failed",
                logging.ERROR,
                exc,
            )
            if msg_type.endswith("_request"):  # a failed request still gets its answer
                self._reply(socket, idents, msg, _error_reply(exc))
        finally:
            if channel == "shell":
                self._flush_output()
                self.interrupts.request_finished()
            self._status("idle", msg)

    def _refuse(
        self,
        socket: Any,
        idents: list[bytes],
        msg: dict[str, Any],
        rejection: Rejection,
        channel: str,
    ) -> None:
        """A malformed content: an error reply for a request, nothing for a comm message."""
        msg_type = msg["msg_type"]
        if not msg_type.endswith("_request"):
            self._reject(channel, rejection, "dropped", msg_type)
            return
        self._reject(channel, rejection, "refused", msg_type)
        reply: dict[str, Any] = {
            "status": "error",
            "ename": rejection.error.__name__,
            "evalue": f"malformed {msg_type}: {rejection.detail}",
            "traceback": [],
        }
        if msg_type == "execute_request":
            reply["execution_count"] = self.execution_count
        self._reply(socket, idents, msg, reply)

    def _status(self, state: str, parent: dict[str, Any]) -> None:
        self.iopub.publish("status", {"execution_state": state}, parent, direct=True)

    def _reply(
        self,
        socket: Any,
        idents: list[bytes],
        parent: dict[str, Any],
        content: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        msg_type = reply_type(parent["msg_type"])
        if msg_type is None:  # only requests are answered (validation let nothing else in)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %s", "shell" if socket is self.shell else "control", msg_type)
        self.session.send(socket, msg_type, content, parent=parent, ident=idents, metadata=metadata)

    def _hook_reply(self, name: str, result: Any) -> dict[str, Any]:
        """A hook's reply content: awaited when the hook is ``async``, and checked."""
        if result.__class__ is not dict:
            if inspect.isawaitable(result):
                result = self._run_coroutine(result)
            if not isinstance(result, dict):
                raise TypeError(f"{name} returned {type(result).__name__}, not a dict")
        return result

    def _run_coroutine(self, awaitable: Awaitable[Any]) -> Any:
        """Run an ``async`` hook to completion on this thread's own event loop (kept, so
        that what a hook leaves scheduled runs on in the next one)."""
        loop = getattr(self._loops, "loop", None)
        if loop is None:
            loop = self._loops.loop = asyncio.new_event_loop()
            self._all_loops.append(loop)

        async def wrapped() -> Any:
            return await awaitable

        return loop.run_until_complete(wrapped())

    # ------------------------------------------------------------------ publishing

    def _publish_comm(self, msg_type: str, content: dict[str, Any], buffers: Any) -> None:
        self._flush_output()
        self.iopub.publish(msg_type, content, self._parent, buffers=buffers)

    # ------------------------------------------------------------------- execution

    def _execute(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        request = msg["content"]
        code = str(request.get("code", ""))
        silent = bool(request.get("silent", False))
        store_history = bool(request.get("store_history", not silent)) and not silent
        context = self._shell_context()
        if store_history:
            with self._count_lock:  # two subshells may start a cell at once
                self._stored_cells += 1
                context.cell_count = self._stored_cells
        else:
            context.cell_count = self._stored_cells
        if not silent:
            self.iopub.publish(
                "execute_input",
                {"code": code, "execution_count": self.execution_count},
                msg,
                direct=True,
            )
        allow_stdin = bool(request.get("allow_stdin", True))
        user_expressions = request.get("user_expressions") or {}
        keywords = self._cell_keywords(msg) if self._execute_keywords else {}
        # input() asks the main shell's frontend only (the stdin socket is the main thread's)
        on_main_shell = self._shell_context() is self._main_shell
        if on_main_shell:
            self.stdin.begin(idents, msg["header"], allow_stdin)
        try:
            with self.interrupts.user_code():
                reply = self._hook_reply(
                    "do_execute",
                    self.do_execute(
                        code, silent, store_history, user_expressions, allow_stdin, **keywords
                    ),
                )
        # The hook let an exception out (an interrupt it does not catch, a bug): the cell
        # failed all the same.
        except (Exception, KeyboardInterrupt, SystemExit) as exc:
            if not isinstance(exc, KeyboardInterrupt):
                self.rejections.report(
                    "shell",
                    f"do_execute failed with {type(exc).__name__}",
                    "do_execute raised",
                    logging.ERROR,
                    exc,
                )
            reply = _error_reply(exc)
            self._flush_output()
            self.iopub.publish("error", {key: reply[key] for key in _ERROR_KEYS}, msg)
        finally:
            if on_main_shell:
                self.stdin.end()
        if "execution_count" not in reply or "status" not in reply:
            reply = {"status": "ok", "execution_count": self.execution_count, **reply}
        self._flush_output()
        # Abort what was queued before this reply goes out, not what a client sends after
        # seeing it: taking the queue first draws that line exactly.
        stop = reply["status"] == "error" and request.get("stop_on_error", True)
        queued = self._take_queued() if stop else []
        context.cell_count = None
        self._reply(socket, idents, msg, reply, metadata={"status": reply["status"]})
        self._abort(queued)

    def _cell_keywords(self, msg: dict[str, Any]) -> dict[str, Any]:
        """``cell_id`` and ``cell_meta`` (from the request's metadata, as ipykernel passes
        them), for a ``do_execute`` that takes them."""
        metadata = msg["metadata"] if isinstance(msg["metadata"], dict) else {}
        cell_id = metadata.get("cellId")
        values = {"cell_id": cell_id if isinstance(cell_id, str) else None, "cell_meta": metadata}
        return {name: values[name] for name in self._execute_keywords}

    def _take_queued(self) -> list[tuple[list[bytes], dict[str, Any]]]:
        """The shell requests already waiting for this thread's shell, parsed (unreadable
        ones are dropped)."""
        queued: list[tuple[list[bytes], dict[str, Any]]] = []
        inbox = self._shell_context().inbox
        while True:
            try:
                frames = inbox.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return queued
            parsed = self._parse(frames, "shell")
            if parsed is not None:
                queued.append(parsed)

    def _abort(self, queued: list[tuple[list[bytes], dict[str, Any]]]) -> None:
        """After a failed cell with stop_on_error: answer the execute_requests that were
        waiting with ``status: aborted`` instead of running them; handle the others."""
        outbox = self._shell_context().outbox
        for idents, msg in queued:
            if msg["msg_type"] != "execute_request":
                self._handle(outbox, self.shell_handlers, idents, msg, "shell")
                continue
            self._status("busy", msg)
            content = {"status": "aborted", "execution_count": self.execution_count}
            self._reply(outbox, idents, msg, content, metadata={"status": "aborted"})
            self._status("idle", msg)

    # ---------------------------------------------------------------- introspection

    def _kernel_info(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        self._reply(socket, idents, msg, self.kernel_info())

    def _complete(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        content = msg["content"]
        code = content["code"]
        cursor_pos = content.get("cursor_pos")
        result = self.do_complete(code, len(code) if cursor_pos is None else cursor_pos)
        self._reply(socket, idents, msg, self._hook_reply("do_complete", result))

    def _inspect(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        content = msg["content"]
        code = content["code"]
        cursor_pos = content.get("cursor_pos")
        omit_sections = content.get("omit_sections")
        result = self.do_inspect(
            code,
            len(code) if cursor_pos is None else cursor_pos,
            content.get("detail_level") or 0,
            set(omit_sections) if isinstance(omit_sections, list) else set(),
        )
        self._reply(socket, idents, msg, self._hook_reply("do_inspect", result))

    def _is_complete(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        result = self.do_is_complete(msg["content"]["code"])
        self._reply(socket, idents, msg, self._hook_reply("do_is_complete", result))

    def _history(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        content = msg["content"]
        result = self.do_history(
            content.get("hist_access_type", "tail"),
            content.get("output", False),
            content.get("raw", False),
            session=content.get("session"),
            start=content.get("start"),
            stop=content.get("stop"),
            n=content.get("n"),
            pattern=content.get("pattern"),
            unique=content.get("unique", False),
        )
        self._reply(socket, idents, msg, self._hook_reply("do_history", result))

    # ------------------------------------------------------------------------ comms

    def _comm_info(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        comms = self.comms.info(msg["content"].get("target_name"))
        self._reply(socket, idents, msg, {"status": "ok", "comms": comms})

    def _comm_open(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        with self.interrupts.user_code():
            self.comms.handle_open(msg)

    def _comm_msg(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        with self.interrupts.user_code():
            self.comms.handle_msg(msg)

    def _comm_close(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        with self.interrupts.user_code():
            self.comms.handle_close(msg)

    def _connect(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        ports = {f"{channel}_port": self.connection_info[f"{channel}_port"] for channel in CHANNELS}
        self._reply(socket, idents, msg, {"status": "ok", **ports})

    # ---------------------------------------------------------------------- control

    def _shutdown(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        restart = bool(msg["content"].get("restart", False))
        content = self._hook_reply("do_shutdown", self.do_shutdown(restart))
        self._reply(socket, idents, msg, content)
        self.iopub.publish("shutdown_reply", content, msg)
        self._shutdown_requested = True
        if self.interrupts.in_request:  # a running cell would keep the main thread busy
            self.io.interrupt_main()

    def _interrupt(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        if self.interrupts.in_request:
            self.io.interrupt_main()
        self._reply(socket, idents, msg, {"status": "ok"})

    # -------------------------------------------------------------------- subshells

    def _create_subshell(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        try:
            content = {"status": "ok", "subshell_id": self.subshells.create()}
        except SubshellLimitError as exc:
            content = error_content(exc)
        self._reply(socket, idents, msg, content)

    def _delete_subshell(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        try:
            self.subshells.delete(msg["content"]["subshell_id"])
            content: dict[str, Any] = {"status": "ok"}
        except UnknownSubshellError as exc:
            content = error_content(exc)
        self._reply(socket, idents, msg, content)

    def _list_subshell(self, socket: Any, idents: list[bytes], msg: dict[str, Any]) -> None:
        self._reply(socket, idents, msg, {"status": "ok", "subshell_id": self.subshells.ids()})


_ERROR_KEYS = ("ename", "evalue", "traceback")


def _accepted_keywords(method: Callable[..., Any], names: tuple[str, ...]) -> tuple[str, ...]:
    """Which of ``names`` ``method`` takes (checked once: ipykernel passes ``cell_id`` and
    ``cell_meta`` only to a ``do_execute`` that declares them, or ``**kwargs``)."""
    parameters = inspect.signature(method).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return names
    return tuple(name for name in names if name in parameters)
