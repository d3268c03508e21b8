"""The IOPub channel: an XPUB socket owned by one thread, fed by every other thread.

ZeroMQ sockets are not thread-safe, and IOPub is written from the main thread (cell
output), the control thread (status) and the stream flusher. They all serialize and sign
in the calling thread. The kernel's own framing messages (``status`` and ``execute_input``,
published with ``direct=True``) are sent by the calling thread itself, without waiting
(``NOBLOCK``), while nothing is queued and the IOPub thread is not using the XPUB: a hop to
the IOPub thread, and that thread's contention for the GIL with the main thread, cost about
a quarter of a trivial execute's round trip (busy, execute_input and idle each went through
it). Every use of the XPUB, by any thread, holds one lock (the full memory barrier libzmq
asks for when a socket changes threads). Every other message goes into one queue (one
lock), and so does a framing message when something is queued, the IOPub thread is busy,
a subscription waits for its welcome, or the send would wait for a slow subscriber; later
messages then queue behind it until the IOPub thread has emptied the queue, so order holds.
Output is always queued: sending a flood directly would cost the publishing thread two
``ZMQ_EVENTS`` checks per message (below) for no gain, since the IOPub thread sends it in
batches while the publisher goes on. The queue is a Python deque,
not an inproc socket: a message of seven frames would cost seven sends and seven receives
between threads. Only a wake-up goes over an inproc PUSH/PULL pair, and only when the IOPub
thread has emptied the queue: during a burst, messages cross with no socket at all.

Since other threads use the XPUB, the IOPub thread does not poll the socket itself but
waits on its ``ZMQ_FD`` (and the wake-up PULL and the monitor), and reads ``ZMQ_EVENTS``
after each wake-up until no subscription waits. That descriptor signals an edge, which any
thread's use of the socket can take: a direct send reads ``ZMQ_EVENTS`` before it (a
subscription already waiting has the message queued, so its welcome comes first) and after
it (one that came meanwhile wakes the IOPub thread). While it works, publishers queue; it
answers waiting subscriptions before each batch of the queue, and every
``SUBSCRIPTIONS_EVERY`` messages within one, so a flood does not hold a welcome back.

:meth:`IOPubChannel.flush` waits until everything published before it has been sent
(directly or by the IOPub thread) and ZeroMQ's I/O thread has written it (see
:mod:`.iobarrier`), so after an explicit ``sys.stdout.flush()`` the output survives the
process ending at once.

Waiting like that on every flush would cost a loop of ``print(..., flush=True)`` three
thread wake-ups per line, so streams do not: they queue their text and go on. While an
IOPub channel runs, ``os._exit`` (the one way Python code ends the process without
closing the sockets, which would send what is queued) first waits, bounded, for
:meth:`IOPubChannel.flush` (see :mod:`.exitguard`); so what was published before it still
gets out.

Output is never dropped for a subscriber that keeps reading, however fast the kernel
publishes: the XPUB runs with ``ZMQ_XPUB_NODROP``, so a message for a subscriber that has
``iopub_sndhwm`` messages unread is not dropped (as PUB sockets do) but waits; the IOPub
thread waits for room (a send with ``ZMQ_SNDTIMEO``: libzmq wakes it when the subscriber
has read, and an XPUB always polls writable, so polling cannot tell), and publishing
threads wait while ``iopub_queue_bytes`` are queued. A flood of output thus runs at the
speed of the slowest subscriber, as a program writing to a terminal does, and the memory
it takes is bounded. A subscriber that stops reading (hung, or hostile: subscribing needs
no key) must not stall the kernel for good: a message that could not be sent within
``iopub_stall_ms`` is sent with drop semantics (``ZMQ_XPUB_NODROP`` off: libzmq then
drops it only for subscribers with no room, and skips such a subscriber until it reads
again), and IOPub stays in that mode for ``iopub_drop_ms`` before it waits for slow
subscribers again, with one warning logged per episode. So a subscriber that never reads
costs the kernel's output one stall of ``iopub_stall_ms``, and one that reads in spurts at
most one per ``iopub_drop_ms``; meanwhile subscribers that read keep receiving (in drop
mode losing only what comes while their own queue is full), and the kernel keeps answering.
Markers for flush and stop never wait for room, and the IOPub thread never waits on its
own queue (it sends the welcomes directly). A publisher waits inside the interrupt guard:
a Ctrl-C meanwhile is raised once its message is queued, so nothing is lost or sent twice
(the wait lasts as long as the slowest subscriber takes to read; with one that stalls,
about ``iopub_stall_ms``).

The XPUB runs in manual subscription mode (which also reports every subscription, as
XPUB_VERBOSE does): when a subscription arrives, the thread applies it and at once sends
``iopub_welcome`` (protocol 5.5), so a new subscriber's first message is always the
welcome, never output that raced ahead of its subscription.

Subscriptions cost the kernel memory whoever sends them (no key is needed to subscribe):
libzmq stores every subscription a connection sends, applied or not (manual mode keeps
them to unsubscribe that connection when it leaves), about 50 bytes per topic byte, and
frees them only when the connection closes. So the limits are enforced per connection:
``ZMQ_MAXMSGSIZE`` disconnects a peer sending a topic longer than ``max_topic_bytes``
(or than the handshake needs, if more) before it is stored, a longer topic still is
refused, and a connection's subscribe request beyond ``max_subscriptions_per_peer`` is
refused (no welcome) and the connection closed. XPUB does not say which connection sent a
subscription, but the message metadata carries the connection's file descriptor; a socket
monitor tells when a descriptor starts and stops being an IOPub connection, so counts
never carry over to the next user of that number.

libzmq reads a connection's subscriptions greedily (its receive high-water mark does not
hold them back), so a burst already sent is stored before the kernel can refuse any: the
memory of a flood is held briefly, then freed when the connection closes and handed back
to the system (``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from urllib.parse import urlsplit

import zmq
from zmq.utils.monitor import recv_monitor_message

from ..session import Session, _print_sent
from ..transport import check_frames, send_frames
from .exitguard import exit_guard
from .iobarrier import IOThreadBarrier
from .limits import MIN_MAX_MESSAGE_BYTES, KernelLimits

log = logging.getLogger("kernelwire.kernel")

#: Queued in place of a message: the IOPub thread stops there.
_STOP = b"kernelwire-iopub-stop"
#: The one frame sent over inproc: "the queue has something".
_WAKE = b""
#: Messages the IOPub thread sends from its queue between two looks for new subscriptions.
SUBSCRIPTIONS_EVERY = 64
#: Seconds ``os._exit`` waits for queued output to be written (while IOPub runs).
EXIT_FLUSH_TIMEOUT = 5.0
#: Queued in place of a message, followed by a sequence number: what came before it is
#: written once the I/O thread has caught up (see flush).
_FORWARDED = b"kernelwire-iopub-forwarded:"
#: A ZMTP 3.1 SUBSCRIBE command frame is the topic after this prefix (longer than the
#: one-byte prefix of the older subscription message).
_SUBSCRIBE_COMMAND = b"\x09SUBSCRIBE"
#: Plain ints: pyzmq's enum members make each ``&`` or ``|`` a call into enum's Python code.
_EVENTS, _POLLIN, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)


class IOPubChannel:
    """Publishes messages on IOPub from any thread; answers subscriptions with a welcome."""

    def __init__(
        self,
        context: zmq.Context[Any],
        session: Session,
        url: str,
        limits: KernelLimits | None = None,
        secure: Callable[[zmq.Socket[Any]], object] = lambda socket: None,
    ) -> None:
        """``secure`` sets the XPUB's security options (CurveZMQ) before it binds."""
        self.session = session
        self.limits = limits if limits is not None else KernelLimits()
        self._topic_prefix = f"kernel.{session.session}.".encode()
        self._xpub = context.socket(zmq.XPUB)
        secure(self._xpub)
        self._xpub.linger = 1000
        self._xpub.sndhwm = self.limits.iopub_sndhwm
        self._xpub.setsockopt(zmq.XPUB_NODROP, 1)  # wait for room rather than drop (see above)
        self._xpub.sndtimeo = self.limits.iopub_stall_ms  # ...but not longer than this
        #: ``time.monotonic()`` when drop mode ends; 0.0 when not in it (IOPub thread only).
        self._dropping_until = 0.0
        self._xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
        self._xpub.setsockopt(zmq.XPUB_MANUAL, 1)
        self._xpub.maxmsgsize = max(
            self.limits.max_topic_bytes + len(_SUBSCRIBE_COMMAND), MIN_MAX_MESSAGE_BYTES
        )
        monitor_url = f"inproc://kernelwire-iopub-monitor-{id(self)}"
        self._xpub.monitor(monitor_url, zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self._monitor = context.socket(zmq.PAIR)
        self._monitor.linger = 0
        self._monitor.rcvhwm = 0  # a lost connect/disconnect event would skew the counts
        self._monitor.connect(monitor_url)
        #: Subscribe requests so far per connection (by file descriptor); ``None`` once
        #: refused, while the connection closes.
        self._peers: dict[int, int | None] = {}
        self._xpub.bind(url)
        self._url = str(self._xpub.getsockopt_string(zmq.LAST_ENDPOINT))
        #: Held by every use of the XPUB, whichever thread (the full memory barrier libzmq
        #: asks for when a socket changes threads); taken after _push_lock, never before.
        self._xpub_lock = threading.Lock()
        #: The XPUB's ZMQ_FD: readable (edge-triggered) when it may have work; the IOPub
        #: thread waits on it instead of polling the socket another thread may be using.
        self._xpub_fd = self._xpub.getsockopt(zmq.FD)
        inproc = f"inproc://kernelwire-iopub-{id(self)}"
        self._pull = context.socket(zmq.PULL)
        self._pull.linger = 0
        self._pull.bind(inproc)
        self._push = context.socket(zmq.PUSH)
        self._push.linger = 1000
        self._push.sndhwm = 0  # never drop output between threads
        self._push.connect(inproc)
        self._push_lock = threading.Lock()
        #: Frames and copy flag of each message to send, or a bytes marker (under _push_lock).
        self._queue: deque[tuple[list[Any], bool] | bytes] = deque()
        #: Bytes in the queue's messages (under _push_lock; reset when the IOPub thread
        #: takes the queue).
        self._queued_bytes = 0
        self._queue_limit = self.limits.iopub_queue_bytes
        #: Notified when the IOPub thread has taken what was queued, or stops.
        self._room = threading.Condition(self._push_lock)
        #: A wake-up is on its way or the IOPub thread is draining the queue or answering
        #: subscriptions (under _push_lock); while it is set, publishers queue.
        self._wake_pending = False
        #: Wraps every send, so that no interrupt cuts a message in half (the kernel sets
        #: ``InterruptGate.deferred``; user code in the main thread publishes too).
        self.guard: Callable[[], AbstractContextManager[Any]] = nullcontext
        self._pushed = 0  # messages queued so far (under _push_lock)
        self._forwarded = 0  # of those, how many are known to be written (see flush)
        self._forwarded_changed = threading.Condition()
        self._ended = False  # the IOPub thread has stopped forwarding
        self._barrier = IOThreadBarrier(context)
        self._thread = threading.Thread(target=self._run, name="kernelwire-iopub", daemon=True)

    @property
    def url(self) -> str:
        return self._url

    def start(self) -> None:
        self._thread.start()
        exit_guard.add(self._flush_before_exit)

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None = None,
        topic: str | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        direct: bool = False,
    ) -> None:
        """Sign and queue one message; ``topic`` defaults to ``kernel.<session>.<msg_type>``.
        ``direct``: send it from this thread if nothing is queued (see the module
        docstring), as the kernel does with its status and ``execute_input`` messages."""
        if log.isEnabledFor(logging.DEBUG):  # --debug traces every message sent
            log.debug("iopub -> %s", msg_type)
        ident = topic.encode() if topic is not None else self._topic_prefix + msg_type.encode()
        prepared = self._signed(msg_type, content, parent, ident, buffers, metadata)
        if prepared is None:  # a forked child: the session has warned
            return
        frames, copy = prepared
        if copy and buffers:  # copied now, as a send would, not when the IOPub thread runs
            frames[-len(buffers) :] = [zmq.Frame(buffer, copy=True) for buffer in buffers]
        size = _bytes_in(frames, len(buffers) if buffers else 0)
        # Waiting for room in the guard too: a Ctrl-C meanwhile is raised once the message
        # is queued, so a print interrupted in a flood neither loses nor repeats its text.
        with self.guard():
            if self._queued_bytes >= self._queue_limit:
                self._wait_for_room()
            with self._push_lock:
                if self._push.closed:
                    log.warning("IOPub closed: dropped %s", msg_type)
                    return
                self._pushed += 1
                if not (direct and self._send_directly(frames, copy)):
                    self._enqueue((frames, copy))
                    self._queued_bytes += size

    def _signed(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None,
        ident: bytes | None,
        buffers: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[list[Any], bool] | None:
        """The message's frames and copy flag, as ``Session.send`` would send them (printed
        in debug mode); None in a forked child. A bad buffer raises here, in the publishing
        thread, as a send would."""
        session = self.session
        msg, frames, copy = session._prepare(
            msg_type, content, parent, ident, buffers, None, metadata
        )
        if frames is None:
            return None
        check_frames(frames)
        if session._debug:
            _print_sent(msg, frames)
        return frames, copy

    def _send_directly(self, frames: list[Any], copy: bool) -> bool:
        """Send a message on the XPUB from the calling thread (under _push_lock), sparing
        it the hop to the IOPub thread; False if it must be queued: something is queued
        before it, the IOPub thread is busy with the XPUB, IOPub is in drop mode, a
        subscription waits for its welcome, or the send would wait for a slow subscriber
        (the IOPub thread waits, not the caller)."""
        if self._wake_pending or self._dropping_until or self._ended:
            return False
        # Not waiting for _wake_pending means the IOPub thread is not using the XPUB and
        # cannot start to (it sets the flag under _push_lock first): at most its closing
        # holds the lock. A blocking ``with`` leaves no gap for an exception to skip the
        # release in.
        with self._xpub_lock:
            try:
                # A subscriber that sent its subscription before this message must get
                # its welcome first, then this message: the IOPub thread sends both.
                if self._xpub.closed or self._subscription_readable():
                    return False
                send_frames(self._xpub, frames, copy=copy, flags=_NOBLOCK)
            except (zmq.Again, zmq.ContextTerminated):  # nothing was sent: queue it
                return False
            try:
                # The send may have taken the ZMQ_FD edge of a subscription that came
                # meanwhile: the IOPub thread would sleep through it.
                subscription_waiting = self._subscription_readable()
            except zmq.ContextTerminated:  # sent; the IOPub thread is ending anyway
                return True
        if subscription_waiting:
            self._wake()
        return True

    def _wait_for_room(self) -> None:
        """Wait until the IOPub thread has taken the queue (or IOPub is not running, or
        this is the IOPub thread itself: nothing would make room then)."""
        if threading.current_thread() is self._thread:
            return
        with self._room:
            while (
                self._queued_bytes >= self._queue_limit
                and self._thread.is_alive()
                and not self._ended
                and not self._push.closed
            ):
                self._room.wait()

    def _enqueue(self, item: tuple[list[Any], bool] | bytes) -> None:
        """Queue a message or marker (under _push_lock); wake the IOPub thread unless it
        was woken already and has not yet found the queue empty."""
        self._queue.append(item)
        if not self._wake_pending:
            self._wake()

    def _wake(self) -> None:
        """Wake the IOPub thread (under _push_lock); it clears the flag once it finds
        nothing left to do."""
        self._push.send(_WAKE)
        self._wake_pending = True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every message published before this call has been written to the
        subscribers' connections; False if that did not happen within ``timeout`` or IOPub
        is not running."""
        with self.guard(), self._push_lock:
            if self._push.closed or not self._thread.is_alive():
                return False
            target = self._pushed
            with self._forwarded_changed:
                if self._forwarded >= target:
                    return True
            self._enqueue(_FORWARDED + str(target).encode())
        with self._forwarded_changed:
            done = self._forwarded_changed.wait_for(
                lambda: self._forwarded >= target or self._ended, timeout
            )
        if not done:
            log.warning("IOPub did not send the queued output within %.0f s", timeout)
        return done and self._forwarded >= target

    def _flush_before_exit(self) -> None:
        self.flush(EXIT_FLUSH_TIMEOUT)

    def stop(self, timeout: float = 5.0) -> None:
        """Forward everything queued, then close the sockets and end the thread."""
        exit_guard.discard(self._flush_before_exit)
        with self._push_lock:
            self._queue.append(_STOP)
            self._wake()
            self._push.close()
            self._room.notify_all()  # a publisher waiting for room now drops its message
        self._thread.join(timeout)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._xpub_fd, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        try:
            self._barrier.wait()  # its connection is up before the first flush needs it
            while self._serve():
                ready = dict(poller.poll())
                if self._monitor in ready:
                    self._track_connections()
        except zmq.ContextTerminated:
            pass
        finally:
            self._pull.close()
            with self._xpub_lock:
                self._xpub.close()
            self._barrier.close()
            self._ended = True
            with self._forwarded_changed:
                self._forwarded_changed.notify_all()  # flush() waits no longer
            with self._room:
                self._room.notify_all()  # nor do publishers waiting for room
            self._monitor.close()

    def _serve(self) -> bool:
        """Send what is queued and answer subscriptions until neither waits; False once
        the stop marker came. Meanwhile publishers queue (``_wake_pending``), so they
        neither jump the queue nor wait for the XPUB."""
        while True:  # the wake-ups: the queue and the XPUB's events say what to do
            try:
                self._pull.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
        queue = self._queue
        while True:
            batch: list[tuple[list[Any], bool] | bytes] | None = None
            with self._push_lock:
                self._wake_pending = True
                if self._subscriptions_waiting():  # first: a flood must not hold them up
                    pass
                elif queue:
                    batch = list(queue)
                    queue.clear()
                    self._queued_bytes = 0
                    self._room.notify_all()
                else:
                    # Publishers may send directly again, and wake this thread (the next
                    # message queued, or a subscription a direct send noticed).
                    self._wake_pending = False
                    return True
            if batch is None:
                self._handle_subscriptions()
                continue
            for sent, item in enumerate(batch):
                if sent and sent % SUBSCRIPTIONS_EVERY == 0:  # a flood to a slow subscriber
                    self._handle_subscriptions()  # may last: a new one is welcomed meanwhile
                if isinstance(item, tuple):
                    with self._xpub_lock:
                        self._send(item[0], item[1])
                elif item == _STOP:
                    return False
                else:  # a flush marker
                    self._barrier.wait()
                    self._mark_forwarded(int(item[len(_FORWARDED) :]))

    def _subscriptions_waiting(self) -> bool:
        """Whether the XPUB has (un)subscriptions to read (reading ``ZMQ_EVENTS`` also
        re-arms the ``ZMQ_FD`` edge the IOPub thread waits for)."""
        with self._xpub_lock:
            return self._subscription_readable()

    def _subscription_readable(self) -> bool:
        """``ZMQ_EVENTS`` says an (un)subscription waits to be read (under _xpub_lock)."""
        return bool(self._xpub.get(_EVENTS) & _POLLIN)

    def _send(self, frames: list[Any], copy: bool) -> None:
        """Send one message on the XPUB (under _xpub_lock), waiting up to
        ``iopub_stall_ms`` for subscribers with no room, unless in drop mode (see the
        module docstring)."""
        if self._dropping_until and time.monotonic() >= self._dropping_until:
            self._xpub.setsockopt(zmq.XPUB_NODROP, 1)
            self._dropping_until = 0.0
            log.info("IOPub: waiting for slow subscribers again (drop mode ended)")
        try:
            send_frames(self._xpub, frames, copy=copy)
            return
        except zmq.Again:  # nothing was sent (libzmq takes a message whole or not at all)
            pass
        limits = self.limits
        self._xpub.setsockopt(zmq.XPUB_NODROP, 0)
        self._dropping_until = time.monotonic() + limits.iopub_drop_ms / 1000
        log.warning(
            "IOPub: a subscriber has had %d messages unread for %.1f s (iopub_sndhwm, "
            "iopub_stall_ms): for the next %.1f s (iopub_drop_ms), messages are dropped for "
            "subscribers that have no room for them",
            limits.iopub_sndhwm,
            limits.iopub_stall_ms / 1000,
            limits.iopub_drop_ms / 1000,
        )
        send_frames(self._xpub, frames, copy=copy)

    def _mark_forwarded(self, count: int) -> None:
        with self._forwarded_changed:
            self._forwarded = max(self._forwarded, count)
            self._forwarded_changed.notify_all()

    def _handle_subscriptions(self) -> None:
        with self._xpub_lock:  # from applying a subscription until its welcome is sent
            self._read_subscriptions()

    def _read_subscriptions(self) -> None:
        freed = 0  # subscriptions libzmq dropped with their closed connections
        while True:
            try:
                event = self._xpub.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            data = event.bytes
            if not data:
                continue
            kind, topic = data[0], data[1:]
            if kind == 0:  # only reaches the sender's subscriptions (none once it is gone)
                self._xpub.setsockopt(zmq.UNSUBSCRIBE, topic)
                freed += _source_fd(event) is None
            elif kind == 1 and self._admit(_source_fd(event), topic):
                self._xpub.setsockopt(zmq.SUBSCRIBE, topic)
                self._welcome(topic)
        if freed > self.limits.max_subscriptions_per_peer:
            # More than any connection may keep: a refused one has gone, and libzmq has
            # freed all it had stored for it (it reports them once it has). Give that
            # memory back to the system.
            _return_freed_memory()

    def _admit(self, fd: int | None, topic: bytes) -> bool:
        """Count a subscribe request against its connection; close the connection when it
        asks for too much."""
        self._track_connections()  # a connection accepted just now must count from zero
        count = self._peers.get(fd) if fd is not None else None
        if fd is None or count is None:
            return False  # its connection is closed or being closed: nothing to apply to
        count += 1
        self._peers[fd] = count
        limits = self.limits
        if len(topic) <= limits.max_topic_bytes and count <= limits.max_subscriptions_per_peer:
            return True
        self._peers[fd] = None
        log.warning(
            "IOPub: refused subscription %d (%d bytes) of a connection (limits: %d "
            "subscriptions of %d bytes at most): closing that connection",
            count,
            len(topic),
            limits.max_subscriptions_per_peer,
            limits.max_topic_bytes,
        )
        self._close_connection(fd)
        return False

    def _track_connections(self) -> None:
        """Start and end the per-connection counts as the monitor reports connections."""
        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            fd = int(event["value"])
            if event["event"] == zmq.EVENT_ACCEPTED:
                self._peers[fd] = 0
            else:
                self._peers.pop(fd, None)

    def _close_connection(self, fd: int) -> None:
        """Shut the connection on ``fd`` down, which makes libzmq drop it with everything it
        stored for it; only if ``fd`` is still a connection to this IOPub endpoint."""
        endpoint = urlsplit(self.url)
        try:
            with socket.socket(fileno=os.dup(fd)) as conn:
                local = conn.getsockname()
                if conn.family == socket.AF_UNIX:  # an abstract name reads back as bytes
                    path = endpoint.netloc + endpoint.path
                    ours = local in (path, b"\0" + path[1:].encode())
                else:
                    ours = conn.type == socket.SOCK_STREAM and local[1] == endpoint.port
                if ours:
                    conn.shutdown(socket.SHUT_RDWR)
        except OSError as exc:  # closed meanwhile: libzmq has dropped it already
            log.debug("IOPub: could not close connection %d: %s", fd, exc)

    def _welcome(self, topic: bytes) -> None:
        """Send ``iopub_welcome`` (empty parent) under the subscribed topic itself, ahead
        of what is queued."""
        content = {"subscription": topic.decode("utf-8", "replace")}
        prepared = self._signed("iopub_welcome", content, None, topic or None)
        if prepared is not None:
            self._send(*prepared)


def _bytes_in(frames: list[Any], buffer_count: int) -> int:
    """The size of a message's frames: the session's are bytes, the buffers any buffer."""
    if not buffer_count:
        return sum(map(len, frames))
    signed = frames[:-buffer_count]
    return sum(map(len, signed)) + sum(memoryview(b).nbytes for b in frames[-buffer_count:])


def _source_fd(frame: zmq.Frame) -> int | None:
    """The file descriptor of the connection a subscription came from; ``None`` for the
    unsubscriptions libzmq makes itself when a connection closes (they carry no metadata)."""
    try:
        return int(frame.get(zmq.SRCFD))
    except zmq.ZMQError:
        return None


def _malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``: returns freed heap pages to the system (else a flood's
    memory, freed, would still count in the kernel's resident size); elsewhere a no-op."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int

    def trim_all() -> None:
        trim(0)

    return trim_all


_return_freed_memory = _malloc_trim()
