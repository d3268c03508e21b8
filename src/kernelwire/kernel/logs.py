"""What the kernel logs about the messages it receives and sends.

A peer decides how many bad messages arrive, so the kernel must not log one line per
rejected message: a flood would fill the launcher's log file at megabytes a second. The
:class:`RejectionLog` logs the first problem of each kind (channel and category) at once,
in full, and counts the later ones; at the end of each period (:data:`SUMMARY_INTERVAL`
seconds from the first problem) one summary line gives the counts by kind. While
problems keep coming, each period adds one line whatever their number; after a quiet
period, the next problem is again logged at once.

With ``--debug``, each message received and sent is logged by type and channel (one
short line, and only the level check when debug is off).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

log = logging.getLogger("kernelwire.kernel")

SUMMARY_INTERVAL = 5.0

Kind = tuple[str, str]  # (channel, category)


class RejectionLog:
    """Rate-limited logging of messages dropped, refused or failed, counted by kind.

    Thread-safe: the shell loop, the control thread and the timer that ends a period
    all use it. The categories must come from a small fixed set (never a received
    value), so the counts stay bounded.
    """

    def __init__(self, logger: logging.Logger = log, interval: float = SUMMARY_INTERVAL) -> None:
        self._log = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._logged: set[Kind] = set()
        self._counts: dict[Kind, int] = {}
        self._timer: threading.Timer | None = None
        self._closed = False

    def report(
        self,
        channel: str,
        category: str,
        line: str,
        level: int = logging.WARNING,
        exc_info: BaseException | None = None,
    ) -> None:
        """Log ``line`` if it is the first of its kind this period; else count it."""
        kind = (channel, category)
        with self._lock:
            first = kind not in self._logged
            if first:
                self._logged.add(kind)
            else:
                self._counts[kind] = self._counts.get(kind, 0) + 1
            if self._timer is None and not self._closed:
                self._start_period()
        if first:
            self._log.log(level, "%s", line, exc_info=exc_info)

    def _start_period(self) -> None:
        self._timer = threading.Timer(self.interval, self._end_period)
        self._timer.name = "kernelwire-log-summary"
        self._timer.daemon = True
        self._timer.start()

    def _end_period(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
            self._timer = None
            if not counts:  # a quiet period: the next problem is news again
                self._logged.clear()
            elif not self._closed:  # the flood goes on: its kinds stay counted
                self._start_period()
        self._summarize(counts)

    def _summarize(self, counts: dict[Kind, int]) -> None:
        if not counts:
            return
        by_kind = "; ".join(
            f"{channel} {category}: {count}" for (channel, category), count in counts.items()
        )
        self._log.warning(
            "%d more messages in the last %g s, by kind: %s",
            sum(counts.values()),
            self.interval,
            by_kind,
        )

    def close(self) -> None:
        """Log what is counted and stop the periods (at kernel shutdown)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            counts, self._counts = self._counts, {}
        self._summarize(counts)


class OutsideTheStreams(logging.Handler):
    """The kernel's own log records, while it serves: handled by the root logger's handlers,
    as if propagated, except by a handler that writes into the kernel's ``sys.stdout`` or
    ``sys.stderr`` (one a cell added, say with ``logging.basicConfig(force=True)``).

    The kernel's log is not a cell's output, and the IOPub thread must never write into
    those streams: a publish may wait for room in IOPub, which only the IOPub thread makes.
    Installed on the ``kernelwire`` logger, which then stops propagating (see
    :meth:`install`). With no other root handler a record is dropped: logging's last
    resort would write it to ``sys.stderr``, into the streams.
    """

    def __init__(self, streams: Collection[Any]) -> None:
        super().__init__()
        self._streams = streams

    def emit(self, record: logging.LogRecord) -> None:
        for handler in logging.getLogger().handlers:
            if getattr(handler, "stream", None) in self._streams:
                continue
            if record.levelno >= handler.level:
                handler.handle(record)

    def install(self, logger: logging.Logger) -> Callable[[], None]:
        """Take ``logger``'s records to the root's handlers through this handler; returns
        what undoes it."""
        propagated = logger.propagate
        logger.addHandler(self)
        logger.propagate = False

        def undo() -> None:
            logger.removeHandler(self)
            logger.propagate = propagated

        return undo
