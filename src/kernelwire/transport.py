"""Moving frame lists over pyzmq: blocking sockets, asyncio sockets and ZMQStreams.

This is the only place the Session touches zmq for sending and receiving. Three kinds of
"stream" are accepted, as in jupyter_client:

- ``zmq.Socket``: sends and receives block (or raise ``zmq.Again`` with NOBLOCK);
- ``zmq.asyncio.Socket``: the blocking functions use a plain blocking socket over the
  same libzmq socket (pyzmq's ``Socket.shadow``), as jupyter_client does, so at the
  high-water mark they block the event loop; the ``a*`` coroutines use the asyncio socket
  itself and never block the loop;
- ``zmq.eventloop.zmqstream.ZMQStream``: sends are queued and flushed by its IOLoop
  (they never block); receiving reads its socket without waiting.

The rest of this note explains how it is done, for maintainers.

Speed: pyzmq's ``send_multipart``/``recv_multipart`` spend most of their time in Python
(a type check of every frame, keyword arguments, the sugar layer's routing_id/group
handling): about 6 us for the 7 frames of a small message, where the libzmq calls take
1 us. On a plain ``zmq.Socket`` (exactly that class, so that subclasses such as
zmq.green's keep their own send) the frames go straight to the backend's per-frame
``send``/``recv``; ``send_frames`` checks the frames beforehand.

On an asyncio socket, ``asend``/``arecv`` first try the libzmq socket directly without
waiting, as pyzmq's own futures do, but only while no other coroutine waits on that
socket (pyzmq's queues of pending sends and receives are empty), so FIFO order among
waiters is kept; after it, waiters on the other direction are woken the way pyzmq wakes
them (reading ``EVENTS``), because a direct operation can consume the edge-triggered
notification they wait for. Only when the socket is busy or full is a pyzmq future
awaited.

pyzmq's internals (the backend's per-frame methods, the asyncio socket's queues of waiters and
its EVENTS wake-up) are not public API. One check, made at import (``_pyzmq_internals_missing``),
compares them with what the fast paths need; should a pyzmq release change them, or should
``KERNELWIRE_PYZMQ_INTERNALS=0`` be set, the same frame-by-frame code runs through pyzmq's
public per-frame ``send``/``recv``/``getsockopt`` and asyncio sockets always await pyzmq's own
futures: slower, same messages. ``use_pyzmq_internals`` switches at run time (the tests run the
transport tests both ways).

Whole or nothing: every frame is checked (bytes-like, contiguous) before the first one is
handed to libzmq. libzmq keeps the frames it took, so a bad identity or buffer found half way
would otherwise reach the peer as a partial message (pyzmq's own ``send_multipart`` checks
only for the buffer interface, and sends half of a message whose buffer is not contiguous).

Relays: a buffer received with ``copy=False`` is a memoryview over a zmq Frame. Sent on
without tracking, the Frame itself goes out: libzmq shares the message (a reference
count) instead of pyzmq wrapping the memory in a new Frame whose release needs a round
trip through pyzmq's garbage-collector thread and the GIL.

Tracking: pyzmq's ``send_multipart(track=True)`` returns the tracker of the LAST frame
only, which is already done when that frame was small enough to be copied, while a large
buffer before it is still held by libzmq. Here every frame becomes a tracked
``zmq.Frame`` and the returned tracker waits for all of them.
"""

from __future__ import annotations

import inspect
import logging
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import zmq
import zmq.asyncio
import zmq.backend

from .wire import DELIM, MIN_FRAMES

#: A tracker that is always done: returned when nothing is tracked.
DONE = zmq.MessageTracker()

_sync_shadows: weakref.WeakKeyDictionary[Any, zmq.Socket[Any]] = weakref.WeakKeyDictionary()


def sync_socket(socket: Any) -> Any:
    """A blocking socket for ``socket``: for an asyncio socket, a plain ``zmq.Socket``
    over the same libzmq socket (pyzmq's ``Socket.shadow``, made once and cached), as
    jupyter_client uses; any other socket is returned as it is."""
    if isinstance(socket, zmq.asyncio.Socket):
        if socket.closed:  # the shadow would reach a freed libzmq socket
            raise zmq.ZMQError(zmq.ENOTSOCK)
        shadow = _sync_shadows.get(socket)
        if shadow is None:
            shadow = _sync_shadows[socket] = zmq.Socket.shadow(socket.underlying)
        return shadow
    return socket


def check_frames(frames: Sequence[Any]) -> None:
    """Raise, before anything is sent, when a frame cannot go out whole: TypeError for
    one without the buffer interface (a str identity, None), ValueError for a buffer
    that is not contiguous or a released memoryview."""
    for frame in frames:
        if frame.__class__ is not bytes:  # the Session's own frames: one test each
            _check_frame(frames, frame)


def _check_frame(frames: Sequence[Any], frame: Any) -> None:
    """Check one frame that is not bytes; its index is looked up only here, off the hot loop."""
    index = next(i for i, f in enumerate(frames) if f is frame)
    try:
        view = frame if frame.__class__ is memoryview else memoryview(frame)
        contiguous = view.contiguous
    except TypeError:
        raise TypeError(
            f"frame {index} of {len(frames)} is a {type(frame).__name__}, not bytes-like "
            "(identities and buffers must be bytes): nothing was sent"
        ) from None
    except ValueError as exc:  # a released memoryview
        raise ValueError(f"frame {index} of {len(frames)}: {exc}: nothing was sent") from None
    if not contiguous:
        raise ValueError(f"frame {index} of {len(frames)} is not contiguous: nothing was sent")


def _tracked(frames: Sequence[Any]) -> tuple[list[zmq.Frame], zmq.MessageTracker]:
    """The frames as tracked zmq Frames (small ones copied, large ones shared with
    libzmq) and one tracker that is done when libzmq has released all of them."""
    tracked = [
        f if isinstance(f, zmq.Frame) and f.tracker is not None else zmq.Frame(f, track=True)
        for f in frames
    ]
    pending = [f.tracker for f in tracked if f.tracker is not None and not f.tracker.done]
    return tracked, zmq.MessageTracker(*pending)


def _unwrapped(frames: Sequence[Any]) -> list[Any]:
    """The frames, with each whole-Frame memoryview replaced by its zmq Frame."""
    return [
        f.obj
        if f.__class__ is memoryview and isinstance(f.obj, zmq.Frame) and f.nbytes == len(f.obj)
        else f
        for f in frames
    ]


#: The backend methods the fast paths call, by name, with their parameters.
_BACKEND_METHODS = {
    "send": ("self", "data", "flags", "copy", "track"),
    "recv": ("self", "flags", "copy", "track"),
}


def _pyzmq_internals_missing() -> list[str]:
    """What the fast paths read from pyzmq's internals and this pyzmq does not have (empty
    when everything is there). Called once, at import; a test asserts it is empty for the
    pyzmq the project is tested with, so a release that changes these is noticed."""
    missing = []
    backend = getattr(zmq.backend, "Socket", None)
    if not (isinstance(backend, type) and issubclass(zmq.Socket, backend)):
        return ["zmq.backend.Socket as a base class of zmq.Socket"]
    for name, parameters in _BACKEND_METHODS.items():
        try:
            found = tuple(inspect.signature(getattr(backend, name)).parameters)
        except (AttributeError, TypeError, ValueError):
            found = ()
        if found != parameters:
            missing.append(f"zmq.backend.Socket.{name}({', '.join(parameters[1:])})")
    async_socket = zmq.asyncio.Socket
    for name in ("_send_futures", "_recv_futures", "_schedule_remaining_events"):
        if not hasattr(async_socket, name):
            missing.append(f"zmq.asyncio.Socket.{name}")
    if async_socket.get in (getattr(backend, "get", None), zmq.Socket.get):
        missing.append("zmq.asyncio.Socket.get waking waiters when EVENTS is read")
    return missing


def _public_send(socket: zmq.Socket[Any], frame: Any, flags: int, copy: bool, track: bool) -> Any:
    return socket.send(frame, flags, copy=copy, track=track)


def _public_recv(socket: zmq.Socket[Any], flags: int, copy: bool) -> Any:
    return socket.recv(flags, copy=copy)


_PYZMQ_INTERNALS_MISSING = _pyzmq_internals_missing()
_send_one: Callable[..., Any] = _public_send
_recv_one: Callable[..., Any] = _public_recv
#: Whether asend/arecv first try an asyncio socket's libzmq socket directly.
_direct_async = False


def use_pyzmq_internals(enabled: bool) -> None:
    """Switch the fast paths that read pyzmq's internals on or off (off: pyzmq's public
    API only; same messages, slower). Switching on raises RuntimeError, naming what is
    missing, when the installed pyzmq lacks what they need."""
    global _send_one, _recv_one, _direct_async
    if enabled and _PYZMQ_INTERNALS_MISSING:
        raise RuntimeError(
            f"pyzmq {zmq.__version__} lacks what kernelwire's fast paths use: "
            + "; ".join(_PYZMQ_INTERNALS_MISSING)
        )
    if enabled:
        _send_one, _recv_one = zmq.backend.Socket.send, zmq.backend.Socket.recv
    else:
        _send_one, _recv_one = _public_send, _public_recv
    _direct_async = enabled


def pyzmq_internals_in_use() -> bool:
    """Whether the fast paths that read pyzmq's internals are on (see ``use_pyzmq_internals``)."""
    return _direct_async


if _PYZMQ_INTERNALS_MISSING:
    logging.getLogger(__name__).debug(
        "pyzmq %s: public API only, the fast paths need %s",
        zmq.__version__,
        "; ".join(_PYZMQ_INTERNALS_MISSING),
    )
use_pyzmq_internals(
    not _PYZMQ_INTERNALS_MISSING and os.environ.get("KERNELWIRE_PYZMQ_INTERNALS") != "0"
)

#: A plain int: ``flags | zmq.SNDMORE`` (an enum member) runs enum's Python ``__or__``,
#: once per frame sent.
_SNDMORE = int(zmq.SNDMORE)
_PLAIN_SOCKET = zmq.Socket


def _send_plain(
    socket: zmq.Socket[Any], frames: Sequence[Any], flags: int, copy: bool, track: bool
) -> None:
    """``send_multipart`` frame by frame through the backend, for frames that passed
    ``check_frames``. libzmq takes a multipart message whole or not at all: once the first
    frame is accepted (NOBLOCK may refuse it with zmq.Again) the rest is too. Should a
    later frame still fail (an exception from a signal handler, a socket closed by another
    thread), an empty last frame closes the message, so the next one cannot be glued to
    it, and the error is raised."""
    if len(frames) == 1:
        _send_one(socket, frames[0], flags, copy, track)
        return
    more = int(flags) | _SNDMORE  # int(): ``zmq.NOBLOCK | ...`` would run enum's ``__or__``
    _send_one(socket, frames[0], more, copy, track)
    try:
        for frame in frames[1:-1]:
            _send_one(socket, frame, more, copy, track)
        _send_one(socket, frames[-1], flags, copy, track)
    except BaseException:
        _send_one(socket, b"", flags, True, False)
        raise


def _send_multipart(
    socket: Any, frames: Sequence[Any], flags: int, copy: bool, track: bool = False
) -> None:
    """``socket.send_multipart``, without pyzmq's Python overhead on a plain zmq.Socket."""
    if socket.__class__ is _PLAIN_SOCKET:
        _send_plain(socket, frames, flags, copy, track)
    else:
        socket.send_multipart(frames, flags, copy=copy, track=track)


def _recv_multipart(socket: Any, flags: int, copy: bool) -> list[Any]:
    """``socket.recv_multipart`` without pyzmq's per-call Python overhead.

    Each frame is read into a zmq Frame, whose ``more`` is a plain C read (reading the
    RCVMORE option instead looks the option up in an enum, per frame). With ``copy=False``
    on a plain socket only the buffers (the frames after the five signed ones) stay zmq
    Frames: identities, delimiter, signature, header, parent, metadata and content are
    read whole anyway, and as bytes they reach the codec's all-bytes fast path.
    """
    if socket.__class__ is not _PLAIN_SOCKET:
        return socket.recv_multipart(flags, copy=copy)  # type: ignore[no-any-return]
    frame = _recv_one(socket, flags, False)
    data = frame.bytes
    frames: list[Any] = [data]
    if copy:
        while frame.more:
            frame = _recv_one(socket, flags, False)
            frames.append(frame.bytes)
        return frames
    while data != DELIM and frame.more:
        frame = _recv_one(socket, flags, False)
        data = frame.bytes
        frames.append(data)
    signed = MIN_FRAMES  # signature, header, parent, metadata, content
    while signed and frame.more:
        frame = _recv_one(socket, flags, False)
        frames.append(frame.bytes)
        signed -= 1
    while frame.more:
        frame = _recv_one(socket, flags, False)
        frames.append(frame)
    return frames


def send_frames(
    stream: Any, frames: Sequence[Any], copy: bool = True, track: bool = False, flags: int = 0
) -> zmq.MessageTracker:
    """Send ``frames`` as one multipart message, blocking at the high-water mark (a
    ZMQStream queues instead). Returns a real tracker only for ``track`` with ``copy``
    off; ``DONE`` otherwise. A frame that cannot be sent raises (``check_frames``) and
    nothing is sent."""
    check_frames(frames)
    if not copy:
        if track:
            tracked, tracker = _tracked(frames)
            _send_multipart(sync_socket(stream), tracked, flags, False, True)
            return tracker
        frames = _unwrapped(frames)
    if stream.__class__ is _PLAIN_SOCKET:  # the hot path
        _send_plain(stream, frames, flags, copy, False)
    else:
        _send_multipart(sync_socket(stream), frames, flags, copy)
    return DONE


def recv_frames(socket: Any, mode: int = zmq.NOBLOCK, copy: bool = True) -> list[Any] | None:
    """One multipart message, or None when ``mode`` is NOBLOCK and nothing waits."""
    if not isinstance(socket, _PLAIN_SOCKET) and not hasattr(socket, "recv_multipart"):
        socket = socket.socket  # a ZMQStream wraps its socket (and cannot read itself)
    try:
        return _recv_multipart(sync_socket(socket), mode, copy)
    except zmq.Again:
        return None


async def _until_ready(socket: zmq.Socket[Any], event: int) -> None:
    """Wait, without blocking the loop, until a blocking socket can send or receive."""
    poller = zmq.asyncio.Poller()
    poller.register(socket, event)
    await poller.poll()


def _no_waiters(socket: zmq.asyncio.Socket, queue: str) -> bool:
    """True when no coroutine waits in pyzmq's ``queue`` ("_send_futures" or
    "_recv_futures") of this asyncio socket; an unknown layout reads as busy."""
    return not getattr(socket, queue, True)


def _may_go_direct(socket: zmq.asyncio.Socket, queue: str) -> bool:
    """True when the libzmq socket may be tried directly: the fast paths are on and no
    coroutine waits in pyzmq's ``queue``, so FIFO order among waiters is kept."""
    return _direct_async and _no_waiters(socket, queue)


async def asend_frames(
    stream: Any, frames: Sequence[Any], copy: bool = True, track: bool = False, flags: int = 0
) -> zmq.MessageTracker:
    """Like ``send_frames``, but at the high-water mark the coroutine waits and the
    event loop keeps running. With NOBLOCK in ``flags`` a full queue raises ``zmq.Again``."""
    check_frames(frames)
    tracker = DONE
    tracking = track and not copy
    if tracking:
        frames, tracker = _tracked(frames)
    elif not copy:
        frames = _unwrapped(frames)
    if isinstance(stream, zmq.asyncio.Socket):
        if _may_go_direct(stream, "_send_futures"):
            try:
                _send_plain(sync_socket(stream), frames, flags | zmq.NOBLOCK, copy, tracking)
            except zmq.Again:
                if flags & zmq.NOBLOCK:
                    raise
            else:
                if not _no_waiters(stream, "_recv_futures"):
                    stream.get(zmq.EVENTS)  # wakes pending receives
                return tracker
        await stream.send_multipart(frames, flags, copy=copy, track=tracking)
    elif isinstance(stream, zmq.Socket):
        while True:
            try:
                _send_multipart(stream, frames, flags | zmq.NOBLOCK, copy)
                break
            except zmq.Again:
                if flags & zmq.NOBLOCK:
                    raise
            # a multipart message is accepted whole or not at all: nothing went out
            await _until_ready(stream, zmq.POLLOUT)
    else:  # a ZMQStream queues: it never blocks
        stream.send_multipart(frames, flags, copy=copy)
    return tracker


async def arecv_frames(socket: Any, mode: int = 0, copy: bool = True) -> list[Any] | None:
    """One multipart message, waiting for it without blocking the loop; None when
    ``mode`` has NOBLOCK and nothing waits. A ZMQStream delivers to its ``on_recv``
    callback: only a NOBLOCK read of its socket is offered here."""
    if isinstance(socket, zmq.asyncio.Socket):
        if _may_go_direct(socket, "_recv_futures"):
            try:
                frames = _recv_multipart(sync_socket(socket), mode | zmq.NOBLOCK, copy)
            except zmq.Again:
                if mode & zmq.NOBLOCK:
                    return None
            else:
                if not _no_waiters(socket, "_send_futures"):
                    socket.get(zmq.EVENTS)  # wakes pending sends
                return frames
        try:
            return await socket.recv_multipart(mode, copy=copy)  # type: ignore[no-any-return]
        except zmq.Again:
            return None
    if not isinstance(socket, zmq.Socket):
        if not mode & zmq.NOBLOCK:
            raise TypeError(
                f"cannot await a message on a {type(socket).__name__}: use its on_recv "
                "callback, or pass mode=zmq.NOBLOCK"
            )
        return recv_frames(socket, mode, copy)
    while True:
        try:
            return _recv_multipart(socket, mode | zmq.NOBLOCK, copy)
        except zmq.Again:
            if mode & zmq.NOBLOCK:
                return None
        await _until_ready(socket, zmq.POLLIN)


__all__ = [
    "DONE",
    "arecv_frames",
    "asend_frames",
    "check_frames",
    "pyzmq_internals_in_use",
    "recv_frames",
    "send_frames",
    "sync_socket",
    "use_pyzmq_internals",
]
