"""The input history of this kernel session, answering ``history_request``.

Kept in memory: a kernel process is one history session (numbered 1). Entries are
``(session, line_number, input)``, or ``(session, line_number, (input, output))`` when
outputs are asked for; the line number is the cell's execution_count.

Memory is bounded: only the newest ``max_entries`` cells (default 10,000, far more than
frontends load: jupyter console asks for the last 1,000) and at most ``max_chars``
characters of inputs and outputs together (default 10,000,000) are kept; older entries are
forgotten first. The newest entry is always kept, however long it is.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Iterable
from typing import Any

SESSION_NUMBER = 1
MAX_ENTRIES = 10_000
MAX_CHARS = 10_000_000

Entry = tuple[int, str, str | None]  # (line number, input, text/plain output)


class History:
    """Inputs (and their text/plain results) of the cells run with store_history."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_chars: int = MAX_CHARS) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._entries: deque[Entry] = deque()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        """Characters of input and output held."""
        return self._chars

    def store(self, line: int, source: str) -> None:
        self._entries.append((line, source, None))
        self._chars += len(source)
        self._forget_oldest()

    def store_output(self, line: int, text: str) -> None:
        """Record the text/plain result of cell ``line`` (the latest entry with it)."""
        for index in range(len(self._entries) - 1, -1, -1):
            entry = self._entries[index]
            if entry[0] == line:
                self._entries[index] = (line, entry[1], text)
                self._chars += len(text) - len(entry[2] or "")
                self._forget_oldest()
                return

    def _forget_oldest(self) -> None:
        while len(self._entries) > 1 and (
            len(self._entries) > self.max_entries or self._chars > self.max_chars
        ):
            _, source, output = self._entries.popleft()
            self._chars -= len(source) + len(output or "")

    def _rows(self, entries: Iterable[Entry], output: bool) -> list[Any]:
        if output:
            return [(SESSION_NUMBER, line, (src, out)) for line, src, out in entries]
        return [(SESSION_NUMBER, line, src) for line, src, _ in entries]

    def tail(self, n: int, output: bool = False) -> list[Any]:
        return self._rows(list(self._entries)[-n:] if n > 0 else [], output)

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
            latest: dict[str, Entry] = {}
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
