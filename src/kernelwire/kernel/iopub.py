"""The IOPub channel: an XPUB socket owned by one thread, fed by every other thread.

ZeroMQ sockets are not thread-safe, and IOPub is written from the main thread (cell
output), the control thread (status) and the stream flusher. They all hand serialized
frames to a PUSH socket (one lock), and the IOPub thread forwards them to the XPUB.
:meth:`IOPubChannel.flush` waits until the IOPub thread has passed on everything queued
before it and ZeroMQ's I/O thread has written it (see :mod:`.iobarrier`), so after an
explicit ``sys.stdout.flush()`` the output survives the process ending at once.

The XPUB runs in manual subscription mode (which also reports every subscription, as
XPUB_VERBOSE does): when a subscription arrives, the thread applies it and at once sends
``iopub_welcome`` (protocol 5.5), so a new subscriber's first message is always the
welcome, never output that raced ahead of its subscription.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import zmq

from ..session import Session
from .iobarrier import IOThreadBarrier

log = logging.getLogger("kernelwire.kernel")

_STOP = b"kernelwire-iopub-stop"
#: A one-frame marker (real messages have several frames), followed by a sequence number.
_FORWARDED = b"kernelwire-iopub-forwarded:"


class IOPubChannel:
    """Publishes messages on IOPub from any thread; answers subscriptions with a welcome."""

    def __init__(self, context: zmq.Context[Any], session: Session, url: str) -> None:
        self.session = session
        self._topic_prefix = f"kernel.{session.session}.".encode()
        self._xpub = context.socket(zmq.XPUB)
        self._xpub.linger = 1000
        self._xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
        self._xpub.setsockopt(zmq.XPUB_MANUAL, 1)
        self._xpub.bind(url)
        inproc = f"inproc://kernelwire-iopub-{id(self)}"
        self._pull = context.socket(zmq.PULL)
        self._pull.linger = 0
        self._pull.bind(inproc)
        self._push = context.socket(zmq.PUSH)
        self._push.linger = 1000
        self._push.sndhwm = 0  # never drop output between threads
        self._push.connect(inproc)
        self._push_lock = threading.Lock()
        self._pushed = 0  # messages queued so far (under _push_lock)
        self._forwarded = 0  # of those, how many are known to be written (see flush)
        self._forwarded_changed = threading.Condition()
        self._ended = False  # the IOPub thread has stopped forwarding
        self._barrier = IOThreadBarrier(context)
        self._thread = threading.Thread(target=self._run, name="kernelwire-iopub", daemon=True)

    @property
    def url(self) -> str:
        return str(self._xpub.getsockopt_string(zmq.LAST_ENDPOINT))

    def start(self) -> None:
        self._thread.start()

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None = None,
        topic: str | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
    ) -> None:
        """Sign and queue one message; ``topic`` defaults to ``kernel.<session>.<msg_type>``."""
        ident = topic.encode() if topic is not None else self._topic_prefix + msg_type.encode()
        with self._push_lock:
            if self._push.closed:
                log.warning("IOPub closed: dropped %s", msg_type)
                return
            self.session.send(
                self._push,
                msg_type,
                content,
                parent=parent,
                ident=ident,
                metadata=metadata,
                buffers=buffers,
            )
            self._pushed += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every message published before this call has been written to the
        subscribers' connections; False if that did not happen within ``timeout`` or IOPub
        is not running."""
        with self._push_lock:
            if self._push.closed or not self._thread.is_alive():
                return False
            target = self._pushed
            with self._forwarded_changed:
                if self._forwarded >= target:
                    return True
            self._push.send(_FORWARDED + str(target).encode())
        with self._forwarded_changed:
            done = self._forwarded_changed.wait_for(
                lambda: self._forwarded >= target or self._ended, timeout
            )
        if not done:
            log.warning("IOPub did not send the queued output within %.0f s", timeout)
        return done and self._forwarded >= target

    def stop(self, timeout: float = 5.0) -> None:
        """Forward everything queued, then close the sockets and end the thread."""
        with self._push_lock:
            self._push.send(_STOP)
            self._push.close()
        self._thread.join(timeout)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._xpub, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        try:
            self._barrier.wait()  # its connection is up before the first flush needs it
            while True:
                ready = dict(poller.poll())
                if self._xpub in ready:
                    self._handle_subscriptions()
                if self._pull in ready and not self._forward_queued():
                    return
        except zmq.ContextTerminated:
            pass
        finally:
            self._pull.close()
            self._xpub.close()
            self._barrier.close()
            with self._forwarded_changed:
                self._ended = True
                self._forwarded_changed.notify_all()  # flush() waits no longer

    def _forward_queued(self) -> bool:
        """Send what waits on the PULL socket; False once the stop frame came."""
        while True:
            try:
                frames = self._pull.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return True
            if len(frames) == 1:
                marker = frames[0].bytes
                if marker == _STOP:
                    return False
                if marker.startswith(_FORWARDED):
                    self._barrier.wait()
                    self._mark_forwarded(int(marker[len(_FORWARDED) :]))
                    continue
            self._xpub.send_multipart(frames, copy=False)

    def _mark_forwarded(self, count: int) -> None:
        with self._forwarded_changed:
            self._forwarded = max(self._forwarded, count)
            self._forwarded_changed.notify_all()

    def _handle_subscriptions(self) -> None:
        while True:
            try:
                event = self._xpub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not event:
                continue
            kind, topic = event[0], event[1:]
            if kind == 1:
                self._xpub.setsockopt(zmq.SUBSCRIBE, topic)
                self._welcome(topic)
            elif kind == 0:
                self._xpub.setsockopt(zmq.UNSUBSCRIBE, topic)

    def _welcome(self, topic: bytes) -> None:
        """Send ``iopub_welcome`` (empty parent) under the subscribed topic itself."""
        self.session.send(
            self._xpub,
            "iopub_welcome",
            {"subscription": topic.decode("utf-8", "replace")},
            ident=topic or None,
        )
