"""How writes to the kernel's ``sys.stdout``/``sys.stderr`` (:class:`.OutStream`) meet the
threads that publish them and the captured fd they share with child processes.

A write that finds the captured pipe empty appends without the stream's lock: it neither
waits for a publish in progress, nor passes output that a reader already took from the
pipe. Real pipes (a :class:`.CapturedFd` on a spare fd) and real threads; every wait only
turns a hang into a failure.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kernelwire.kernel.fdcapture import CapturedFd, check_together
from kernelwire.kernel.outstream import Flusher, OutStream

WAIT = 30.0  # only turns a hang into a failure

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fd capture is POSIX only")

Published = list[tuple[str, Any]]


def _collecting_stream(
    current_parent: Callable[[], Any] = lambda: None,
) -> tuple[OutStream, Published]:
    published: Published = []
    stream = OutStream(
        "stdout",
        lambda _name, text, parent: published.append((text, parent)),
        Flusher(),
        current_parent=current_parent,
    )
    return stream, published


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.001)


class PausingCapture(CapturedFd):
    """A captured fd whose reader, once ``pause`` is set, stops after reading the pipe and
    before the stream appends the text, until ``go`` is set."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd, None)
        self.pause = False
        self.read = threading.Event()
        self.go = threading.Event()

    def read_available(self) -> str:
        text = super().read_available()
        if self.pause and text:
            self.read.set()
            assert self.go.wait(WAIT)
        return text


class WatchedLock:
    """The stream's lock, noting when ``watched`` (a thread) asks for it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.watched: threading.Thread | None = None
        self.asked = threading.Event()

    def __enter__(self) -> WatchedLock:
        if threading.current_thread() is self.watched:
            self.asked.set()
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@pytest.fixture
def spare_fd() -> Iterator[int]:
    """An fd above 2 to capture (fds 1 and 2 stay with pytest)."""
    fd = os.open(os.devnull, os.O_WRONLY)
    yield fd
    os.close(fd)


def test_fd_output_a_reader_took_goes_before_a_write_made_meanwhile(spare_fd: int) -> None:
    """The reader thread has emptied the pipe but not appended the text yet when a write
    comes: the write finds the pipe empty, and must still go after that text."""
    stream, published = _collecting_stream()
    source = PausingCapture(spare_fd)
    lock = WatchedLock()
    stream._lock = lock  # type: ignore[assignment]
    stream.attach_fd(source)
    try:
        source.pause = True
        os.write(spare_fd, b"from the fd\n")
        reader = threading.Thread(target=stream.absorb_fd_output)
        reader.start()
        assert source.read.wait(WAIT)
        writer = threading.Thread(target=stream.write, args=("from print\n",))
        lock.watched = writer
        writer.start()
        _wait_for(lambda: lock.asked.is_set() or not writer.is_alive())  # appended or waits
        source.go.set()
        reader.join(WAIT)
        writer.join(WAIT)
        stream.publish_pending()
        assert "".join(text for text, _ in published) == "from the fd\nfrom print\n"
    finally:
        source.go.set()
        stream.attach_fd(None)
        source.restore()
        source.close()
        if source.saved is not None:
            os.close(source.saved)


def test_a_write_does_not_wait_for_a_publish_in_progress() -> None:
    """Publishing (IOPub) may be slow; a print meanwhile, with no fd output to take first,
    goes on at once and its text is published next."""
    entered, release = threading.Event(), threading.Event()
    published: Published = []

    def publish(_name: str, text: str, parent: Any) -> None:
        published.append((text, parent))
        if text == "first":
            entered.set()
            assert release.wait(4 * WAIT)  # outlasts the writer's join below

    stream = OutStream("stdout", publish, Flusher())
    stream.write("first")
    publisher = threading.Thread(target=stream.publish_pending)
    publisher.start()
    try:
        assert entered.wait(WAIT)
        writer = threading.Thread(target=stream.write, args=("second",))
        writer.start()
        writer.join(WAIT)
        assert not writer.is_alive(), "the write waited for the publish"
    finally:
        release.set()
        publisher.join(WAIT)
    stream.publish_pending()
    assert [text for text, _ in published] == ["first", "second"]


@pytest.mark.usefixtures("busy_switching")
def test_threads_writing_while_the_flusher_publishes_lose_nothing() -> None:
    """Several threads print under parents of their own while the flusher thread
    publishes: every text arrives once, under its writer's parent, in its writer's order."""
    parents = threading.local()
    published: Published = []
    flusher = Flusher(interval=0.001)
    stream = OutStream(
        "stdout",
        lambda _name, text, parent: published.append((text, parent)),
        flusher,
        current_parent=lambda: getattr(parents, "name", None),
    )
    flusher.streams.append(stream)
    lines = 2000

    start = threading.Barrier(4)

    def writer(name: str) -> None:
        parents.name = name
        start.wait(WAIT)
        for i in range(lines):
            print(name, i, file=stream)

    names = [f"thread{n}" for n in range(4)]
    threads = [threading.Thread(target=writer, args=(name,)) for name in names]
    flusher.start()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    finally:
        flusher.stop()
    stream.publish_pending()
    by_parent: dict[str, list[str]] = {name: [] for name in names}
    for text, parent in published:
        by_parent[parent].append(text)
    for name in names:
        assert "".join(by_parent[name]) == "".join(f"{name} {i}\n" for i in range(lines))


def test_a_write_after_a_flush_asks_for_the_next_one() -> None:
    """The flusher publishes a write on its own, and again a write that comes after it
    published (the flag that spares writes a wake-up is reset)."""
    stream, published = _collecting_stream()
    flusher = stream._flusher
    flusher.streams.append(stream)
    flusher.start()
    try:
        for text in ("one\n", "two\n", "three\n"):
            stream.write(text)
            _wait_for(lambda text=text: bool(published) and published[-1][0].endswith(text))
    finally:
        flusher.stop()
    assert "".join(text for text, _ in published) == "one\ntwo\nthree\n"


def test_writes_to_a_closed_stream_and_of_bytes_are_refused() -> None:
    stream, published = _collecting_stream()
    with pytest.raises(TypeError, match="must be str, not bytes"):
        stream.write(b"bytes")  # type: ignore[arg-type]
    stream.write("kept\n")
    stream.close()  # publishes what was written
    with pytest.raises(ValueError, match="closed"):
        stream.write("late\n")
    assert published == [("kept\n", None)]


def test_a_lone_write_goes_out_once_writes_pause_not_after_the_interval() -> None:
    """``print(); time.sleep(1)``: the flusher publishes as soon as no more writes come,
    not only once its longest wait for more is over (ten minutes here: the bounded wait
    below fails long before that)."""
    stream, published = _collecting_stream()
    flusher = Flusher(interval=600)
    stream._flusher = flusher
    flusher.streams.append(stream)
    flusher.start()
    try:
        stream.write("before the sleep\n")
        _wait_for(lambda: bool(published))
    finally:
        flusher.stop()
    assert published == [("before the sleep\n", None)]


def test_writes_that_keep_coming_are_published_together() -> None:
    """Publishing once the writes pause must not send a message per write of a loop that
    keeps writing: each write here comes a millisecond after the last, far less than
    the pause the flusher waits for, so it waits on (up to ten minutes here)."""
    stream, published = _collecting_stream()
    flusher = Flusher(interval=600, quiet=0.05)
    stream._flusher = flusher
    flusher.streams.append(stream)
    writes = 200
    flusher.start()
    try:
        for i in range(writes):
            stream.write(f"{i}\n")
            time.sleep(0.001)
        expected = "".join(f"{i}\n" for i in range(writes))
        _wait_for(lambda: "".join(text for text, _ in published) == expected)
    finally:
        flusher.stop()
    assert len(published) < writes // 2  # one per pause, not one per write


def test_stdout_and_stderr_text_arrives_in_the_order_it_was_written() -> None:
    """print('a'); print('b', file=sys.stderr); print('c'): three messages a, b, c, not
    stdout "a c" and then stderr "b"."""
    published: list[tuple[str, str]] = []
    flusher = Flusher(interval=600, quiet=600)  # nothing but the writes publishes

    def publish(name: str, text: str, parent: Any) -> None:
        published.append((name, text))

    out, err = (OutStream(name, publish, flusher) for name in ("stdout", "stderr"))
    flusher.streams += [out, err]
    for stream, text in ((out, "a\n"), (out, "a2\n"), (err, "b\n"), (out, "c\n")):
        stream.write(text)
    flusher.flush_all()
    assert published == [("stdout", "a\na2\n"), ("stderr", "b\n"), ("stdout", "c\n")]


class TwoCapturedStreams:
    """stdout and stderr sharing a flusher (that never runs), each with a captured spare fd,
    checked together before a write as the kernel's fds 1 and 2 are."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []
        self.parents: list[Any] = []  # of each message published
        #: What a write is made under (a subshell's thread would have its own).
        self.parent: Any = "main"
        #: Called inside each publish (a test may raise from it, as an interrupt would).
        self.on_publish: Callable[[], None] = lambda: None
        #: Called where C stdio is flushed (the GIL is released there: other threads run).
        self.on_c_stdio_flush: Callable[[], None] = lambda: None
        self.flusher = Flusher(interval=600, quiet=600)
        self.out, self.err = (
            OutStream(name, self._publish, self.flusher, current_parent=lambda: self.parent)
            for name in ("stdout", "stderr")
        )
        self.flusher.streams += [self.out, self.err]
        self.spares = [os.open(os.devnull, os.O_WRONLY) for _ in range(2)]
        self.sources = [CapturedFd(fd, lambda _: self.on_c_stdio_flush()) for fd in self.spares]
        self._close = check_together(self.sources)
        for stream, source in zip((self.out, self.err), self.sources, strict=True):
            stream.attach_fd(source)

    def _publish(self, name: str, text: str, parent: Any) -> None:
        self.published.append((name, text))
        self.parents.append(parent)
        self.on_publish()

    def close(self) -> None:
        for stream, source in zip((self.out, self.err), self.sources, strict=True):
            stream.attach_fd(None)
            source.restore()
            source.close()
            if source.saved is not None:
                os.close(source.saved)
        self._close()
        for fd in self.spares:
            os.close(fd)


@pytest.fixture
def two_streams() -> Iterator[TwoCapturedStreams]:
    streams = TwoCapturedStreams()
    yield streams
    streams.close()


def test_a_write_takes_the_other_streams_fd_output_first(two_streams: TwoCapturedStreams) -> None:
    """C code wrote to fd 2, then a print to stdout: the fd text goes first, after what
    stdout held before it."""
    out, err = two_streams.out, two_streams.err
    out.write("before\n")
    os.write(two_streams.spares[1], b"from fd 2\n")
    out.write("after\n")
    os.write(two_streams.spares[0], b"from fd 1\n")
    err.write("error\n")
    two_streams.flusher.flush_all()
    assert two_streams.published == [
        ("stdout", "before\n"),
        ("stderr", "from fd 2\n"),
        ("stdout", "after\nfrom fd 1\n"),
        ("stderr", "error\n"),
    ]


@pytest.mark.parametrize("taker", ["reader", "publish"])
def test_fd_output_taken_by_another_thread_goes_after_the_last_writers_text(
    two_streams: TwoCapturedStreams, taker: str
) -> None:
    """The fd reader (``absorb_fd_output``) or the flusher (``publish_pending``) takes
    stderr's fd output while stdout holds text written before it: stdout's goes first, and
    a print after that goes after the fd text (the flusher used to publish stdout's text,
    let a cell print and write to fd 2, then take that fd text before the print's)."""
    out, err = two_streams.out, two_streams.err
    out.write("first\n")
    os.write(two_streams.spares[1], b"from fd 2\n")
    if taker == "reader":
        err.absorb_fd_output()
    else:
        err.publish_pending()
    out.write("last\n")
    two_streams.flusher.flush_all()
    assert two_streams.published == [
        ("stdout", "first\n"),
        ("stderr", "from fd 2\n"),
        ("stdout", "last\n"),
    ]


class ReaderBeforeTheAppend(list[Any]):
    """stdout's pending list, with the fd reader taking stderr's fd output (a child's) just
    before the next append: the moment a write has checked the fds and not appended yet."""

    def __init__(self, streams: TwoCapturedStreams) -> None:
        super().__init__(streams.out._pending)
        self.streams = streams
        self.armed = True

    def append(self, item: Any) -> None:
        if self.armed:
            self.armed = False
            os.write(self.streams.spares[1], b"from a child\n")
            reader = threading.Thread(target=self.streams.err.absorb_fd_output)
            reader.start()
            reader.join(WAIT)
        super().append(item)


def test_a_thread_keeps_its_order_when_the_reader_takes_over_mid_write(
    two_streams: TwoCapturedStreams,
) -> None:
    """Regression (found by review): the reader made stderr the last writer between a
    stdout write's check and its append; the text was left behind in stdout, and the same
    thread's next print, to stderr, went out before it."""
    out, err = two_streams.out, two_streams.err
    out.write("A\n")
    out._pending = ReaderBeforeTheAppend(two_streams)
    out.write("B\n")
    err.write("C\n")
    out.write("D\n")
    two_streams.flusher.flush_all()
    texts = [text for _, text in two_streams.published]
    assert texts == ["A\n", "from a child\n", "B\n", "C\n", "D\n"]


def test_text_appended_before_its_turn_is_published_after_the_older_text(
    two_streams: TwoCapturedStreams,
) -> None:
    """Regression (seen once in 300 runs of a cell alternating os.write(2) and print): a
    write appends, then takes its turn from the other stream; the flusher thread publishing
    in between (while C stdio is flushed) sent the new stdout text before stderr's older."""
    out, err, flusher = two_streams.out, two_streams.err, two_streams.flusher

    def flusher_runs_once() -> None:
        two_streams.on_c_stdio_flush = lambda: None
        flusher.flush_all()

    err.write("older\n")
    two_streams.on_c_stdio_flush = flusher_runs_once
    out.write("newer\n")
    flusher.flush_all()
    assert two_streams.published == [("stderr", "older\n"), ("stdout", "newer\n")]


def test_an_interrupt_while_publishing_before_fd_output_loses_none_of_it(
    two_streams: TwoCapturedStreams,
) -> None:
    """Regression (found by review): a print that finds C code's fd 2 output publishes
    stdout's text first; a KeyboardInterrupt raised by that publish (the kernel raises a
    deferred Ctrl-C once the message is queued) lost the fd text already read."""
    out = two_streams.out
    out.write("a\n")
    os.write(two_streams.spares[1], b"from C code\n")

    def interrupt_once() -> None:
        two_streams.on_publish = lambda: None
        raise KeyboardInterrupt

    two_streams.on_publish = interrupt_once
    with pytest.raises(KeyboardInterrupt):
        out.write("b\n")
    two_streams.flusher.flush_all()
    assert two_streams.published == [("stdout", "a\n"), ("stderr", "from C code\n")]


def interrupt_once(streams: TwoCapturedStreams) -> Callable[[], None]:
    """An ``on_publish`` that raises KeyboardInterrupt once, as the kernel raises a Ctrl-C
    that came during a publish once the message is queued."""

    def interrupt() -> None:
        streams.on_publish = lambda: None
        raise KeyboardInterrupt

    return interrupt


def test_a_write_during_a_flush_of_its_empty_stream_waits_for_older_text(
    two_streams: TwoCapturedStreams,
) -> None:
    """Regression (found by review): stdout's flush found nothing to publish, so it did not
    take over from stderr; a write to stdout landing while the flush looked at the pipe was
    then published by that flush, before stderr's older text."""
    out, err = two_streams.out, two_streams.err
    source = two_streams.sources[0]
    check = source.readable
    go = threading.Event()

    def writer() -> None:
        err.write("older\n")
        assert go.wait(WAIT)
        out.write("newer\n")  # appends, then waits for the lock to take its turn

    thread = threading.Thread(target=writer)
    thread.start()
    _wait_for(lambda: bool(err._pending))

    def readable() -> object:  # inside stdout's flush, which found stdout empty
        source.readable = check
        go.set()
        _wait_for(lambda: bool(out._pending))
        return check()

    source.readable = readable  # type: ignore[method-assign]
    out.publish_pending()
    thread.join(WAIT)
    assert not thread.is_alive()
    two_streams.flusher.flush_all()
    assert two_streams.published == [("stderr", "older\n"), ("stdout", "newer\n")]


def test_an_interrupt_during_a_turn_keeps_the_writers_order(
    two_streams: TwoCapturedStreams,
) -> None:
    """Regression (found by review): a Ctrl-C raised while a stdout write published
    stderr's text left stderr the last writer, so what the cell printed after catching it
    went out before the interrupted write's text."""
    out, err = two_streams.out, two_streams.err
    err.write("1\n")
    two_streams.on_publish = interrupt_once(two_streams)
    with pytest.raises(KeyboardInterrupt):
        out.write("2\n")
    err.write("stopped\n")
    out.write("done\n")
    two_streams.flusher.flush_all()
    texts = [text for _, text in two_streams.published]
    assert texts == ["1\n", "2\n", "stopped\n", "done\n"]


def test_an_interrupt_between_two_parents_runs_loses_neither(
    two_streams: TwoCapturedStreams,
) -> None:
    """Regression (found by review): stderr held text of the main shell's cell and then
    of a subshell's; a Ctrl-C raised by the first message's publish lost the second run,
    taken out of the pending list with the first."""
    out, err = two_streams.out, two_streams.err
    err.write("main\n")
    two_streams.parent = "subshell"
    err.write("subshell\n")
    two_streams.parent = "main"
    two_streams.on_publish = interrupt_once(two_streams)
    with pytest.raises(KeyboardInterrupt):
        out.write("next\n")  # takes its turn: publishes stderr's two runs
    two_streams.flusher.flush_all()
    assert two_streams.published == [
        ("stderr", "main\n"),
        ("stderr", "subshell\n"),
        ("stdout", "next\n"),
    ]
    assert two_streams.parents == ["main", "subshell", "main"]


def test_a_pipe_at_eof_stops_sending_writes_down_the_slow_path(
    two_streams: TwoCapturedStreams,
) -> None:
    """Once a captured fd's writers are all gone, its pipe reads as ready for ever: the
    checks stop asking it, or every write to both streams would take the lock."""
    source = two_streams.sources[1]
    source.restore()  # the spare fd points back where it did: the pipe has no writer left
    assert source.has_output() and source.readable()
    two_streams.err.write("taken\n")  # takes the EOF
    assert source.at_eof
    assert not source.has_output() and not source.readable()
    two_streams.flusher.flush_all()
    assert two_streams.published == [("stderr", "taken\n")]


def test_a_writer_publishes_itself_once_its_stream_holds_too_much() -> None:
    """With no flusher running (IOPub full, say), the pending writes stay bounded: the
    writer publishes them, and so would wait for room in IOPub."""
    from kernelwire.kernel.outstream import MAX_PENDING_WRITES

    stream, published = _collecting_stream()
    writer = threading.current_thread()
    publishers: set[threading.Thread] = set()
    inner = stream._publish
    stream._publish = lambda *a: (publishers.add(threading.current_thread()), inner(*a))  # type: ignore[method-assign]
    for _ in range(3 * MAX_PENDING_WRITES):
        stream.write("x")
        assert stream.pending_writes <= MAX_PENDING_WRITES
    assert publishers == {writer}
    assert sum(len(text) for text, _ in published) + stream.pending_writes == 3 * MAX_PENDING_WRITES
