"""Running cells: compile, execute in the user namespace, and report value or error.

A cell is parsed once; when its last statement is an expression (and the cell does not
end with ``;``), that expression is evaluated separately and its value becomes the cell's
result, as in IPython. Top-level ``await`` works: such cells run on a kernel-wide event
loop. Cell sources are registered with ``linecache`` so tracebacks show the lines.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import inspect
import linecache
import traceback
import types
from dataclasses import dataclass, field
from typing import Any

_COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


@dataclass
class CellOutcome:
    """What running one cell gave: a value to show (``has_value``) or an error."""

    has_value: bool = False
    value: Any = None
    error: dict[str, Any] | None = field(default=None)


def error_content(exc: BaseException) -> dict[str, Any]:
    """``ename``, ``evalue`` and ``traceback`` (the kernel's own frames left out)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    chunks = traceback.format_exception(type(exc), exc, tb)
    return {
        "ename": type(exc).__name__,
        "evalue": str(exc),
        "traceback": [chunk.rstrip("\n") for chunk in chunks],
    }


class Executor:
    """The user namespace (a ``__main__`` module) and the machinery to run cells in it."""

    def __init__(self, extra_names: dict[str, Any] | None = None) -> None:
        self.module = types.ModuleType("__main__", "The kernel's user namespace.")
        self.namespace: dict[str, Any] = self.module.__dict__
        self.namespace["__builtins__"] = builtins
        self.namespace.update(extra_names or {})
        self._cells = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def _cell_filename(self, source: str) -> str:
        self._cells += 1
        filename = f"<kernelwire-cell-{self._cells}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        return filename

    def _evaluate(self, code: types.CodeType) -> Any:
        if code.co_flags & inspect.CO_COROUTINE:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(eval(code, self.namespace))
        return eval(code, self.namespace)

    def run_cell(self, source: str) -> CellOutcome:
        """Run ``source``; exceptions (KeyboardInterrupt and SystemExit too: the kernel
        outlives its cells) become ``error``."""
        try:
            filename = self._cell_filename(source)
            tree = ast.parse(source, filename, "exec")
            last: ast.Expression | None = None
            final = tree.body[-1] if tree.body else None
            if isinstance(final, ast.Expr) and not source.rstrip().endswith(";"):
                tree.body.pop()
                last = ast.Expression(final.value)
            self._evaluate(compile(tree, filename, "exec", flags=_COMPILE_FLAGS))
            if last is None:
                return CellOutcome()
            value = self._evaluate(compile(last, filename, "eval", flags=_COMPILE_FLAGS))
        except (Exception, KeyboardInterrupt, SystemExit) as exc:
            return CellOutcome(error=error_content(exc))
        if value is None:
            return CellOutcome()
        self._remember(value)
        return CellOutcome(has_value=True, value=value)

    def _remember(self, value: Any) -> None:
        """``_``, ``__`` and ``___`` hold the last three results, as in IPython."""
        ns = self.namespace
        ns["___"], ns["__"], ns["_"] = ns.get("__"), ns.get("_"), value

    def evaluate(self, expression: str) -> Any:
        """The value of one expression in the user namespace (for user_expressions)."""
        return self._evaluate(
            compile(expression, "<user_expression>", "eval", flags=_COMPILE_FLAGS)
        )
