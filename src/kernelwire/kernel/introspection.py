"""Answers about code that is not run: completion, inspection and ``is_complete``.

Completion and inspection look names up in the user namespace and follow attribute chains
with ``getattr`` only: they never evaluate calls, subscripts or operators.
"""

from __future__ import annotations

import ast
import builtins
import codeop
import inspect
import io
import keyword
import re
import tokenize
import warnings
from typing import Any

_NAME_BEFORE = re.compile(r"[A-Za-z_][\w.]*$|$")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_CALL_BEFORE = re.compile(r"([A-Za-z_][\w.]*)\s*\([^()]*$")
_HELP_QUERY = re.compile(r"\s*([A-Za-z_][\w.]*)\s*(\?\??)\s*")
_MISSING = object()
_PARSE_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _lookup(dotted: str, namespace: dict[str, Any]) -> Any:
    """The object named by ``a.b.c`` in ``namespace`` (or builtins); _MISSING if none."""
    first, *attrs = dotted.split(".")
    if first in namespace:
        obj = namespace[first]
    elif hasattr(builtins, first):
        obj = getattr(builtins, first)
    else:
        return _MISSING
    for attr in attrs:
        try:
            obj = getattr(obj, attr)
        except Exception:
            return _MISSING
    return obj


def complete(code: str, cursor_pos: int | None, namespace: dict[str, Any]) -> dict[str, Any]:
    """The ``complete_reply`` content for the name (or ``obj.attr``) before the cursor."""
    if cursor_pos is None:
        cursor_pos = len(code)
    before = code[:cursor_pos]
    token = _NAME_BEFORE.search(before).group()  # type: ignore[union-attr]
    base, dot, prefix = token.rpartition(".")
    if dot:
        obj = _lookup(base, namespace) if _DOTTED.fullmatch(base) else _MISSING
        try:
            candidates = set(dir(obj)) if obj is not _MISSING else set()
        except Exception:
            candidates = set()
    else:
        candidates = set(namespace) | set(dir(builtins)) | set(keyword.kwlist)
    matches = [c for c in candidates if c.startswith(prefix)]
    if not prefix.startswith("_"):
        matches = [c for c in matches if not c.startswith("_")]
    matches.sort(key=lambda c: (c.startswith("_"), c.lower(), c))
    return {
        "status": "ok",
        "matches": matches,
        "cursor_start": cursor_pos - len(prefix),
        "cursor_end": cursor_pos,
        "metadata": {},
    }


def _name_at(code: str, cursor_pos: int) -> str:
    """The dotted name under the cursor, or the callee of the call the cursor is in."""
    for match in _DOTTED.finditer(code):
        if match.start() <= cursor_pos <= match.end():
            # Keep only the part of the chain up to the attribute the cursor is in.
            end = code.find(".", cursor_pos, match.end())
            return match.group() if end < 0 else code[match.start() : end]
    call = _CALL_BEFORE.search(code[:cursor_pos])
    return call.group(1) if call else ""


def describe(obj: Any, name: str, detail_level: int = 0) -> str:
    """A plain-text description: type, string form, signature, docstring (and source)."""
    lines = [f"Type:        {type(obj).__name__}"]
    if not (inspect.isroutine(obj) or inspect.isclass(obj) or inspect.ismodule(obj)):
        text = repr(obj)
        lines.append(f"String form: {text if len(text) < 200 else text[:197] + '...'}")
    if callable(obj):
        try:
            lines.append(f"Signature:   {name}{inspect.signature(obj)}")
        except (TypeError, ValueError):
            pass
    module = inspect.getmodule(obj)
    if module is not None and getattr(module, "__file__", None):
        lines.append(f"File:        {module.__file__}")
    doc = inspect.getdoc(obj)
    lines.append(f"Docstring:\n{doc}" if doc else "Docstring:   <no docstring>")
    if detail_level > 0:
        try:
            lines.append(f"Source:\n{inspect.getsource(obj)}")
        except (OSError, TypeError):
            pass
    return "\n".join(lines)


def inspect_code(
    code: str, cursor_pos: int | None, detail_level: int, namespace: dict[str, Any]
) -> dict[str, Any]:
    """The ``inspect_reply`` content for the name at the cursor."""
    if cursor_pos is None:
        cursor_pos = len(code)
    name = _name_at(code, cursor_pos)
    obj = _lookup(name, namespace) if name else _MISSING
    if obj is _MISSING:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    text = describe(obj, name, detail_level)
    return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}


def help_page(code: str, namespace: dict[str, Any]) -> dict[str, Any] | None:
    """For a cell that is just ``name?`` (``name??`` adds the source), the ``page``
    payload that frontends show in their pager, as IPython's help syntax does; else None."""
    match = _HELP_QUERY.fullmatch(code)
    if match is None:
        return None
    name, marks = match.groups()
    obj = _lookup(name, namespace)
    text = f"Object `{name}` not found." if obj is _MISSING else describe(obj, name, len(marks) - 1)
    return {"source": "page", "data": {"text/plain": text}, "start": 0}


def _indent_after(code: str) -> str:
    """The indentation the next line of an unfinished ``code`` should start with."""
    lines = [line for line in code.splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    indent = last[: len(last) - len(last.lstrip())]
    return indent + "    " if last.rstrip().endswith(":") else indent


def _parses(code: str) -> bool:
    """Whether ``code`` is a whole program as it stands (top-level ``await`` allowed)."""
    try:
        compile(code, "<input>", "exec", flags=_PARSE_FLAGS)
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return False
    return True


def _ends_inside_block(code: str) -> bool:
    """Whether the last statement of (parsable) ``code`` sits in an indented block."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError):
        return False
    # At the end of input the tokenizer closes every open block with a DEDENT.
    return len(tokens) > 1 and tokens[-2].type == tokenize.DEDENT


def _ends_with_line_break(code: str) -> bool:
    """Whether a line break follows the last non-blank character: what a console sends
    on Enter at an empty line, even one holding only the indent it inserted."""
    return "\n" in code[len(code.rstrip()) :]


def is_complete(code: str) -> dict[str, Any]:
    """The ``is_complete_reply`` content: complete, incomplete (with an indent) or invalid.

    As in IPython, a cell whose last statement is inside an indented block stays incomplete
    until a line break follows it (Enter on an empty or auto-indented line runs it).
    """
    if _HELP_QUERY.fullmatch(code):
        return {"status": "complete"}  # ``name?`` runs as a help request
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _parses(code):
            if _ends_inside_block(code) and not _ends_with_line_break(code):
                return {"status": "incomplete", "indent": _indent_after(code)}
            return {"status": "complete"}
        compiler = codeop.CommandCompiler()
        compiler.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        try:
            compiled = compiler(code, "<input>", "exec")
        except (SyntaxError, OverflowError, ValueError, MemoryError, RecursionError):
            return {"status": "invalid"}
    if compiled is None:
        return {"status": "incomplete", "indent": _indent_after(code)}
    return {"status": "complete"}
