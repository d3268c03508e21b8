"""The websocket framings between a Jupyter server and a browser, as pure functions over bytes.

Two protocols carry kernel messages over a websocket (nothing here uses zmq, traitlets or I/O):

- ``v1.kernel.websocket.jupyter.org`` (``V1_PROTOCOL``): one binary frame. A little-endian u64
  count N, then N u64 offsets; part i is ``frame[offset[i]:offset[i + 1]]``. The parts are the
  channel name (UTF-8), then header, parent_header, metadata and content exactly as packed on
  ZeroMQ, then the buffers; the last offset is the frame's length. So a relay moves the packed
  parts as they are, without unpacking them (``zmq_to_v1``, ``v1_to_zmq``).
- the legacy protocol (no subprotocol): without buffers a text frame, the whole message as JSON
  with a ``channel`` key; with buffers a binary frame, a big-endian u32 count n, n u32 offsets,
  then the JSON (without ``buffers``) and the buffers, the last part running to the end.

Decoding is strict: every offset is checked (the first one right after the table, none going
backwards or past the end, the v1 end offset equal to the frame's length, the count within the
frame) and the channel must be a kernel channel. Whatever the input, the only exception raised
is a ``kernelwire.errors.WireError``: ``BadWebsocketFrame`` naming what is wrong, or (for the
message-level functions) the Session's own errors for the packed parts.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Collection, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import orjson

from .adapter import adapt
from .errors import BadFrame, MalformedMessage, MissingHeaderField, TooFewFrames
from .jsonutil import extract_dates_inplace, json_default
from .signing import Signer
from .wire import DELIM, MIN_FRAMES, Codec, feed_identities

if TYPE_CHECKING:
    from .session import Session

#: The websocket subprotocol name of the v1 binary framing.
V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"
#: The kernel channels a websocket message may name.
CHANNELS: frozenset[str] = frozenset(("shell", "control", "stdin", "iopub"))

_CHANNEL_BYTES = {name: name.encode("ascii") for name in CHANNELS}
# channel, header, parent_header, metadata, content: the v1 parts every frame has
_V1_PARTS = ("channel", "header", "parent_header", "metadata", "content")
# a v1 frame's fewest offsets: the start of each of the five parts, and the end
_V1_MIN_OFFSETS = len(_V1_PARTS) + 1
_MAX_SHOWN = 60  # how much of a bad channel name an error message quotes


class BadWebsocketFrame(MalformedMessage, ValueError):
    """A websocket frame is not a valid message of its protocol; the text says why."""


# --------------------------------------------------------------------------- helpers


def _byte_view(frame: Any, what: str) -> memoryview:
    """A flat byte view of ``frame``; BadWebsocketFrame for a str or non-bytes-like value."""
    if isinstance(frame, str):
        raise BadWebsocketFrame(f"{what} must be binary, got a text frame")
    try:
        view = memoryview(frame)
        return view if view.format == "B" and view.ndim == 1 else view.cast("B")
    except (TypeError, ValueError):
        raise BadWebsocketFrame(
            f"{what} must be bytes-like, got a {type(frame).__name__}"
        ) from None


def _check_offsets(offsets: Sequence[int], first: int, size: int, what: str) -> None:
    """The first offset is ``first``; none goes backwards or past ``size``."""
    if offsets[0] == first and offsets[-1] <= size and list(offsets) == sorted(offsets):
        return  # the common case, tested in C; the walk below names the fault
    if offsets[0] != first:
        raise BadWebsocketFrame(
            f"{what}: first offset is {offsets[0]}, but the offset table ends at byte {first}"
        )
    previous = first
    for index, offset in enumerate(offsets):
        if offset < previous:
            raise BadWebsocketFrame(
                f"{what}: offset {index} ({offset}) is before offset {index - 1} ({previous})"
            )
        if offset > size:
            raise BadWebsocketFrame(
                f"{what}: offset {index} ({offset}) is past the end of the {size}-byte frame"
            )
        previous = offset


def _check_channel(channel: Any, channels: Collection[str] | None, what: str) -> str:
    if not isinstance(channel, str):
        raise BadWebsocketFrame(f"{what}: the channel is a {type(channel).__name__}, not a str")
    if channels is not None and channel not in channels:
        raise BadWebsocketFrame(
            f"{what}: unknown channel {channel[:_MAX_SHOWN]!r}, expected one of {sorted(channels)}"
        )
    return channel


def _signer_of(session: Session) -> Signer:
    """The Session's current Signer (it is rebuilt when the key or scheme changes)."""
    core = session._core
    assert core is not None  # set in Session.__init__
    return core.signer


# ------------------------------------------------------------------------ v1, bytes level


def pack_v1(channel: str, parts: Sequence[Any]) -> bytes:
    """The v1 frame for ``channel`` and the packed ``parts`` (header, parent_header,
    metadata, content, then buffers), which are copied as they are."""
    if len(parts) < MIN_FRAMES - 1:
        raise TooFewFrames(
            f"a v1 frame needs header, parent_header, metadata and content; got {len(parts)} parts"
        )
    return _v1_frame(_CHANNEL_BYTES.get(channel) or channel.encode("utf-8"), parts)


def _v1_frame(channel: bytes, parts: Sequence[Any]) -> bytes:
    """Offset table, channel and parts joined: one copy of each part, nothing parsed."""
    count = len(parts) + 2  # the channel's start, each part's start, and the end
    offset = 8 * (count + 1)
    offsets = [count, offset]
    offset += len(channel)
    offsets.append(offset)
    for part in parts:
        # len() of bytes is their size; other buffers (zmq Frames, arrays) say nbytes
        offset += len(part) if part.__class__ is bytes else memoryview(part).nbytes
        offsets.append(offset)
    return b"".join((struct.pack(f"<{count + 1}Q", *offsets), channel, *parts))


def unpack_v1(
    frame: Any, *, copy: bool = True, channels: Collection[str] | None = CHANNELS
) -> tuple[str, list[Any]]:
    """``(channel, parts)`` of a v1 frame: the parts are header, parent_header, metadata,
    content and the buffers, still packed. ``copy=False`` gives memoryviews over ``frame``.

    Every offset is checked, each of the four message parts must be non-empty, and the
    channel must be one of ``channels`` (None accepts any name); BadWebsocketFrame otherwise.
    """
    what = "v1 websocket frame"
    view = _byte_view(frame, what)
    size = view.nbytes
    if size < 8:
        raise BadWebsocketFrame(f"{what}: {size} bytes, too short for the 8-byte offset count")
    count = int.from_bytes(view[:8], "little")
    if count < _V1_MIN_OFFSETS:
        raise BadWebsocketFrame(
            f"{what}: {count} offsets, at least {_V1_MIN_OFFSETS} needed "
            "(channel, header, parent_header, metadata, content and the end)"
        )
    table_end = 8 * (count + 1)
    if table_end > size:
        raise BadWebsocketFrame(
            f"{what}: {count} offsets need a {table_end}-byte table, but the frame has {size} bytes"
        )
    offsets = struct.unpack_from(f"<{count}Q", view, 8)
    _check_offsets(offsets, table_end, size, what)
    if offsets[-1] != size:
        raise BadWebsocketFrame(
            f"{what}: the last offset is {offsets[-1]}, but the frame has {size} bytes"
        )
    if not offsets[1] < offsets[2] < offsets[3] < offsets[4] < offsets[5]:
        for index in range(1, len(_V1_PARTS)):
            if offsets[index] == offsets[index + 1]:
                raise BadWebsocketFrame(f"{what}: the {_V1_PARTS[index]} part is empty")
    try:
        channel = str(view[offsets[0] : offsets[1]], "utf-8")
    except UnicodeDecodeError:
        raise BadWebsocketFrame(f"{what}: the channel name is not UTF-8") from None
    _check_channel(channel, channels, what)
    bounds = pairwise(offsets[1:])
    if copy:
        parts: list[Any] = [bytes(view[start:end]) for start, end in bounds]
    else:
        parts = [view[start:end] for start, end in bounds]
    return channel, parts


# -------------------------------------------------------------------- legacy, bytes level


def pack_legacy_binary(body: bytes, buffers: Sequence[Any]) -> bytes:
    """The legacy binary frame for a JSON ``body`` (the message without ``buffers``) and its
    ``buffers``."""
    parts = [body, *buffers]
    count = len(parts)
    offset = 4 * (count + 1)
    offsets = [offset]
    for part in parts[:-1]:
        offset += memoryview(part).nbytes
        offsets.append(offset)
    return b"".join((struct.pack(f"!{count + 1}I", count, *offsets), *parts))


def unpack_legacy_binary(frame: Any, *, copy: bool = True) -> tuple[Any, list[Any]]:
    """``(json_body, buffers)`` of a legacy binary frame, offsets checked; BadWebsocketFrame
    otherwise. ``copy=False`` gives memoryviews over ``frame``."""
    what = "legacy binary websocket frame"
    view = _byte_view(frame, what)
    size = view.nbytes
    if size < 4:
        raise BadWebsocketFrame(f"{what}: {size} bytes, too short for the 4-byte part count")
    count = int.from_bytes(view[:4], "big")
    if count < 1:
        raise BadWebsocketFrame(f"{what}: 0 parts, but the JSON message is one")
    table_end = 4 * (count + 1)
    if table_end > size:
        raise BadWebsocketFrame(
            f"{what}: {count} offsets need a {table_end}-byte table, but the frame has {size} bytes"
        )
    offsets = struct.unpack_from(f"!{count}I", view, 4)
    _check_offsets(offsets, table_end, size, what)
    bounds = pairwise((*offsets, size))
    if copy:
        parts: list[Any] = [bytes(view[start:end]) for start, end in bounds]
    else:
        parts = [view[start:end] for start, end in bounds]
    return parts[0], parts[1:]


# ------------------------------------------------------------------------ the relay path


def zmq_to_v1(frames: Sequence[Any], channel: str, verify: Session | None = None) -> bytes:
    """The v1 frame for a message as received from ZeroMQ (identities, DELIM, signature,
    header, parent_header, metadata, content, buffers), without unpacking any part.

    With ``verify``, the signature is first checked with that Session's key and recorded
    against replays, as ``Session.deserialize`` does (SignatureError otherwise): a kernel
    message that does not authenticate never reaches the browser.
    """
    _identities, rest = feed_identities(frames)
    if len(rest) < MIN_FRAMES:
        raise TooFewFrames(
            f"malformed message: {len(rest)} frames after the delimiter, at least {MIN_FRAMES} "
            "needed (signature, header, parent_header, metadata, content)"
        )
    parts = rest[1:]
    try:
        if verify is not None:
            signer = _signer_of(verify)
            if signer.enabled:
                signature = rest[0] if rest[0].__class__ is bytes else bytes(memoryview(rest[0]))
                signer.verify(signature, parts[:4])
                verify.digest_history.check(signature)
        return _v1_frame(_CHANNEL_BYTES.get(channel) or channel.encode("utf-8"), parts)
    except TypeError:  # from memoryview() or join(): a frame that is not bytes-like
        raise MalformedMessage("a frame of the message is not bytes-like") from None


def v1_to_zmq(
    frame: Any, session: Session, ident: bytes | Sequence[bytes] | None = None
) -> tuple[str, list[Any]]:
    """``(channel, frames)``: the frames to send to the kernel for a v1 frame from the
    browser, signed with ``session``'s key (``[*ident, DELIM, signature, *parts]``, as
    ``Session.send_raw`` sends them); nothing is unpacked."""
    channel, parts = unpack_v1(frame)
    if ident is None:
        identities: list[Any] = []
    elif isinstance(ident, bytes):
        identities = [ident]
    else:
        identities = list(ident)
    return channel, [*identities, DELIM, session.sign(parts), *parts]


# ---------------------------------------------------------------------- message level


def message_to_v1(session: Session, msg: dict[str, Any], channel: str) -> bytes:
    """The v1 frame of a message dict (with its ``buffers``), its parts packed as
    ``session`` packs them for ZeroMQ (see ``Session.serialize``)."""
    parts = _unsigned_codec(session).serialize(msg)[2:]  # after DELIM and the empty signature
    parts.extend(msg.get("buffers") or ())
    return pack_v1(channel, parts)


def v1_to_message(
    session: Session, frame: Any, *, channels: Collection[str] | None = CHANNELS
) -> tuple[str, dict[str, Any]]:
    """``(channel, message dict)`` of a v1 frame, unpacked with ``session``'s unpacker and
    checked as ``Session.deserialize`` checks a received message (BadFrame,
    MissingHeaderField); there is no signature to verify on a websocket. The buffers are
    memoryviews over ``frame``."""
    channel, parts = unpack_v1(frame, copy=False, channels=channels)
    return channel, _unsigned_codec(session).deserialize([b"", *parts])


# Codecs with the packers and date handling of a Session but no key: websocket frames carry
# no signature. Few packer combinations exist; the bound only guards against a program that
# makes new packer functions again and again.
_unsigned_codecs: dict[tuple[Any, Any, bool], Codec] = {}
_MAX_CODECS = 16


def _unsigned_codec(session: Session) -> Codec:
    settings = (session.pack, session.unpack, bool(session.parse_dates))
    codec = _unsigned_codecs.get(settings)
    if codec is None:
        if len(_unsigned_codecs) >= _MAX_CODECS:
            _unsigned_codecs.clear()
        codec = Codec(Signer(), settings[0], settings[1], parse_dates=settings[2])
        _unsigned_codecs[settings] = codec
    return codec


def message_to_legacy(msg: dict[str, Any], channel: str) -> str | bytes:
    """The legacy frame of a message dict: JSON text with a ``channel`` key when it has no
    buffers, else a binary frame. The JSON is written as jupyter_server writes it, except that
    NaN and infinities are refused (ValueError): a browser cannot parse them."""
    body = dict(msg)
    body["channel"] = channel
    buffers = body.get("buffers")
    if buffers:
        del body["buffers"]
        return pack_legacy_binary(_legacy_json(body).encode("utf-8"), buffers)
    return _legacy_json(body)


def _legacy_json(body: dict[str, Any]) -> str:
    return json.dumps(body, default=json_default, allow_nan=False)


def legacy_to_message(
    frame: str | bytes,
    *,
    parse_dates: bool = True,
    channels: Collection[str] | None = CHANNELS,
) -> tuple[str, dict[str, Any]]:
    """``(channel, message dict)`` of a legacy frame, text (JSON) or binary (JSON and
    buffers). The JSON must be an object with a kernel ``channel`` and a ``header`` holding
    ``msg_id`` and ``msg_type``; parent_header, metadata and content must be objects (absent
    or null: empty); ``buffers`` in the JSON must be absent or empty. ``parse_dates`` turns
    the header dates into datetimes, as a Session does."""
    if isinstance(frame, str):
        what = "legacy text websocket frame"
        body_json: Any = frame
        buffers: list[Any] = []
    else:
        what = "legacy binary websocket frame"
        body_json, buffers = unpack_legacy_binary(frame, copy=False)
    try:
        body = orjson.loads(body_json)
    except json.JSONDecodeError as exc:  # orjson's is a subclass
        raise BadWebsocketFrame(f"{what}: the message is not JSON: {exc}"[:200]) from None
    except RecursionError:
        raise BadWebsocketFrame(f"{what}: the JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadWebsocketFrame(f"{what}: the JSON is a {type(body).__name__}, not an object")
    if "channel" not in body:
        raise BadWebsocketFrame(f"{what}: the message has no channel")
    channel = _check_channel(body["channel"], channels, what)
    if body.get("buffers"):
        raise BadWebsocketFrame(f"{what}: buffers inside the JSON (they travel as binary parts)")
    return channel, _message(body, buffers, parse_dates)


def _message(body: dict[str, Any], buffers: list[Any], parse_dates: bool) -> dict[str, Any]:
    """The message dict from a legacy JSON body, checked as a Session checks one."""
    header = body.get("header")
    if not isinstance(header, dict):
        raise BadFrame("header", f"a {type(header).__name__}, not an object")
    for field in ("msg_id", "msg_type"):
        if field not in header:
            raise MissingHeaderField(field)
    parts = {}
    for name in ("parent_header", "metadata", "content"):
        value = body.get(name)
        if value is None:
            value = {}
        elif not isinstance(value, dict):
            raise BadFrame(name, f"a {type(value).__name__}, not an object")
        parts[name] = value
    if parse_dates:
        try:
            extract_dates_inplace(header)
            extract_dates_inplace(parts["parent_header"])
        except RecursionError:
            raise BadFrame("header", "nested too deeply") from None
    message = {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": header["msg_type"],
        "parent_header": parts["parent_header"],
        "metadata": parts["metadata"],
        "content": parts["content"],
        "buffers": buffers,
    }
    version = header.get("version")
    if isinstance(version, str) and version[:2] == "5.":
        return message
    return adapt(message)  # protocol 4 (or unknown) to 5, as Session.deserialize does


__all__ = [
    "CHANNELS",
    "V1_PROTOCOL",
    "BadWebsocketFrame",
    "legacy_to_message",
    "message_to_legacy",
    "message_to_v1",
    "pack_legacy_binary",
    "pack_v1",
    "unpack_legacy_binary",
    "unpack_v1",
    "v1_to_message",
    "v1_to_zmq",
    "zmq_to_v1",
]
