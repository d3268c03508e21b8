"""The input history of this kernel session, answering ``history_request``.

Kept in memory: a kernel process is one history session (numbered 1). Entries are
``(session, line_number, input)``, or ``(session, line_number, (input, output))`` when
outputs are asked for; the line number is the cell's execution_count.
"""

from __future__ import annotations

import fnmatch
from typing import Any

SESSION_NUMBER = 1


class History:
    """Inputs (and their text/plain results) of the cells run with store_history."""

    def __init__(self) -> None:
        self._entries: list[tuple[int, str, str | None]] = []

    def store(self, line: int, source: str) -> None:
        self._entries.append((line, source, None))

    def store_output(self, line: int, text: str) -> None:
        """Record the text/plain result of cell ``line`` (the latest entry with it)."""
        for index in range(len(self._entries) - 1, -1, -1):
            if self._entries[index][0] == line:
                self._entries[index] = (line, self._entries[index][1], text)
                return

    def _rows(self, entries: list[tuple[int, str, str | None]], output: bool) -> list[Any]:
        if output:
            return [(SESSION_NUMBER, line, (src, out)) for line, src, out in entries]
        return [(SESSION_NUMBER, line, src) for line, src, _ in entries]

    def tail(self, n: int, output: bool = False) -> list[Any]:
        return self._rows(self._entries[-n:] if n > 0 else [], output)

    def range(
        self, session: int = 0, start: int = 1, stop: int | None = None, output: bool = False
    ) -> list[Any]:
        """Lines ``start`` (inclusive) to ``stop`` (exclusive) of ``session``: 0 or a
        negative number counts back from this session, which is the only one held."""
        if session not in (0, SESSION_NUMBER):
            return []
        chosen = [
            entry
            for entry in self._entries
            if entry[0] >= (start or 0) and (stop is None or entry[0] < stop)
        ]
        return self._rows(chosen, output)

    def search(
        self, pattern: str = "*", n: int | None = None, unique: bool = False, output: bool = False
    ) -> list[Any]:
        """The last ``n`` inputs matching the glob ``pattern`` (``*`` and ``?``)."""
        matches = [e for e in self._entries if fnmatch.fnmatchcase(e[1], pattern or "*")]
        if unique:
            latest: dict[str, tuple[int, str, str | None]] = {}
            for entry in matches:
                latest.pop(entry[1], None)
                latest[entry[1]] = entry
            matches = list(latest.values())
        if n:
            matches = matches[-n:]
        return self._rows(matches, output)

    def handle_request(self, content: dict[str, Any]) -> list[Any]:
        """The ``history`` list for a ``history_request``'s content."""
        output = bool(content.get("output", False))
        kind = content.get("hist_access_type", "tail")
        if kind == "tail":
            return self.tail(int(content.get("n") or 10), output)
        if kind == "range":
            return self.range(
                int(content.get("session") or 0),
                int(content.get("start") or 1),
                content.get("stop"),
                output,
            )
        if kind == "search":
            return self.search(
                str(content.get("pattern") or "*"),
                content.get("n"),
                bool(content.get("unique", False)),
                output,
            )
        raise ValueError(f"hist_access_type must be tail, range or search, not {kind!r}")
