"""Waiting until ZeroMQ's I/O thread has written what was sent.

``socket.send`` returns once a message is queued for a connection; ZeroMQ's I/O thread
writes it to the operating system's socket a moment later. If the process ends at once
(``os._exit`` after ``print(..., flush=True)``), what the I/O thread had not written yet is
lost, and on a busy machine that moment can be long.

A send that wakes an idle connection puts a command in the I/O thread's mailbox; the I/O
thread runs the commands in the order they came and, for each, writes the connection's
queued bytes at once (libzmq's "speculative write"). So a ping sent on a private ipc
connection after some messages comes back only once the I/O thread has written those
messages' bytes (unless a connection's OS buffer was full: its peer is then not reading,
and no waiting would help). That holds when the context has one I/O thread (the default);
with more, :meth:`IOThreadBarrier.wait` does not wait.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

import zmq

log = logging.getLogger("kernelwire.kernel")


class IOThreadBarrier:
    """A ping over a private connection, to wait for the I/O thread (one thread's use)."""

    def __init__(self, context: zmq.Context[Any]) -> None:
        self.active = context.get(zmq.IO_THREADS) == 1
        self._dir: str | None = None
        self._pings = 0
        self._receiver = context.socket(zmq.PULL)
        self._sender = context.socket(zmq.PUSH)
        for socket in (self._receiver, self._sender):
            socket.linger = 0
        if zmq.has("ipc"):
            self._dir = tempfile.mkdtemp(prefix="kernelwire-")  # only this user can connect
            self._receiver.bind(f"ipc://{os.path.join(self._dir, 'barrier')}")
        else:
            self._receiver.bind("tcp://127.0.0.1:*")
        self._sender.connect(self._receiver.last_endpoint)

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Return once the I/O thread has run every command issued before this call."""
        if not self.active:
            return False
        self._pings += 1
        ping = str(self._pings).encode()
        self._sender.send(ping)
        while self._receiver.poll(timeout_ms):
            if self._receiver.recv() == ping:  # anything else (a stranger over tcp) is skipped
                self._remove_address()
                return True
        log.warning("no answer through ZeroMQ's I/O thread in %d ms: not waiting again", timeout_ms)
        self.active = False  # its connection is gone (and cannot come back): flushes go on
        return False

    def close(self) -> None:
        self._sender.close()
        self._receiver.close()
        self._remove_address()

    def _remove_address(self) -> None:
        """Delete the ipc socket's file once connected: nothing else may connect, and a
        kernel that dies (``os._exit``, a kill) leaves nothing behind in the temp dir."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
