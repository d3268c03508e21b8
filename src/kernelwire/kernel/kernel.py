"""The reference kernel: Python, on :class:`~.base.KernelBase`.

The base does the protocol; this class runs cells (see :mod:`.execution`) and answers
completion, inspection and history for Python. What it changes in the process while it
serves, and undoes after, is all in :meth:`PythonKernel._patch_process`: ``sys.stdout``
and ``sys.stderr`` become IOPub streams (with fds 1 and 2, see :mod:`.fdcapture`),
``input()`` and ``getpass()`` ask the frontend, ``__main__`` is the user namespace, and
``display()`` and the IPython/matplotlib integrations publish through the kernel.
"""

from __future__ import annotations

import builtins
import getpass
import logging
import platform
import sys
from contextlib import ExitStack
from typing import Any, ClassVar

from .._version import __version__
from .base import KernelBase, get_kernel
from .channels import IOFactory
from .display import clear_output, display, format_object, run_after_cell, set_publisher
from .execution import CellOutcome, Executor, error_content
from .fdcapture import start_fd_capture
from .history import History
from .integrations import install_display_integrations
from .introspection import complete, help_page, inspect_code, is_complete
from .limits import KernelLimits
from .logs import OutsideTheStreams
from .outstream import Flusher, OutStream

__all__ = ["Kernel", "PythonKernel", "get_kernel"]

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


class PythonKernel(KernelBase):
    """A Python kernel speaking Jupyter protocol 5.6 with kernelwire's Session."""

    implementation = "kernelwire"
    implementation_version = __version__
    language_info: ClassVar[dict[str, Any]] = LANGUAGE_INFO
    banner = f"kernelwire {__version__}: Python {sys.version.split()[0]} kernel"
    help_links: ClassVar[list[dict[str, str]]] = HELP_LINKS
    #: Show what child processes and C code write to fds 1 and 2 as stream output (POSIX).
    capture_fd_output = True

    def __init__(
        self,
        connection_info: dict[str, Any],
        limits: KernelLimits | None = None,
        *,
        io: IOFactory | None = None,
    ) -> None:
        super().__init__(connection_info, limits, io=io)
        self.history = History()
        self.flusher = Flusher()
        self.stdout = OutStream(
            "stdout", self._publish_stream, self.flusher, current_parent=self._stream_parent
        )
        self.stderr = OutStream(
            "stderr", self._publish_stream, self.flusher, current_parent=self._stream_parent
        )
        self.flusher.streams.extend([self.stdout, self.stderr])
        self.executor = Executor({"display": display, "clear_output": clear_output})

    def _patch_process(self, undo: ExitStack) -> None:
        """Everything the kernel changes in the process while it serves; each change is
        undone on ``undo`` (last first)."""
        saved = (sys.stdout, sys.stderr, builtins.input, getpass.getpass, sys.modules["__main__"])

        def restore() -> None:
            sys.stdout, sys.stderr, builtins.input, getpass.getpass, main = saved
            sys.modules["__main__"] = main

        undo.callback(restore)
        sys.stdout, sys.stderr = self.stdout, self.stderr
        # the kernel's own log never becomes cell output, whatever handlers a cell adds
        own_log = OutsideTheStreams((self.stdout, self.stderr))
        undo.callback(own_log.install(logging.getLogger("kernelwire")))
        builtins.input, getpass.getpass = self.stdin.input, self.stdin.getpass
        sys.modules["__main__"] = self.executor.module
        undo.callback(install_display_integrations().uninstall)
        set_publisher(self._publish_display)
        undo.callback(set_publisher, None)
        self.flusher.start()
        undo.callback(self.flusher.flush_all)
        undo.callback(self.flusher.stop)
        fd_capture = (
            start_fd_capture({1: self.stdout, 2: self.stderr}) if self.capture_fd_output else None
        )
        if fd_capture is not None:
            undo.callback(fd_capture.stop)

    def _flush_output(self) -> None:
        self.flusher.flush_all()

    # ------------------------------------------------------------------ publishing

    def _stream_parent(self) -> dict[str, Any]:
        """The request whose output a write is: this thread's shell's (a subshell's own).
        Called on every write: one attribute chain, not the ``_parent`` property's calls."""
        return self._shell_local.context.parent

    def _publish_stream(self, name: str, text: str, parent: dict[str, Any] | None = None) -> None:
        self.iopub.publish(
            "stream",
            {"name": name, "text": text},
            self._parent if parent is None else parent,
            topic=f"stream.{name}",
        )

    def _publish_display(self, msg_type: str, content: dict[str, Any]) -> None:
        self.flusher.flush_all()
        self.iopub.publish(msg_type, content, self._parent)

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
    ) -> dict[str, Any]:
        count = self.execution_count
        if store_history:
            self.history.store(count, code)
        error: dict[str, Any] | None = None
        page: dict[str, Any] | None = None
        outcome = CellOutcome()
        try:
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
        with self.interrupts.settled():
            if error is not None:
                self.flusher.flush_all()  # the cell's output before its error
                self.iopub.publish("error", error, self._parent)
                if outcome.stderr_after_error:
                    self._publish_stream("stderr", outcome.stderr_after_error)
            reply: dict[str, Any] = {
                "status": "ok" if error is None else "error",
                "execution_count": count,
                "user_expressions": self._user_expressions(user_expressions or {}),
                "payload": ([page] if page else []) + outcome.payloads,
            }
        if error is not None:
            reply.update(error)
        if any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in reply["payload"]):
            # exit()/quit(): as in ipykernel, the kernel ends once this request is answered
            # (idle included); exit(keep_kernel=True) only tells the frontend.
            self.log.info("the cell called exit(): shutting down")
            self.stop()
        return reply

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

    def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        return complete(code, cursor_pos, self.executor.namespace)

    def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        return inspect_code(code, cursor_pos, int(detail_level), self.executor.namespace)

    def do_is_complete(self, code: str) -> dict[str, Any]:
        return is_complete(code)

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
    ) -> dict[str, Any]:
        request = {
            "hist_access_type": hist_access_type,
            "output": output,
            "session": session,
            "start": start,
            "stop": stop,
            "n": n,
            "pattern": pattern,
            "unique": unique,
        }
        try:
            return {"status": "ok", "history": self.history.handle_request(request)}
        except (TypeError, ValueError) as exc:
            return {"status": "error", **error_content(exc)}


#: The name the reference kernel had before :class:`KernelBase` existed.
Kernel = PythonKernel
