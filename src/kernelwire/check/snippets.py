"""Code the execute checks run, per language (kernel_info's ``language_info.name``).

Each entry is a template; ``{token}`` and ``{path}`` are filled in by the checks. A
language without snippets gets "not supported" for the checks that need code; ``--snippets
FILE`` (a JSON object: language name -> {snippet name: code}) adds or overrides them.
"""

from __future__ import annotations

import json
from typing import Any

#: What each snippet must do, so authors of other languages can write theirs.
SNIPPET_NAMES = {
    "ok": "run and produce no output",
    "stream": "print {token} to stdout",
    "result": "evaluate to the integer 42 (an execute_result whose text/plain shows 42)",
    "error": "raise an error whose message contains {token}",
    "input": "read a line with the language's input function, prompting {token}, and print "
    "it back to stdout",
    "sleep": "print {token} to stdout, then run for 60 seconds unless interrupted (the "
    "interrupt is sent once {token} arrives; without it, 0.3 s after execute_input)",
    "touch": "create the file {path} (the side effect the security checks look for)",
    "append": "append one line to the file {path}",
    "complete": "code whose completion at its end offers {complete_match}",
    "inspect": "code whose inspection at its end finds something",
    "incomplete": "code that is_complete must call incomplete",
    "complete_code": "code that is_complete must call complete",
}

PYTHON = {
    "ok": "_kw_check = 1",
    "stream": "print({token!r})",
    "result": "6 * 7",
    "error": "raise ValueError({token!r})",
    "input": "print('echo:' + input({token!r}))",
    "sleep": "import time\nprint({token!r})\nfor _ in range(600):\n    time.sleep(0.1)",
    "touch": "open({path!r}, 'w').close()",
    "append": "with open({path!r}, 'a') as f:\n    f.write('x\\n')",
    "complete": "prin",
    "complete_match": "print",
    "inspect": "len",
    "incomplete": "for i in range(3):",
    "complete_code": "x = 1",
}

BUILTIN: dict[str, dict[str, str]] = {"python": PYTHON}


def load_snippets(path: str | None) -> dict[str, dict[str, str]]:
    """The built-in snippets, with those of the JSON file at ``path`` (when given) on top."""
    snippets = {language: dict(entries) for language, entries in BUILTIN.items()}
    if path is None:
        return snippets
    with open(path, encoding="utf-8") as f:
        extra: Any = json.load(f)
    if not isinstance(extra, dict) or not all(
        isinstance(entries, dict) and all(isinstance(code, str) for code in entries.values())
        for entries in extra.values()
    ):
        raise ValueError(f"{path}: expected {{language: {{snippet name: code}}}}")
    for language, entries in extra.items():
        snippets.setdefault(language.lower(), {}).update(entries)
    return snippets
