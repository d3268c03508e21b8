"""Running cells: compile, execute in the user namespace, and report value or error.

A cell is parsed once; when its last statement is an expression (and the cell does not
end with ``;``), that expression is evaluated separately and its value becomes the cell's
result, as in IPython. Top-level ``await`` works: such cells run on a kernel-wide event
loop.

Cells are named after the execution count, as IPython names them: the 3rd stored cell is
``Cell In[3]``; a cell run without storing history (``silent`` or ``store_history=False``)
after it is ``Cell In[3.1]``, the next one ``Cell In[3.2]``, so no two runs share a name.
Its source is registered with ``linecache`` (under ``<Cell In[3]>``) for exactly as long as
some code object compiled from it is alive: a function defined in the cell keeps its
source readable for tracebacks and ``inspect``, and a cell that leaves nothing behind costs
no memory once it has run. Error tracebacks show the user's frames only.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import functools
import inspect
import io
import linecache
import os
import re
import traceback
import types
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: User code is compiled with ``dont_inherit=True`` besides: it must not inherit this
#: module's ``from __future__ import annotations`` (its annotations would become strings).
_COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_KERNEL_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: The file name code compiled for ``user_expressions`` carries.
USER_EXPRESSION_FILENAME = "<user_expression>"
_CELL_PREFIX = "<Cell In["
#: A traceback line naming a cell file, rewritten to read ``Cell In[3], line 1`` as in IPython.
_CELL_LOCATION = re.compile(r'^  File "<(Cell In\[[0-9.]+\])>", line (\d+)(?:, in (.*))?$', re.M)
#: Shown for SystemExit in place of frames (ipykernel shows a note too, then the exception).
SYSTEM_EXIT_NOTE = "An exception has occurred: the cell stopped, the kernel keeps running."
EXIT_HINT = "UserWarning: To exit: use 'exit', 'quit', or Ctrl-D.\n"


@dataclass
class CellOutcome:
    """What running one cell gave: a value to show (``has_value``) or an error, the reply
    payloads it asked for (``ask_exit``), and text for stderr after its error."""

    has_value: bool = False
    value: Any = None
    error: dict[str, Any] | None = field(default=None)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    stderr_after_error: str = ""


def _is_user_file(filename: str) -> bool:
    return filename.startswith(_CELL_PREFIX) or filename == USER_EXPRESSION_FILENAME


def _user_frames(stack: traceback.StackSummary) -> traceback.StackSummary:
    """The frames a user wants to see: none before the first frame of a cell (the kernel's
    own, ``ast.parse`` for a SyntaxError, asyncio for an ``await`` cell) and none from the
    kernel's package after it (its SIGINT handler, where a KeyboardInterrupt is raised)."""
    first = next((i for i, frame in enumerate(stack) if _is_user_file(frame.filename)), None)
    if first is None:
        return traceback.StackSummary.from_list([])
    kept = [frame for frame in stack[first:] if not frame.filename.startswith(_KERNEL_DIR)]
    return traceback.StackSummary.from_list(kept)


def _chain(report: traceback.TracebackException) -> Iterator[traceback.TracebackException]:
    """``report`` and the exceptions it was raised from or while handling."""
    pending, seen = [report], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _cell_location(match: re.Match[str]) -> str:
    name, line, function = match.groups()
    where = f"  {name}, line {line}"
    return where if function in (None, "<module>") else f"{where}, in {function}"


def error_content(exc: BaseException) -> dict[str, Any]:
    """``ename``, ``evalue`` and ``traceback`` with the user's frames only, cells named as
    IPython names them; SystemExit gets no traceback, as in IPython (it is no crash)."""
    if isinstance(exc, SystemExit):
        lines = [SYSTEM_EXIT_NOTE, *traceback.format_exception_only(type(exc), exc)]
    else:
        report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        for part in _chain(report):
            part.stack = _user_frames(part.stack)
        lines = [_CELL_LOCATION.sub(_cell_location, chunk) for chunk in report.format()]
    return {
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "traceback": [line.rstrip("\n") for line in lines],
    }


class ExitRequest:
    """``exit`` and ``quit`` in the user namespace. As in IPython, calling one (or a cell
    that is just ``exit``) asks the frontend to end the session: the cell's reply carries
    an ``ask_exit`` payload. The cell goes on; once its request is answered the kernel
    ends, as ipykernel does, unless ``keep_kernel=True`` asked to leave it running."""

    def __init__(self, name: str, on_call: Callable[[bool], None]) -> None:
        self.name = name
        self._on_call = on_call

    def __call__(self, keep_kernel: bool = False) -> None:
        self._on_call(bool(keep_kernel))

    def __repr__(self) -> str:
        return f"Use {self.name}() to ask the frontend to end this session"


class CellSources:
    """The ``linecache`` entries of cells, each held while code compiled from it lives.

    Every code object of a cell (the module, and the functions, classes, lambdas and
    comprehensions nested in it) is watched with a weak reference; once the cell has run
    and the last of them is gone, nothing can show the cell in a traceback any more and its
    entry is dropped.
    """

    def __init__(self) -> None:
        # Per cell file, its watched code objects' weak references by id: equal code
        # objects (two identical lambdas) have equal references, so no set.
        self._watched: dict[str, dict[int, weakref.ref[types.CodeType]]] = {}
        self._running: set[str] = set()

    def add(self, filename: str, source: str) -> None:
        """Register a cell about to run: its entry stays at least until :meth:`ran`."""
        # Lines as the compiler counts them (\n, \r\n, \r; not str.splitlines' \f and
        # others), each ending in \n as read from a file: tracebacks place their carets so.
        lines = io.StringIO(source, newline=None).readlines()
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        linecache.cache[filename] = (len(source), None, lines, filename)
        self._running.add(filename)

    def hold(self, filename: str, code: types.CodeType) -> None:
        """Keep ``filename``'s lines while ``code`` or a code object nested in it lives."""
        watched = self._watched.setdefault(filename, {})
        released = functools.partial(self._released, filename)
        pending = [code]
        while pending:
            current = pending.pop()
            ref = weakref.ref(current, released)
            watched[id(ref)] = ref
            pending.extend(c for c in current.co_consts if isinstance(c, types.CodeType))

    def ran(self, filename: str) -> None:
        """The cell is over: from now on its entry lives only as long as its code."""
        self._running.discard(filename)
        if not self._watched.get(filename):
            self._forget(filename)

    def _released(self, filename: str, ref: weakref.ref[types.CodeType]) -> None:
        watched = self._watched.get(filename)
        if watched is None:
            return
        watched.pop(id(ref), None)
        if not watched and filename not in self._running:
            self._forget(filename)

    def _forget(self, filename: str) -> None:
        self._watched.pop(filename, None)
        linecache.cache.pop(filename, None)

    def __len__(self) -> int:
        """How many cells' sources are held."""
        return len(self._watched.keys() | self._running)


class Executor:
    """The user namespace (a ``__main__`` module) and the machinery to run cells in it."""

    def __init__(self, extra_names: dict[str, Any] | None = None) -> None:
        self.module = types.ModuleType("__main__", "The kernel's user namespace.")
        self.namespace: dict[str, Any] = self.module.__dict__
        self.namespace["__builtins__"] = builtins
        self.namespace["exit"] = ExitRequest("exit", self._ask_exit)
        self.namespace["quit"] = ExitRequest("quit", self._ask_exit)
        self.namespace.update(extra_names or {})
        self.sources = CellSources()
        self._unstored: tuple[int, int] = (0, 0)  # (execution count, runs not stored since)
        self._exit_payload: dict[str, Any] | None = None
        self._exit_hint_shown = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ask_exit(self, keep_kernel: bool) -> None:
        """One ``ask_exit`` per cell; the last call decides ``keepkernel`` (as IPython)."""
        self._exit_payload = {"source": "ask_exit", "keepkernel": keep_kernel}

    def cell_name(self, execution_count: int, stored: bool) -> str:
        """``In[3]`` for the stored cell 3; ``In[3.1]``, ``In[3.2]``... for the runs after
        it that were not stored, so every run has its own name (and linecache entry)."""
        if stored:
            self._unstored = (execution_count, 0)
            return f"In[{execution_count}]"
        runs = self._unstored[1] + 1 if self._unstored[0] == execution_count else 1
        self._unstored = (execution_count, runs)
        return f"In[{execution_count}.{runs}]"

    def _evaluate(self, code: types.CodeType) -> Any:
        if code.co_flags & inspect.CO_COROUTINE:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(eval(code, self.namespace))
        return eval(code, self.namespace)

    def _compile(
        self, node: ast.Module | ast.Expression, filename: str, mode: str
    ) -> types.CodeType:
        code: types.CodeType = compile(
            node, filename, mode, flags=_COMPILE_FLAGS, dont_inherit=True
        )
        self.sources.hold(filename, code)
        return code

    def run_cell(self, source: str, execution_count: int = 0, stored: bool = False) -> CellOutcome:
        """Run ``source`` as cell ``execution_count`` (``stored`` in the history, or a run
        after that cell); exceptions (KeyboardInterrupt and SystemExit too: the kernel
        outlives its cells) become ``error``."""
        self._exit_payload = None
        filename = f"<Cell {self.cell_name(execution_count, stored)}>"
        self.sources.add(filename, source)
        try:
            outcome = self._run(source, filename)
        finally:
            self.sources.ran(filename)
        if self._exit_payload is not None:
            outcome.payloads.append(self._exit_payload)
        return outcome

    def _run(self, source: str, filename: str) -> CellOutcome:
        try:
            tree = ast.parse(source, filename, "exec")
            last: ast.Expression | None = None
            final = tree.body[-1] if tree.body else None
            if isinstance(final, ast.Expr) and not source.rstrip().endswith(";"):
                tree.body.pop()
                last = ast.Expression(final.value)
            self._evaluate(self._compile(tree, filename, "exec"))
            if last is None:
                return CellOutcome()
            value = self._evaluate(self._compile(last, filename, "eval"))
            if isinstance(value, ExitRequest) and isinstance(last.body, ast.Name):
                value()  # a cell that is just ``exit``, as IPython's autocall
                return CellOutcome()
        except SystemExit as exc:
            return CellOutcome(error=error_content(exc), stderr_after_error=self._exit_hint())
        except (Exception, KeyboardInterrupt) as exc:
            return CellOutcome(error=error_content(exc))
        if value is None:
            return CellOutcome()
        self._remember(value)
        return CellOutcome(has_value=True, value=value)

    def _exit_hint(self) -> str:
        """IPython's advice after the first SystemExit (shown once per kernel, as there)."""
        if self._exit_hint_shown:
            return ""
        self._exit_hint_shown = True
        return EXIT_HINT

    def _remember(self, value: Any) -> None:
        """``_``, ``__`` and ``___`` hold the last three results, as in IPython."""
        ns = self.namespace
        ns["___"], ns["__"], ns["_"] = ns.get("__"), ns.get("_"), value

    def evaluate(self, expression: str) -> Any:
        """The value of one expression in the user namespace (for user_expressions)."""
        return self._evaluate(
            compile(
                expression,
                USER_EXPRESSION_FILENAME,
                "eval",
                flags=_COMPILE_FLAGS,
                dont_inherit=True,
            )
        )
