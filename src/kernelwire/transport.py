"""Moving frame lists over pyzmq: sockets, asyncio sockets (synchronously), ZMQStreams.

This is the only place the Session touches zmq for sending and receiving.
"""

from __future__ import annotations

import weakref
from typing import Any

import zmq
import zmq.asyncio

#: A tracker that is always done: returned when nothing is tracked.
DONE = zmq.MessageTracker()

_sync_shadows: weakref.WeakKeyDictionary[Any, zmq.Socket[Any]] = weakref.WeakKeyDictionary()


def sync_socket(socket: Any) -> Any:
    """A blocking view of ``socket``: an asyncio socket gets a (cached) sync shadow over
    the same libzmq socket, as jupyter_client does for drop-in code; others pass through."""
    if isinstance(socket, zmq.asyncio.Socket):
        shadow = _sync_shadows.get(socket)
        if shadow is None:
            shadow = _sync_shadows[socket] = zmq.Socket.shadow(socket.underlying)
        return shadow
    return socket


def send_frames(
    stream: Any, frames: list[Any], copy: bool = True, track: bool = False, flags: int = 0
) -> zmq.MessageTracker:
    """Send ``frames`` as one multipart message; a real tracker only when ``track`` and
    not ``copy`` on a zmq.Socket (ZMQStreams cannot track)."""
    socket = sync_socket(stream)
    if track and not copy and isinstance(socket, zmq.Socket):
        return socket.send_multipart(frames, flags, copy=False, track=True)  # type: ignore[no-any-return]
    socket.send_multipart(frames, flags, copy=copy)
    return DONE


def recv_frames(socket: Any, mode: int = zmq.NOBLOCK, copy: bool = True) -> list[Any] | None:
    """One multipart message, or None when ``mode`` is NOBLOCK and nothing waits."""
    if not isinstance(socket, zmq.Socket):
        socket = socket.socket  # a ZMQStream wraps its socket
    try:
        return sync_socket(socket).recv_multipart(mode, copy=copy)  # type: ignore[no-any-return]
    except zmq.Again:
        return None
