"""The message format: message dicts to lists of frames and back, with no I/O.

Nothing here uses zmq or traitlets, so it works over any transport.

A message on the wire is::

    [ident, ..., DELIM, signature, header, parent_header, metadata, content, buffer, ...]

``Codec`` holds what turning one into the other needs (packer, unpacker, Signer,
ReplayHistory, date handling) as plain attributes, so the per-message paths read no
configuration. Frames may be ``bytes`` or any bytes-like object (zmq Frames included).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .adapter import adapt
from .errors import BadFrame, MalformedMessage, MissingDelimiter, MissingHeaderField, TooFewFrames
from .jsonutil import extract_dates_inplace
from .packers import FIRST_TRY, Packer, Unpacker, orjson_packer, orjson_unpacker
from .signing import ReplayHistory, Signer

#: The frame that separates the routing identities from the message.
DELIM = b"<IDS|MSG>"
#: signature, header, parent_header, metadata, content
MIN_FRAMES = 5
_SIGNED_FRAMES = ("header", "parent_header", "metadata", "content")
_MAX_REASON = 200


def _as_bytes(frame: Any, index: int) -> bytes:
    if frame.__class__ is bytes:
        return frame  # type: ignore[no-any-return]
    try:
        return bytes(memoryview(frame))
    except TypeError:
        raise MalformedMessage(
            f"frame {index} is a {type(frame).__name__}, not bytes-like"
        ) from None


def feed_identities(
    msg_list: Sequence[Any], copy: bool = True
) -> tuple[list[bytes], Sequence[Any]]:
    """Split ``msg_list`` at the first DELIM into (identities as bytes, the rest).

    Raises MissingDelimiter when there is none. Frames may be bytes or zmq Frames
    whatever ``copy`` says: it is accepted so that this function can stand as
    ``Session.feed_identities(msg_list, copy=True)`` itself, without a wrapper's call.
    """
    try:
        index = msg_list.index(DELIM)  # C speed when the frames are bytes
    except ValueError:
        index = _find_delimiter(msg_list)
    identities = msg_list[:index]
    for frame in identities:
        if frame.__class__ is not bytes:
            identities = [_as_bytes(f, i) for i, f in enumerate(identities)]
            break
    return identities, msg_list[index + 1 :]  # type: ignore[return-value]


def _find_delimiter(frames: Sequence[Any]) -> int:
    """DELIM's index among frames that are not all bytes (zmq Frames, with copy=False)."""
    for index, frame in enumerate(frames):
        if frame.__class__ is not bytes:
            try:
                if memoryview(frame) == DELIM:
                    return index
            except TypeError:
                raise MalformedMessage(
                    f"frame {index} is a {type(frame).__name__}, not bytes-like"
                ) from None
    raise MissingDelimiter(f"no {DELIM!r} delimiter among the {len(frames)} frames of the message")


def _unpack_failed(name: str, exc: BaseException) -> BadFrame:
    if isinstance(exc, RecursionError):
        return BadFrame(name, "nested too deeply to unpack")
    return BadFrame(name, f"{type(exc).__name__}: {exc}"[:_MAX_REASON])


def _not_a_dict(name: str, value: Any) -> BadFrame:
    return BadFrame(name, f"unpacked to a {type(value).__name__}, not a dict")


def _buffers(frames: Sequence[Any]) -> list[memoryview]:
    """Zero-copy views of the frames after content (views of zmq Frames with copy=False)."""
    try:
        return [memoryview(b) for b in frames[MIN_FRAMES:]]
    except TypeError:
        raise MalformedMessage("a buffer frame is not bytes-like") from None


#: Value types of a header that a shallow copy copies whole (none holds other objects).
_FLAT = frozenset({str, datetime, int, float, bool, type(None)})


class Codec:
    """Serializes and deserializes messages for one Session configuration.

    ``parse_dates`` turns ISO 8601 strings in header and parent_header into aware
    datetimes (jupyter_client's behaviour); off, they stay strings (fastest).
    """

    __slots__ = (
        "_last_parent",
        "_loads",
        "empty",
        "history",
        "pack",
        "parse_dates",
        "signer",
        "unpack",
    )

    def __init__(
        self,
        signer: Signer | None = None,
        pack: Packer = orjson_packer,
        unpack: Unpacker = orjson_unpacker,
        history: ReplayHistory | None = None,
        parse_dates: bool = True,
    ) -> None:
        #: Signs and verifies; ``Signer()`` has no key, so signing is off.
        self.signer = signer if signer is not None else Signer()
        #: The signatures already accepted, to refuse replays.
        self.history = history if history is not None else ReplayHistory()
        #: Whether received header dates become ``datetime`` objects.
        self.parse_dates = parse_dates
        self.set_packers(pack, unpack)

    def set_packers(self, pack: Packer, unpack: Unpacker) -> None:
        """Switch packers; the packed empty content follows (it never goes stale)."""
        self.pack = pack
        self.unpack = unpack
        self._loads = FIRST_TRY.get(unpack, unpack)
        self.empty = pack({})
        # Every output of a request carries the same parent header: the last one unpacked
        # (dates parsed), by its packed bytes, is copied instead of unpacked again.
        self._last_parent: tuple[Any, dict[str, Any]] = (None, {})

    def pack_content(self, content: Any) -> bytes:
        """Content as the content frame: None -> the packed ``{}``, dict -> packed,
        bytes-like -> already packed, str -> UTF-8; anything else is a TypeError."""
        if content is None:
            return self.empty
        if isinstance(content, dict):
            return self.pack(content)
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode("utf-8")
        if isinstance(content, bytearray | memoryview):
            return bytes(content)
        raise TypeError(f"Content incorrect type: {type(content).__name__}")

    def serialize(self, msg: dict[str, Any], ident: Any = None) -> list[bytes]:
        """``[*idents, DELIM, signature, header, parent, metadata, content]``."""
        pack = self.pack
        parent = msg.get("parent_header")
        metadata = msg.get("metadata")
        parts = [
            pack(msg["header"]),
            pack(parent) if parent else self.empty,
            pack(metadata) if metadata else self.empty,
            self.pack_content(msg.get("content", {})),
        ]
        if ident is None:
            frames = [DELIM, self.signer.sign(parts)]
        elif isinstance(ident, list | tuple):
            frames = [*ident, DELIM, self.signer.sign(parts)]
        else:
            frames = [ident, DELIM, self.signer.sign(parts)]
        frames.extend(parts)
        return frames

    def signed_frames(self, parts: Sequence[Any], ident: Any = None) -> list[Any]:
        """Frames for already-packed ``parts`` (header, parent, metadata, content,
        buffers...): only the first four are signed."""
        if ident is None:
            idents = []
        elif isinstance(ident, list | tuple):
            idents = list(ident)
        else:
            idents = [ident]
        return [*idents, DELIM, self.signer.sign(parts), *parts]

    def deserialize(self, frames: Sequence[Any], content: bool = True) -> dict[str, Any]:
        """The message dict from the frames after DELIM.

        Checks the frame count first, then the signature (before unpacking anything),
        then records the signature against replays, unless ``content`` is False: a peek
        verifies without recording, so the same frames can be fully read later, and
        leaves the content packed.
        """
        count = len(frames)
        if count < MIN_FRAMES:
            raise TooFewFrames(
                f"malformed message: {count} frames after the delimiter, "
                f"at least {MIN_FRAMES} needed (signature, header, parent_header, "
                "metadata, content)"
            )
        signature, p_header, p_parent, p_metadata, p_content = frames[:MIN_FRAMES]
        # one chained test: are all five plain bytes (copy=True), as on the fast path?
        if not (
            bytes
            is signature.__class__
            is p_header.__class__
            is p_parent.__class__
            is p_metadata.__class__
            is p_content.__class__
        ):
            signature, p_header, p_parent, p_metadata, p_content = (
                _as_bytes(f, i) for i, f in enumerate(frames[:MIN_FRAMES])
            )
        signer = self.signer
        if signer.key:
            signer.verify(signature, (p_header, p_parent, p_metadata, p_content))
            self.history.check(signature, record=content)

        loads = self._loads
        empty = self.empty  # parent and metadata are often the packed {}: skip the parser
        parent_seen = False
        try:
            header = loads(p_header)
            if p_parent == empty:
                parent = {}
            elif p_parent == (last := self._last_parent)[0] and self.parse_dates:
                parent = last[1].copy()  # flat: a shallow copy is a whole one
                parent_seen = True
            else:
                parent = loads(p_parent)
            metadata = {} if p_metadata == empty else loads(p_metadata)
            body = loads(p_content) if content else p_content
        except Exception:
            parent_seen = False
            header, parent, metadata, body = self._unpack_carefully(
                (p_header, p_parent, p_metadata, p_content), content
            )
        if header.__class__ is not dict and not isinstance(header, dict):
            raise _not_a_dict("header", header)
        try:
            msg_id = header["msg_id"]
            msg_type = header["msg_type"]
        except KeyError as exc:
            raise MissingHeaderField(exc.args[0]) from None
        # null for "no parent" or "no metadata" is read as {}: xeus kernels send it (in
        # iopub_welcome) and jupyter_client passes it on
        if parent.__class__ is not dict and not isinstance(parent, dict):
            if parent is not None:
                raise _not_a_dict("parent_header", parent)
            parent = {}
        if metadata.__class__ is not dict and not isinstance(metadata, dict):
            if metadata is not None:
                raise _not_a_dict("metadata", metadata)
            metadata = {}
        if content and body.__class__ is not dict and not isinstance(body, dict):
            raise _not_a_dict("content", body)
        if self.parse_dates:
            name = "header"
            try:
                extract_dates_inplace(header)
                if parent and not parent_seen:
                    name = "parent_header"
                    extract_dates_inplace(parent)
                    if parent.__class__ is dict and all(
                        value.__class__ in _FLAT for value in parent.values()
                    ):  # a copy of an unpacker's dict subclass would be a plain dict
                        self._last_parent = (p_parent, parent.copy())
            except RecursionError:
                raise BadFrame(name, "nested too deeply") from None
        message = {
            "header": header,
            "msg_id": msg_id,
            "msg_type": msg_type,
            "parent_header": parent,
            "metadata": metadata,
            "content": body,
            "buffers": _buffers(frames) if count > MIN_FRAMES else [],
        }
        version = header.get("version")
        if version.__class__ is str and version[:2] == "5.":
            return message
        return adapt(message)

    def _unpack_carefully(self, packed: Sequence[bytes], content: bool) -> list[Any]:
        """The slow path: the full unpacker frame by frame, naming the frame that fails."""
        unpacked: list[Any] = []
        for name, data in zip(_SIGNED_FRAMES, packed, strict=True):
            if name == "content" and not content:
                unpacked.append(data)
                break
            try:
                unpacked.append(self.unpack(data))
            except Exception as exc:
                raise _unpack_failed(name, exc) from None
        return unpacked

    def read(
        self, frames: Sequence[Any], content: bool = True
    ) -> tuple[list[bytes], dict[str, Any]]:
        """Identities and message from a whole frame list (feed_identities + deserialize)."""
        identities, rest = feed_identities(frames)
        return identities, self.deserialize(rest, content=content)


__all__ = ["DELIM", "MIN_FRAMES", "Codec", "feed_identities"]
