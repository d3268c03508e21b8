"""A blocking client: one thread, its own sockets, every wait bounded.

It only does I/O: its operations (``ClientOperations``) are the core's plans, each effect
performed by blocking.
"""

from __future__ import annotations

import time
from typing import Any

import zmq

from ..transport import recv_frames, send_frames
from .api import ClientOperations
from .channels import KernelChannels
from .core import Plan, run_plan
from .results import Comm, ExecutionResult
from .router import PUMP_BATCH, InputHandler


class BlockingClient(
    KernelChannels,
    ClientOperations[
        ExecutionResult,
        dict[str, Any],
        dict[str, Any] | None,
        list[dict[str, Any]],
        Comm,
        str,
        str,
        list[str],
    ],
):
    """Talks to one kernel over shell, iopub, stdin, control and heartbeat.

    ``connection`` is connection info or a connection file path; ``context`` a
    ``zmq.Context`` (default: the shared instance). Give ``kernel`` (a
    ``KernelProcess``) when you started the kernel: its exit is then noticed at once;
    otherwise the heartbeat tells (no answer for ``heartbeat_timeout`` seconds counts as
    dead). ``session`` defaults to one made from the connection info; ``input_handler``
    answers ``input()`` in the kernel. Call ``wait_for_ready`` before the first request.
    Use it from one thread (zmq sockets are not thread-safe).
    """

    def _default_context(self) -> zmq.Context[Any]:
        return zmq.Context.instance()

    def _prepare_io(self) -> None:
        # The heartbeat is polled only while a ping waits for its answer (nothing else can
        # arrive on a REQ socket): libzmq asks every socket polled for its events, two
        # system calls each, before and after each wait.
        self._poller = zmq.Poller()
        for socket in self._channels:
            self._poller.register(socket, zmq.POLLIN)
        self._poller_with_hb = zmq.Poller()
        for socket in (*self._channels, self.hb):
            self._poller_with_hb.register(socket, zmq.POLLIN)

    def close(self) -> None:
        """Close the sockets (the kernel keeps running)."""
        if not self.closed:
            self.closed = True
            self._close_sockets()

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def is_alive(self, timeout: float = 1.0) -> bool:
        """Whether the kernel answers a heartbeat within ``timeout`` seconds (and, for a
        kernel we started, whether its process runs)."""
        if self.kernel is not None and not self.kernel.is_running():
            return False
        if self.core.heartbeat.ping_sent is None:
            self._ping()
        if self.hb.poll(int(timeout * 1000)):
            self.hb.recv()
            self.core.heartbeat.answered(time.monotonic())
            return True
        self._heartbeat_lost()
        return False

    def _ping(self) -> None:
        """Send a heartbeat ping without blocking: on a socket with no connection (libzmq
        never retries a refused handshake, e.g. Curve keys the kernel does not share) it
        counts as a ping left unanswered, instead of hanging the client."""
        try:
            self.hb.send(b"ping", zmq.NOBLOCK)
        except zmq.Again:
            pass
        self.core.heartbeat.pinged(time.monotonic())

    # ------------------------------------------------------------------ effects of plans

    def _run(self, plan: Plan[Any]) -> Any:
        return run_plan(plan, self)

    def _send_frames(self, channel: str, frames: list[Any]) -> None:
        """Small frames (a request without big buffers) are copied: cheaper than a zero-copy
        zmq Frame for each."""
        threshold = self.session.copy_threshold
        copy = all(frame.__class__ is bytes and len(frame) < threshold for frame in frames)
        send_frames(self._sockets[channel], frames, copy=copy)

    def _receive(self, seconds: float, ping: bool) -> None:
        """Wait up to ``seconds`` for messages and file all that arrived, a batch a socket
        at a time (draining a flooded socket dry could take forever)."""
        if ping:
            self._ping()
        poller = self._poller if self.core.heartbeat.ping_sent is None else self._poller_with_hb
        ready = dict(poller.poll(max(0, int(seconds * 1000))))
        if self.hb in ready:
            self.hb.recv()
            self.core.heartbeat.answered(time.monotonic())
        for socket, channel in self._channels.items():
            for _ in range(PUMP_BATCH if socket in ready else 0):
                # the signed frames as bytes (the codec's fast path), buffers zero-copy
                frames = recv_frames(socket, zmq.NOBLOCK, copy=False)
                if frames is None:
                    break
                answer = self.core.receive(channel, frames)
                if answer is not None:
                    self._run(answer)

    def _heartbeat_lost(self) -> None:
        """A REQ socket that lost its reply can send no more: replace it."""
        self._poller_with_hb.unregister(self.hb)
        self.hb.close(linger=0)
        self.hb = self._connect("hb", zmq.REQ)
        self._poller_with_hb.register(self.hb, zmq.POLLIN)
        self.core.heartbeat.reset(time.monotonic())

    def _stdin_connected(self, timeout: float) -> bool:
        monitor = self._stdin_monitor
        return monitor is None or self._handshake_seen(monitor.poll(int(timeout * 1000)))

    def _kernel_exit(self, timeout: float) -> None:
        if self.kernel is not None:
            self.kernel.wait(timeout)

    def _call_input_handler(self, handler: InputHandler, prompt: str, password: bool) -> Any:
        return handler(prompt, password)


__all__ = ["BlockingClient"]
