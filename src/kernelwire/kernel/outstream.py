"""``sys.stdout``/``sys.stderr`` replacements that publish ``stream`` messages on IOPub.

Writes are buffered and coalesced: a background flusher publishes what was written at most
``interval`` seconds later, so a loop printing thousands of lines sends few messages while
``print(); time.sleep()`` still shows up promptly. The kernel flushes explicitly before any
other output (display, result, error) so the order a cell produced things is kept.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterable

#: ``publish(stream_name, text)``: sends one ``stream`` message.
StreamPublisher = Callable[[str, str], None]


class OutStream(io.TextIOBase):
    """A text stream whose writes become IOPub ``stream`` messages named ``channel``."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, channel: str, publish: StreamPublisher, flusher: Flusher) -> None:
        super().__init__()
        self.channel = channel
        self._publish = publish
        self._flusher = flusher
        self._lock = threading.RLock()
        self._pending: list[str] = []

    @property
    def name(self) -> str:
        return f"<{self.channel}>"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation(f"{self.name} is published over IOPub and has no fd")

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.closed:
            raise ValueError("I/O operation on closed stream")
        if text:
            with self._lock:
                self._pending.append(text)
            self._flusher.request()
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Publish everything written so far as one message (nothing if nothing was)."""
        with self._lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            self._publish(self.channel, text)


class Flusher:
    """One daemon thread that flushes the registered streams shortly after a write."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.streams: list[OutStream] = []
        self._wanted = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="kernelwire-flusher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        """Ask for a flush within ``interval`` seconds (cheap when one is already due)."""
        if not self._wanted.is_set():
            self._wanted.set()

    def flush_all(self) -> None:
        for stream in self.streams:
            stream.flush()

    def stop(self) -> None:
        self._stopped = True
        self._wanted.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped:
            self._wanted.wait()
            if self._stopped:
                return
            time.sleep(self.interval)  # let more writes join this flush
            self._wanted.clear()
            try:
                self.flush_all()
            except Exception:  # keep flushing later output even if one publish failed
                logging.getLogger("kernelwire.kernel").exception("flushing output failed")
