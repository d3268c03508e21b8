"""The kernel: sockets, threads, and one handler per request type.

Threads and what each owns (ZeroMQ sockets are used by one thread only):

- main: the shell and stdin ROUTERs; runs user code, so ``KeyboardInterrupt`` from SIGINT
  lands in it (the handler raises only while user code runs).
- control: the control ROUTER; answers shutdown, interrupt and kernel_info at once, even
  while a cell runs.
- IOPub (see :mod:`.iopub`), heartbeat (see :mod:`.heartbeat`), stream flusher.

Every request is framed by ``status: busy`` and ``status: idle`` on IOPub, parented to
it. Messages that fail verification, or whose header cannot be trusted (see
:mod:`.validation`: wrong types, too big or deep to echo, sent by this kernel itself), are
logged and dropped without status; a handled request whose content is malformed gets
``status: error``; unknown request types are logged and get no reply (the spec allows
kernels to leave requests they do not handle unanswered). Logging of such problems is
rate-limited (see :mod:`.logs`), and no handler failure ends a channel's loop.
"""

from __future__ import annotations

import builtins
import getpass
import logging
import os
import platform
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import zmq

from .._version import __version__, protocol_version
from ..connect import channel_url, session_from_connection_info
from ..errors import BadFrame, WireError
from ..protocol import CHANNELS, reply_type
from .comm import CommManager
from .display import clear_output, display, format_object, run_after_cell, set_publisher
from .execution import CellOutcome, Executor, error_content
from .fdcapture import start_fd_capture
from .heartbeat import Heartbeat
from .history import History
from .integrations import install_display_integrations
from .interrupts import InterruptGate
from .introspection import complete, help_page, inspect_code, is_complete
from .iopub import IOPubChannel
from .limits import KernelLimits
from .logs import RejectionLog
from .outstream import Flusher, OutStream
from .parentwatch import EXIT_GRACE, WATCH_INTERVAL, LauncherWatch
from .stdin import StdinChannel
from .validation import Rejection, check_content, check_header

log = logging.getLogger("kernelwire.kernel")

Handler = Callable[[zmq.Socket[Any], list[bytes], dict[str, Any]], None]

LANGUAGE_INFO = {
    "name": "python",
    "version": platform.python_version(),
    "mimetype": "text/x-python",
    "file_extension": ".py",
    "pygments_lexer": "python3",
    "codemirror_mode": {"name": "python", "version": sys.version_info[0]},
    "nbconvert_exporter": "python",
}
HELP_LINKS = [
    {"text": "Python Reference", "url": "https://docs.python.org/3/"},
    {"text": "Python Library Reference", "url": "https://docs.python.org/3/library/"},
]

_current: Kernel | None = None


def get_kernel() -> Kernel:
    """The kernel running in this process (for user code: comms, ``display`` plumbing)."""
    if _current is None:
        raise RuntimeError("no kernelwire kernel is running in this process")
    return _current


class Kernel:
    """A Python kernel speaking Jupyter protocol 5.5 with kernelwire's Session."""

    implementation = "kernelwire"
    #: Show what child processes and C code write to fds 1 and 2 as stream output (POSIX).
    capture_fd_output = True

    def __init__(self, connection_info: dict[str, Any], limits: KernelLimits | None = None) -> None:
        self.connection_info = connection_info
        self.limits = limits if limits is not None else KernelLimits()
        # parse_dates=False: parent headers are echoed back exactly as the client sent them.
        self.session = session_from_connection_info(
            connection_info, parse_dates=False, username="kernel"
        )
        self.context: zmq.Context[Any] = zmq.Context()
        limits = self.limits
        self.shell = self._bind("shell", limits.shell_max_message_bytes, limits.shell_rcvhwm)
        self.control = self._bind(
            "control", limits.control_max_message_bytes, limits.control_rcvhwm
        )
        self.stdin_socket = self._bind("stdin", limits.stdin_max_message_bytes, limits.stdin_rcvhwm)
        self.iopub = IOPubChannel(
            self.context, self.session, channel_url(connection_info, "iopub"), limits
        )
        self.heartbeat = Heartbeat(self.context, channel_url(connection_info, "hb"))
        self._wake_url = f"inproc://kernelwire-wake-{id(self)}"
        self._wake = self.context.socket(zmq.PULL)
        self._wake.bind(self._wake_url)
        self._wake_sender = self.context.socket(zmq.PUSH)
        self._wake_sender.linger = 0
        self._wake_sender.connect(self._wake_url)

        self.execution_count = 0
        self.history = History()
        self.rejections = RejectionLog(log)
        self.comms = CommManager(self._publish_comm, self.rejections)
        self.flusher = Flusher()
        self.stdout = OutStream("stdout", self._publish_stream, self.flusher)
        self.stderr = OutStream("stderr", self._publish_stream, self.flusher)
        self.flusher.streams.extend([self.stdout, self.stderr])
        self.stdin = StdinChannel(self.stdin_socket, self.session)
        self.stdin.before_request = self.flusher.flush_all
        self.executor = Executor({"display": display, "clear_output": clear_output})

        self._parent: dict[str, Any] = {}
        self.interrupts = InterruptGate()
        self.iopub.guard = self.stdin.guard = self.interrupts.deferred
        self._shutdown_requested = False
        self._stopping = threading.Event()
        self._finished = threading.Event()
        #: Read as early as possible: the launcher may die while the kernel starts.
        self._parent_pid_at_start = os.getppid()
        #: True when the kernel stopped because its launcher died (the process that started
        #: it, or the one named by ``JPY_PARENT_PID``).
        self.launcher_gone = False
        self._control_thread = threading.Thread(
            target=self._control_loop, name="kernelwire-control", daemon=True
        )
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

    def _bind(self, channel: str, max_message_bytes: int, rcvhwm: int) -> zmq.Socket[Any]:
        """A ROUTER whose peers are disconnected when they send a bigger frame, and not read
        from while ``rcvhwm`` of their messages wait (see :mod:`.limits`)."""
        socket = self.context.socket(zmq.ROUTER)
        socket.linger = 1000
        socket.maxmsgsize = max_message_bytes
        socket.rcvhwm = rcvhwm
        socket.bind(channel_url(self.connection_info, channel))
        return socket

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        """Serve until a shutdown_request, an ``exit()`` in a cell or the launcher's end stops
        the kernel; restores the process state after."""
        global _current
        _current = self
        saved = (sys.stdout, sys.stderr, builtins.input, getpass.getpass, sys.modules["__main__"])
        previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        # A launcher may hand down a signal mask that blocks SIGINT (masks survive exec, and
        # some CI runners and process supervisors block it): interrupts would then stay
        # pending for ever. Unblock it before the helper threads start, so they inherit it.
        unblock = getattr(signal, "pthread_sigmask", None)  # POSIX only
        previous_mask = unblock(signal.SIG_UNBLOCK, {signal.SIGINT}) if unblock else None
        sys.stdout, sys.stderr = self.stdout, self.stderr
        streams = {1: self.stdout, 2: self.stderr}
        fd_capture = start_fd_capture(streams) if self.capture_fd_output else None
        builtins.input, getpass.getpass = self.stdin.input, self.stdin.getpass
        sys.modules["__main__"] = self.executor.module
        set_publisher(self._publish_display)
        display_integrations = install_display_integrations()
        self.iopub.start()
        self.heartbeat.start()
        self.flusher.start()
        self._control_thread.start()
        watch = LauncherWatch.for_process(os.environ, self._parent_pid_at_start)
        if watch is not None:
            threading.Thread(
                target=self._watch_parent,
                args=(watch,),
                name="kernelwire-parent-watch",
                daemon=True,
            ).start()
        try:
            self._shell_loop()
        finally:
            self._finished.set()
            if fd_capture is not None:
                fd_capture.stop()
            self.flusher.stop()
            self.flusher.flush_all()
            set_publisher(None)
            display_integrations.uninstall()
            sys.stdout, sys.stderr, builtins.input, getpass.getpass, main = saved
            sys.modules["__main__"] = main
            self._close()
            signal.signal(signal.SIGINT, previous_sigint)  # late interrupts stay harmless
            if unblock and previous_mask is not None:
                unblock(signal.SIG_SETMASK, previous_mask)
            _current = None

    def _shell_loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.shell, zmq.POLLIN)
        poller.register(self._wake, zmq.POLLIN)
        poller.register(self.stdin_socket, zmq.POLLIN)
        while not self._stopping.is_set():
            ready = dict(poller.poll())
            if self._wake in ready:
                self._wake.recv(zmq.NOBLOCK)
            if self.stdin_socket in ready:
                self.stdin.discard_unexpected()
            if self.shell in ready:
                try:
                    frames = self.shell.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    continue
                self._dispatch_guarded(self.shell, self.shell_handlers, frames, "shell")

    def _control_loop(self) -> None:
        try:
            while not self._shutdown_requested:
                frames = self.control.recv_multipart(copy=False)
                self._dispatch_guarded(self.control, self.control_handlers, frames, "control")
            self._stopping.set()
            self._wake_sender.send(b"")
        except zmq.ContextTerminated:
            pass
        finally:
            self.control.close()
            self._wake_sender.close()

    def _watch_parent(self, watch: LauncherWatch) -> None:
        """Stop when the process that started us is gone, so a crashed or killed frontend
        leaves no orphan kernel behind: as a shutdown_request would (a running cell is
        interrupted), and at once if user code does not stop within EXIT_GRACE."""
        while not self._stopping.wait(WATCH_INTERVAL) and not self._finished.is_set():
            reason = watch.gone()
            if reason is None:
                continue
            log.warning("%s: shutting down", reason)
            self.launcher_gone = True
            self._stopping.set()
            try:
                waker = self.context.socket(zmq.PUSH)
            except zmq.ZMQError:  # the kernel is already closing
                return
            waker.linger = 0
            waker.connect(self._wake_url)
            waker.send(b"")
            waker.close()
            if self.interrupts.in_request:  # a running cell would keep the main thread busy
                os.kill(os.getpid(), signal.SIGINT)
            if not self._finished.wait(EXIT_GRACE):
                log.error("user code ignored the interrupt for %g s: exiting now", EXIT_GRACE)
                os._exit(1)
            return

    def _close(self) -> None:
        """Send what is queued, close every socket, and end the context."""
        self.iopub.stop()
        for socket in (self.shell, self.stdin_socket, self._wake):
            socket.close()
        self.context.term()  # ends the control and heartbeat threads if still running
        self._control_thread.join(timeout=5)
        self.heartbeat.join(timeout=5)
        self.rejections.close()

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
        self, socket: zmq.Socket[Any], handlers: dict[str, Handler], frames: Any, channel: str
    ) -> None:
        parsed = self._parse(frames, channel)
        if parsed is not None:
            self._handle(socket, handlers, *parsed, channel)

    def _dispatch_guarded(
        self, socket: zmq.Socket[Any], handlers: dict[str, Handler], frames: Any, channel: str
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
        socket: zmq.Socket[Any],
        handlers: dict[str, Handler],
        idents: list[bytes],
        msg: dict[str, Any],
        channel: str,
    ) -> None:
        msg_type = msg["msg_type"]
        if socket is self.shell:
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
                self._reply(socket, idents, msg, {"status": "error", **error_content(exc)})
        finally:
            if socket is self.shell:
                self.flusher.flush_all()
                self.interrupts.request_finished()
            self._status("idle", msg)

    def _refuse(
        self,
        socket: zmq.Socket[Any],
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
        self.iopub.publish("status", {"execution_state": state}, parent)

    def _reply(
        self,
        socket: zmq.Socket[Any],
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

    # ------------------------------------------------------------------ publishing

    def _publish_stream(self, name: str, text: str) -> None:
        self.iopub.publish(
            "stream", {"name": name, "text": text}, self._parent, topic=f"stream.{name}"
        )

    def _publish_display(self, msg_type: str, content: dict[str, Any]) -> None:
        self.flusher.flush_all()
        self.iopub.publish(msg_type, content, self._parent)

    def _publish_comm(self, msg_type: str, content: dict[str, Any], buffers: Any) -> None:
        self.flusher.flush_all()
        self.iopub.publish(msg_type, content, self._parent, buffers=buffers)

    # ------------------------------------------------------------------- execution

    def _execute(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        request = msg["content"]
        code = str(request.get("code", ""))
        silent = bool(request.get("silent", False))
        store_history = bool(request.get("store_history", not silent)) and not silent
        if store_history:
            self.execution_count += 1
            self.history.store(self.execution_count, code)
        count = self.execution_count
        if not silent:
            self.iopub.publish("execute_input", {"code": code, "execution_count": count}, msg)

        self.stdin.begin(idents, msg["header"], bool(request.get("allow_stdin", True)))
        error: dict[str, Any] | None = None
        page: dict[str, Any] | None = None
        outcome = CellOutcome()
        try:
            with self.interrupts.user_code():
                page = help_page(code, self.executor.namespace)
                if not page:
                    outcome = self.executor.run_cell(code, count, store_history)
                error = outcome.error
                if outcome.has_value and not silent:
                    data, metadata = format_object(outcome.value)
                    self._publish_display(
                        "execute_result",
                        {"execution_count": count, "data": data, "metadata": metadata},
                    )
                    if store_history:
                        self.history.store_output(count, str(data.get("text/plain", "")))
                run_after_cell()  # shows the figures the cell drew, among others
        # An interrupt arrived just outside the cell's own handling, or showing the result
        # failed (its __repr__ raised, even SystemExit): an error of the cell all the same.
        except (Exception, KeyboardInterrupt, SystemExit) as exc:
            error = error_content(exc)
        finally:
            self.stdin.end()
        self.flusher.flush_all()
        if error is not None:
            self.iopub.publish("error", error, msg)
            if outcome.stderr_after_error:
                self._publish_stream("stderr", outcome.stderr_after_error)

        reply: dict[str, Any] = {
            "status": "ok" if error is None else "error",
            "execution_count": count,
            "user_expressions": self._user_expressions(request.get("user_expressions") or {}),
            "payload": ([page] if page else []) + outcome.payloads,
        }
        if error is not None:
            reply.update(error)
        # Abort what was queued before this reply goes out, not what a client sends after
        # seeing it: taking the queue first draws that line exactly.
        stop = error is not None and request.get("stop_on_error", True)
        queued = self._take_queued() if stop else []
        self._reply(socket, idents, msg, reply, metadata={"status": reply["status"]})
        self._abort(queued)
        if any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in reply["payload"]):
            # exit()/quit(): as in ipykernel, the kernel ends once this request is answered
            # (idle included); exit(keep_kernel=True) only tells the frontend.
            log.info("the cell called exit(): shutting down")
            self._stopping.set()

    def _user_expressions(self, expressions: dict[str, Any]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for name, expression in expressions.items():
            try:
                with self.interrupts.user_code():
                    data, metadata = format_object(self.executor.evaluate(str(expression)))
                results[name] = {"status": "ok", "data": data, "metadata": metadata}
            except (Exception, KeyboardInterrupt) as exc:
                results[name] = {"status": "error", **error_content(exc)}
        return results

    def _take_queued(self) -> list[tuple[list[bytes], dict[str, Any]]]:
        """The shell requests already waiting, parsed (unreadable ones are dropped)."""
        queued: list[tuple[list[bytes], dict[str, Any]]] = []
        while True:
            try:
                frames = self.shell.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return queued
            parsed = self._parse(frames, "shell")
            if parsed is not None:
                queued.append(parsed)

    def _abort(self, queued: list[tuple[list[bytes], dict[str, Any]]]) -> None:
        """After a failed cell with stop_on_error: answer the execute_requests that were
        waiting with ``status: aborted`` instead of running them; handle the others."""
        for idents, msg in queued:
            if msg["msg_type"] != "execute_request":
                self._handle(self.shell, self.shell_handlers, idents, msg, "shell")
                continue
            self._status("busy", msg)
            content = {"status": "aborted", "execution_count": self.execution_count}
            self._reply(self.shell, idents, msg, content, metadata={"status": "aborted"})
            self._status("idle", msg)

    # ---------------------------------------------------------------- introspection

    def _kernel_info(
        self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]
    ) -> None:
        self._reply(socket, idents, msg, self.kernel_info())

    def kernel_info(self) -> dict[str, Any]:
        """The content of ``kernel_info_reply``."""
        return {
            "status": "ok",
            "protocol_version": protocol_version,
            "implementation": self.implementation,
            "implementation_version": __version__,
            "language_info": LANGUAGE_INFO,
            "banner": f"kernelwire {__version__}: Python {sys.version.split()[0]} kernel",
            "help_links": HELP_LINKS,
            "debugger": False,
            "supported_features": [],
        }

    def _complete(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        content = msg["content"]
        reply = complete(
            str(content.get("code", "")), content.get("cursor_pos"), self.executor.namespace
        )
        self._reply(socket, idents, msg, reply)

    def _inspect(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        content = msg["content"]
        reply = inspect_code(
            str(content.get("code", "")),
            content.get("cursor_pos"),
            int(content.get("detail_level") or 0),
            self.executor.namespace,
        )
        self._reply(socket, idents, msg, reply)

    def _is_complete(
        self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]
    ) -> None:
        self._reply(socket, idents, msg, is_complete(str(msg["content"].get("code", ""))))

    def _history(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        try:
            reply = {"status": "ok", "history": self.history.handle_request(msg["content"])}
        except (TypeError, ValueError) as exc:
            reply = {"status": "error", **error_content(exc)}
        self._reply(socket, idents, msg, reply)

    # ------------------------------------------------------------------------ comms

    def _comm_info(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        comms = self.comms.info(msg["content"].get("target_name"))
        self._reply(socket, idents, msg, {"status": "ok", "comms": comms})

    def _comm_open(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        with self.interrupts.user_code():
            self.comms.handle_open(msg)

    def _comm_msg(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        with self.interrupts.user_code():
            self.comms.handle_msg(msg)

    def _comm_close(
        self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]
    ) -> None:
        with self.interrupts.user_code():
            self.comms.handle_close(msg)

    def _connect(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        ports = {f"{channel}_port": self.connection_info[f"{channel}_port"] for channel in CHANNELS}
        self._reply(socket, idents, msg, {"status": "ok", **ports})

    # ---------------------------------------------------------------------- control

    def _shutdown(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        content = {"status": "ok", "restart": bool(msg["content"].get("restart", False))}
        self._reply(socket, idents, msg, content)
        self.iopub.publish("shutdown_reply", content, msg)
        self._shutdown_requested = True
        if self.interrupts.in_request:  # a running cell would keep the main thread busy
            os.kill(os.getpid(), signal.SIGINT)

    def _interrupt(self, socket: zmq.Socket[Any], idents: list[bytes], msg: dict[str, Any]) -> None:
        if self.interrupts.in_request:
            os.kill(os.getpid(), signal.SIGINT)
        self._reply(socket, idents, msg, {"status": "ok"})
