"""The ``Session``: builds, signs, sends, receives and checks Jupyter messages over zmq.

Code written for ``jupyter_client.session`` (or IPython 2's ``IPython.kernel.zmq.session``)
works with ``kernelwire.session`` in its place: the same names, configuration options
(traitlets traits, ``c.Session.<name>``) and methods.

The message format itself is done by ``kernelwire.wire.Codec``, which uses no zmq and no
traitlets. When an option changes, the Session copies it into its Codec and into plain
attributes, so that sending and receiving a message looks up no trait (traits are slow
to read).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import logging
import os
import pprint
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import zmq
from traitlets import (
    Any as AnyTrait,
)
from traitlets import (
    Bool,
    CBytes,
    CUnicode,
    Dict,
    DottedObjectName,
    Enum,
    Instance,
    Integer,
    TraitError,
    Unicode,
    observe,
    validate,
)
from traitlets.config.configurable import Configurable, LoggingConfigurable
from traitlets.log import get_logger

from . import packers as _packers
from ._version import protocol_version
from .adapter import adapt
from .errors import SpecViolation
from .jsonutil import extract_dates, json_clean, json_default, squash_dates, squash_dates_utc
from .message import (
    Message,
    MsgIdFactory,
    current_pid,
    extract_header,
    msg_header,
    new_id,
    new_id_bytes,
    utcnow,
)
from .packers import (
    PICKLE_PROTOCOL,
    has_msgpack,
    has_orjson,
    json_packer,
    json_unpacker,
    orjson_packer,
    orjson_unpacker,
    pickle_packer,
    pickle_unpacker,
)
from .signing import DEFAULT_SCHEME, ReplayHistory, Signer, digest_for_scheme
from .transport import DONE, arecv_frames, asend_frames, recv_frames, send_frames
from .wire import DELIM, Codec, feed_identities

#: What ``extract_dates`` is until someone replaces it here, as jupyter_client users do.
_OWN_EXTRACT_DATES = extract_dates

if has_msgpack:
    from .packers import msgpack_packer, msgpack_unpacker

#: Default of ``Session.item_threshold``. Kept for compatibility with IPython 2, whose
#: Session looked inside containers for buffers; kernelwire does not use it.
MAX_ITEMS = 64
#: Default of ``Session.buffer_threshold``. Kept for compatibility with IPython 2, whose
#: Session moved buffers out of large objects; kernelwire does not use it.
MAX_BYTES = 1024

_DEFAULT_PACKER = "orjson"
_now = datetime.now  # msg() stamps every header: utcnow() without its extra call
_UTC = timezone.utc
_BUILTIN_PACKERS = frozenset(_packers.builtin_packers()) | {"msgpack"}
_CORE_TRAITS = ("pack", "unpack", "key", "signature_scheme", "parse_dates")


def squash_unicode(obj: Any) -> Any:
    """Recursively turn every str (dict keys included) into UTF-8 bytes, in place for
    dicts and lists. Kept for code written against IPython 2's Session."""
    if isinstance(obj, dict):
        for key in list(obj.keys()):
            obj[key] = squash_unicode(obj[key])
            if isinstance(key, str):
                obj[squash_unicode(key)] = obj.pop(key)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            obj[i] = squash_unicode(v)
    elif isinstance(obj, str):
        obj = obj.encode("utf8")
    return obj


#: Command-line aliases for Session options (``--ident``, ``--user``, ``--keyfile``),
#: for traitlets applications, as in jupyter_client.
session_aliases = {
    "ident": "Session.session",
    "user": "Session.username",
    "keyfile": "Session.keyfile",
}

#: Command-line flags ``--secure`` (a new random key) and ``--no-secure`` (no signing),
#: for traitlets applications, as in jupyter_client.
session_flags = {
    "secure": (
        {"Session": {"key": new_id_bytes(), "keyfile": ""}},
        "Use HMAC digests for authentication of messages. Setting this flag will "
        "generate a new UUID to use as the HMAC key.",
    ),
    "no-secure": (
        {"Session": {"key": b"", "keyfile": ""}},
        "Don't authenticate messages.",
    ),
}


def default_secure(cfg: Any) -> None:
    """Set ``cfg.Session.key`` to a new random key unless a key or keyfile is configured."""
    if "Session" in cfg and ("key" in cfg.Session or "keyfile" in cfg.Session):
        return
    cfg.Session.key = new_id_bytes()


class SessionFactory(LoggingConfigurable):
    """A Configurable that builds (or is given) a Session, a zmq Context and an IOLoop."""

    #: The name of the logger; setting it sets ``log``.
    logname = Unicode("")

    @observe("logname")
    def _logname_changed(self, change: Any) -> None:
        self.log = logging.getLogger(change["new"])

    #: The zmq Context; a new one by default.
    context = Instance("zmq.Context")

    def _context_default(self) -> zmq.Context[Any]:
        return zmq.Context()

    #: The Session; built from the options given to the factory when not given.
    session = Instance("kernelwire.session.Session", allow_none=True)

    #: The tornado IOLoop; the current one by default (needs tornado).
    loop = Instance("tornado.ioloop.IOLoop")

    def _loop_default(self) -> Any:
        from tornado.ioloop import IOLoop

        return IOLoop.current()

    def __init__(self, **kwargs: Any) -> None:
        # Session traits (key=..., packer=...) go to the Session it builds; the rest to
        # the factory; config and parent to both. (jupyter_client passes everything to
        # both, which traitlets deprecates.)
        shared = {k: kwargs[k] for k in ("config", "parent") if k in kwargs}
        for_session = {
            k: v
            for k, v in kwargs.items()
            if Session.class_traits().get(k) and not self.has_trait(k)
        }
        for_factory = {k: v for k, v in kwargs.items() if k not in for_session}
        super().__init__(**for_factory)
        if self.session is None:
            self.session = Session(**for_session, **shared)


class Session(Configurable):
    """Builds, signs, sends, receives, verifies and unpacks Jupyter messages.

    Configure it as ``c.Session.<trait>``. ``packer``/``unpacker`` take a built-in name
    (``orjson``, ``json``, ``msgpack``, ``pickle``) or an import string; ``key`` empty
    turns signing off; ``parse_dates=False`` leaves header dates as strings.
    """

    debug = Bool(False, config=True, help="Print every message sent and received.")
    check_pid = Bool(
        True,
        config=True,
        help="Refuse to send from a forked child (the parent's sockets are not the child's).",
    )
    packer = DottedObjectName(
        _DEFAULT_PACKER,
        config=True,
        help="The packer: 'orjson', 'json', 'msgpack', 'pickle' or an import string. "
        "A built-in name sets the unpacker too.",
    )
    unpacker = DottedObjectName(
        _DEFAULT_PACKER,
        config=True,
        help="The unpacker: like packer; a built-in name sets the packer too.",
    )
    #: The packing function itself (set by ``packer``).
    pack = AnyTrait(orjson_packer)
    #: The unpacking function itself (set by ``unpacker``).
    unpack = AnyTrait(orjson_unpacker)
    session = CUnicode("", config=True, help="The UUID identifying this session.")
    #: ``session`` as ASCII bytes (set with it).
    bsession = CBytes(b"")
    username = Unicode(
        os.environ.get("USER", "username"),
        config=True,
        help="Username for the Session. Default is your system username.",
    )
    metadata = Dict(
        {},
        config=True,
        help="Default metadata, merged into the metadata of every message.",
    )
    adapt_version = Integer(0, help="When set, adapt sent messages to this protocol major.")
    key = CBytes(config=True, help="Execution key, for signing messages; empty: no signing.")
    keyfile = Unicode("", config=True, help="Path to a file holding the key.")
    signature_scheme = Unicode(
        DEFAULT_SCHEME,
        config=True,
        help="The signature scheme, 'hmac-<hashlib name>'. Ignored when key is empty.",
    )
    #: The hashlib constructor of ``signature_scheme`` (set with it).
    digest_mod = AnyTrait()
    #: An ``hmac.HMAC`` keyed with ``key`` (None when signing is off), for code that
    #: reads jupyter_client's attribute; kernelwire itself signs with its ``Signer``.
    auth = Instance(hmac.HMAC, allow_none=True)
    #: The signatures already accepted, to refuse replays (a ``ReplayHistory``; a set
    #: assigned here is converted).
    digest_history = Instance(ReplayHistory)
    digest_history_size = Integer(
        2**16,
        config=True,
        help="How many signatures to remember against replays (0: none).",
    )
    parse_dates = Bool(
        True,
        config=True,
        help="Turn ISO 8601 strings of received header and parent_header into aware "
        "datetimes, as jupyter_client does. False keeps them strings: the fastest receive.",
    )
    validate_messages = Enum(
        ("off", "warn", "raise"),
        "off",
        config=True,
        help="Check each received message against the message spec 5.5 "
        "(kernelwire.spec.validate; needs jsonschema): 'off', 'warn' (log a warning and "
        "keep the message) or 'raise' (kernelwire.errors.SpecViolation).",
    )
    #: The process id the sockets belong to; see ``check_pid``.
    pid = Integer()
    copy_threshold = Integer(
        2**16,
        config=True,
        help="Frames of at least this many bytes are sent without copying.",
    )
    buffer_threshold = Integer(
        MAX_BYTES,
        config=True,
        help="Not used by kernelwire (nor by jupyter_client); kept so that configurations "
        "that set it still load.",
    )
    item_threshold = Integer(
        MAX_ITEMS,
        config=True,
        help="Not used by kernelwire (nor by jupyter_client); kept so that configurations "
        "that set it still load.",
    )

    # ----------------------------------------------------------------- trait plumbing

    def _key_default(self) -> bytes:
        return new_id_bytes()

    def _session_default(self) -> str:
        return new_id()

    def _digest_mod_default(self) -> Any:
        return hashlib.sha256

    def _digest_history_default(self) -> ReplayHistory:
        return ReplayHistory(self.digest_history_size)

    @validate("digest_history")
    def _validate_digest_history(self, proposal: Any) -> ReplayHistory:
        value = proposal["value"]
        if isinstance(value, ReplayHistory):
            return value
        return ReplayHistory(self.digest_history_size, value)

    @observe("digest_history")
    def _digest_history_changed(self, change: Any) -> None:
        if self._core is not None:
            self._core.history = change["new"]

    @observe("digest_history_size")
    def _digest_history_size_changed(self, change: Any) -> None:
        self.digest_history.resize(change["new"])

    @observe("session")
    def _session_changed(self, change: Any) -> None:
        self.bsession = change["new"].encode("ascii")
        self._msg_ids.session = change["new"]

    @observe("packer", "unpacker")
    def _packer_changed(self, change: Any) -> None:
        new = change["new"]
        if new in _BUILTIN_PACKERS:
            self.pack = _packers.resolve(new, 0)
            self.unpack = _packers.resolve(new, 1)
            if change["name"] == "packer":
                self.unpacker = new
            else:
                self.packer = new
        else:
            side = "pack" if change["name"] == "packer" else "unpack"
            self.set_trait(side, _packers.import_item(str(new)))

    @validate("pack", "unpack")
    def _validate_callable(self, proposal: Any) -> Any:
        value = proposal["value"]
        if not callable(value):
            raise TraitError(f"{proposal['trait'].name} must be callable, got {value!r}")
        return value

    @validate("signature_scheme")
    def _validate_scheme(self, proposal: Any) -> str:
        try:
            self.digest_mod = digest_for_scheme(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]  # type: ignore[no-any-return]

    @validate("validate_messages")
    def _validate_spec_mode(self, proposal: Any) -> str:
        if proposal["value"] != "off":
            from .spec import require_jsonschema

            require_jsonschema()  # fail when configured, not at the first message
        return proposal["value"]  # type: ignore[no-any-return]

    @observe("validate_messages")
    def _spec_mode_changed(self, change: Any) -> None:
        self._spec_check = _spec_checker(change["new"])

    @observe("keyfile")
    def _keyfile_changed(self, change: Any) -> None:
        with open(change["new"], "rb") as f:
            self.key = f.read().strip()

    @observe(*_CORE_TRAITS)
    def _core_trait_changed(self, change: Any) -> None:
        if self._core is not None:
            self._sync_core()

    @observe("username", "metadata", "check_pid", "adapt_version", "copy_threshold", "debug", "pid")
    def _plain_trait_changed(self, change: Any) -> None:
        setattr(self, "_" + change["name"], change["new"])

    def _sync_core(self) -> None:
        """Rebuild the signer and packers of the core from the traits (on change only)."""
        signer = Signer(self.key, self.signature_scheme)
        self.auth = signer.auth
        core = self._core
        if core is None:
            self._core = Codec(
                signer, self.pack, self.unpack, self.digest_history, self.parse_dates
            )
        else:
            core.signer = signer
            core.set_packers(self.pack, self.unpack)
            core.parse_dates = self.parse_dates

    # ------------------------------------------------------------------ construction

    _core: Codec | None = None
    #: None when validate_messages is off: the receive path tests only this
    _spec_check: Callable[[dict[str, Any]], None] | None = None
    _pid: int  # the pid trait, read per message without trait machinery

    def __init__(self, **kwargs: Any) -> None:
        self._msg_ids = MsgIdFactory("")
        super().__init__(**kwargs)
        self._check_packers()
        session_id = self.session  # the default is made on first read
        self._msg_ids.session = session_id
        self.bsession = session_id.encode("ascii")
        self.pid = current_pid()
        self._username = self.username
        self._metadata = self.metadata
        self._check_pid = self.check_pid
        self._adapt_version = self.adapt_version
        self._copy_threshold = self.copy_threshold
        self._debug = self.debug
        self._sync_core()
        if not self.key:
            get_logger().warning(
                "Message signing is disabled.  This is insecure and not recommended!"
            )

    def _check_packers(self) -> None:
        """Check a custom packer/unpacker pair; wrap a packer that keeps datetimes so that
        dates always come back as ISO strings."""
        pack, unpack = self.pack, self.unpack
        if (pack, unpack) in _packers.builtin_packers().values():
            return
        sample = {"a": [1, "hi"]}
        try:
            packed = pack(sample)
        except Exception as exc:
            raise ValueError(
                f"packer {self.packer!r} could not serialize a simple message: {exc}"
            ) from exc
        if not isinstance(packed, bytes):
            raise ValueError(f"message packed to {type(packed)!r}, but bytes are required")
        try:
            unpacked = unpack(packed)
        except Exception as exc:
            raise ValueError(
                f"unpacker {self.unpacker!r} could not handle output from packer "
                f"{self.packer!r}: {exc}"
            ) from exc
        if unpacked != sample:
            raise ValueError(
                f"unpacker {self.unpacker!r} could not handle output from packer "
                f"{self.packer!r}: got {unpacked!r} back"
            )
        try:
            dates_ok = isinstance(unpack(pack({"t": utcnow()}))["t"], str)
        except Exception:
            dates_ok = False
        if not dates_ok:
            self.pack = _squashing(pack)

    def clone(self) -> Session:
        """A copy with the same configuration and a copy of the replay history.

        Its msg_ids come from the same counter, so they never repeat the original's.
        """
        new_session = type(self)()
        for name in self.traits():
            if name != "digest_history":
                setattr(new_session, name, getattr(self, name))
        new_session.digest_history = self.digest_history.copy()
        new_session._msg_ids = self._msg_ids
        return new_session

    # ----------------------------------------------------------------- building messages

    @property
    def msg_id(self) -> str:
        """A new, unique message id each time it is read."""
        return self._msg_ids()

    @property
    def none(self) -> bytes:
        """The packed empty dict, from the current packer."""
        return self._core.empty  # type: ignore[union-attr]

    def msg_header(self, msg_type: str) -> dict[str, Any]:
        """A new header for ``msg_type``."""
        return msg_header(self._msg_ids(), msg_type, self._username, self._msg_ids.session)

    def msg(
        self,
        msg_type: str,
        content: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The message dict: header, msg_id, msg_type, parent_header, content, metadata."""
        if header is None:
            ids = self._msg_ids
            header = {
                "msg_id": ids(),
                "msg_type": msg_type,
                "username": self._username,
                "session": ids.session,
                "date": _now(_UTC),
                "version": protocol_version,
            }
        msg_metadata = self._metadata.copy()
        if metadata is not None:
            msg_metadata.update(metadata)
        return {
            "header": header,
            "msg_id": header["msg_id"],
            "msg_type": header["msg_type"],
            "parent_header": {} if parent is None else extract_header(parent),
            "content": {} if content is None else content,
            "metadata": msg_metadata,
        }

    def sign(self, msg_list: list[Any]) -> bytes:
        """The signature of the first four packed parts; ``b""`` when signing is off."""
        return self._core.signer.sign(msg_list)  # type: ignore[union-attr]

    def serialize(self, msg: dict[str, Any], ident: Any = None) -> list[bytes]:
        """``[*idents, DELIM, signature, header, parent_header, metadata, content]``.

        Content: None -> the packed ``{}``; a dict is packed; bytes pass through as
        already packed; str is UTF-8 encoded; anything else is a TypeError.
        """
        return self._core.serialize(msg, ident)  # type: ignore[union-attr]

    # ----------------------------------------------------------------------- sending

    def send(
        self,
        stream: Any,
        msg_or_type: dict[str, Any] | str,
        content: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
        ident: bytes | list[bytes] | None = None,
        buffers: list[Any] | None = None,
        track: bool = False,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Build (or take) a message, sign it and send it on ``stream``.

        ``stream`` is a zmq.Socket; a zmq.asyncio.Socket (sent as on a blocking socket,
        as jupyter_client does, so at the high-water mark it blocks the event loop: use
        ``asend`` in a coroutine); a ZMQStream (queued, sent by its IOLoop); or None (the
        message is built, nothing is sent). A dict given as ``msg_or_type``
        is sent as it is (its header is kept) with its ``buffers``; it is not modified.
        Buffers: anything with the buffer protocol, C- or Fortran-contiguous (TypeError,
        ValueError otherwise), sent as their raw memory. When the largest frame reaches
        ``copy_threshold`` bytes the message goes zero-copy, and ``track=True`` then
        returns a real MessageTracker, done when libzmq has released every buffer; do
        not modify the buffers before. Returns a copy of the message with ``tracker``.

        In a forked child (``check_pid`` on, pid not ``pid``) nothing is sent: the
        parent's sockets are not the child's. A warning is logged and None returned, as
        in jupyter_client. A child that made its own sockets sets ``check_pid = False``
        or adopts its pid (``session.pid = os.getpid()``). Fork detection costs no
        system call per message: the pid is refreshed by ``os.register_at_fork``.
        """
        msg, frames, copy = self._prepare(
            msg_or_type, content, parent, ident, buffers, header, metadata
        )
        if frames is None:
            return None
        if stream is not None:
            msg["tracker"] = send_frames(stream, frames, copy=copy, track=track)
        else:
            msg["tracker"] = DONE
        if self._debug:
            _print_sent(msg, frames)
        return msg

    async def asend(
        self,
        stream: Any,
        msg_or_type: dict[str, Any] | str,
        content: dict[str, Any] | None = None,
        parent: dict[str, Any] | None = None,
        ident: bytes | list[bytes] | None = None,
        buffers: list[Any] | None = None,
        track: bool = False,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """``send`` as a coroutine, for a zmq.asyncio.Socket (asyncio, or anyio on
        its asyncio backend). At the high-water mark it waits for room while the event
        loop runs on. A blocking zmq.Socket is waited on the same way; a ZMQStream
        queues. Same arguments, result and forked-child behaviour as ``send``."""
        msg, frames, copy = self._prepare(
            msg_or_type, content, parent, ident, buffers, header, metadata
        )
        if frames is None:
            return None
        if stream is not None:
            msg["tracker"] = await asend_frames(stream, frames, copy=copy, track=track)
        else:
            msg["tracker"] = DONE
        if self._debug:
            _print_sent(msg, frames)
        return msg

    def _prepare(
        self,
        msg_or_type: dict[str, Any] | str,
        content: Any,
        parent: Any,
        ident: Any,
        buffers: list[Any] | None,
        header: Any,
        metadata: Any,
    ) -> tuple[dict[str, Any], list[Any] | None, bool]:
        """The message to return, its frames (None in a forked child), and the copy flag."""
        if isinstance(msg_or_type, dict):
            msg = dict(msg_or_type)
            buffers = buffers or msg.get("buffers") or []
        else:
            msg = self.msg(
                msg_or_type, content=content, parent=parent, header=header, metadata=metadata
            )
        if self._check_pid and current_pid() != self._pid:
            get_logger().warning("WARNING: attempted to send message from fork\n%s", msg)
            return msg, None, True
        views = _buffer_views(buffers) if buffers else ()
        if self._adapt_version:
            msg = adapt(msg, self._adapt_version)
        frames = self._core.serialize(msg, ident)  # type: ignore[union-attr]
        longest = max(map(len, frames))
        if views:
            frames.extend(buffers)  # type: ignore[arg-type]
            longest = max(longest, *(v.nbytes for v in views))  # bytes, not len()
        return msg, frames, longest < self._copy_threshold

    def _raw_frames(self, msg_list: list[Any], ident: Any) -> list[Any] | None:
        """Signed frames for ``send_raw``; None (with a warning) in a forked child."""
        if self._check_pid and current_pid() != self._pid:
            get_logger().warning("WARNING: attempted to send raw message from fork")
            return None
        return self._core.signed_frames(msg_list, ident)  # type: ignore[union-attr]

    def send_raw(
        self,
        stream: Any,
        msg_list: list[Any],
        flags: int = 0,
        copy: bool = True,
        ident: bytes | list[bytes] | None = None,
    ) -> None:
        """Send already-packed parts ``[header, parent, metadata, content, *buffers]``,
        signing the first four. Like ``send``, nothing is sent from a forked child
        while ``check_pid`` is on."""
        frames = self._raw_frames(msg_list, ident)
        if frames is not None:
            send_frames(stream, frames, copy=copy, flags=flags)

    async def asend_raw(
        self,
        stream: Any,
        msg_list: list[Any],
        flags: int = 0,
        copy: bool = True,
        ident: bytes | list[bytes] | None = None,
    ) -> None:
        """``send_raw`` as a coroutine: waits for room without blocking the loop."""
        frames = self._raw_frames(msg_list, ident)
        if frames is not None:
            await asend_frames(stream, frames, copy=copy, flags=flags)

    # --------------------------------------------------------------------- receiving

    def recv(
        self,
        socket: Any,
        mode: int = zmq.NOBLOCK,
        content: bool = True,
        copy: bool = True,
    ) -> tuple[list[bytes] | None, dict[str, Any] | None]:
        """Receive one message: ``(identities, message)``, or ``(None, None)`` when
        ``mode`` is NOBLOCK and nothing waits. ``socket`` may be a zmq.Socket, a
        zmq.asyncio.Socket (read as a blocking socket) or a ZMQStream (its socket is read).
        ``copy=False``: buffers are memoryviews over the received zmq Frames."""
        frames = recv_frames(socket, mode, copy)
        if frames is None:
            return None, None
        idents, msg_list = feed_identities(frames)
        return idents, self.deserialize(msg_list, content=content, copy=copy)

    async def arecv(
        self,
        socket: Any,
        mode: int = 0,
        content: bool = True,
        copy: bool = True,
    ) -> tuple[list[bytes] | None, dict[str, Any] | None]:
        """``recv`` as a coroutine. Unlike ``recv``, the default ``mode=0`` AWAITS a
        message (the event loop runs meanwhile); ``mode=zmq.NOBLOCK`` returns
        ``(None, None)`` at once when nothing waits. A ZMQStream's messages go to its
        ``on_recv`` callback, so on a ZMQStream only NOBLOCK is accepted (TypeError)."""
        frames = await arecv_frames(socket, mode, copy)
        if frames is None:
            return None, None
        idents, msg_list = feed_identities(frames)
        return idents, self.deserialize(msg_list, content=content, copy=copy)

    #: Split the frames at DELIM: ``(identities as bytes, the rest)``. This is
    #: ``kernelwire.wire.feed_identities`` itself, so receiving pays for no wrapper call.
    feed_identities = staticmethod(feed_identities)

    def deserialize(
        self, msg_list: Sequence[Any], content: bool = True, copy: bool = True
    ) -> dict[str, Any]:
        """The message dict from the frames after DELIM; see ``Codec.deserialize``.

        ``content=False`` peeks: the signature is verified but not recorded and the
        content stays packed. Buffers are memoryviews (zero-copy over zmq Frames).
        """
        if extract_dates is _OWN_EXTRACT_DATES:  # two global reads: the hot path's only cost
            message = self._core.deserialize(msg_list, content)  # type: ignore[union-attr]
        else:
            message = self._deserialize_with_replaced_dates(msg_list, content)
        if self._spec_check is not None and content:
            self._spec_check(message)
        if self._debug:
            pprint.pprint(message)
        return message

    def _deserialize_with_replaced_dates(
        self, msg_list: Sequence[Any], content: bool
    ) -> dict[str, Any]:
        """Code written for jupyter_client turns date parsing off (or changes it) by replacing
        the module-level ``extract_dates`` (ipyparallel does ``jupyter_client.session.
        extract_dates = lambda obj: obj``); as there, the replacement gets header and
        parent_header, unless ``parse_dates`` is off."""
        undated_core = copy.copy(self._core)  # shares signer, packers and history
        undated_core.parse_dates = False  # type: ignore[union-attr]
        message = undated_core.deserialize(msg_list, content)  # type: ignore[union-attr]
        if self.parse_dates:
            message["header"] = extract_dates(message["header"])
            message["parent_header"] = extract_dates(message["parent_header"])
        return message

    def unserialize(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Deprecated: the IPython 2 name of ``deserialize``."""
        warnings.warn(
            "Session.unserialize is deprecated; use Session.deserialize",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.deserialize(*args, **kwargs)

    def _add_digest(self, signature: bytes) -> None:
        """Remember ``signature`` as seen (evicting the oldest when over size)."""
        self.digest_history.add(signature)


def _spec_checker(mode: str) -> Callable[[dict[str, Any]], None] | None:
    """The check ``deserialize`` runs for ``Session.validate_messages``: None for "off"."""
    if mode == "off":
        return None
    from .spec import validate as validate_message

    if mode == "raise":
        return validate_message

    def log_violation(message: dict[str, Any]) -> None:
        try:
            validate_message(message)
        except SpecViolation as exc:
            get_logger().warning("received a message that breaks the spec: %s", exc)

    return log_violation


def _print_sent(msg: dict[str, Any], frames: list[Any]) -> None:
    pprint.pprint(msg)
    pprint.pprint(frames)


def _squashing(pack: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def squashing_pack(obj: Any) -> bytes:
        return pack(squash_dates_utc(obj))

    return squashing_pack


def _buffer_views(buffers: list[Any]) -> list[memoryview]:
    views = []
    for index, buf in enumerate(buffers):
        try:
            view = buf if isinstance(buf, memoryview) else memoryview(buf)
        except TypeError:
            raise TypeError(
                f"Buffer objects must support the buffer protocol (buffer {index} is a "
                f"{type(buf).__name__})"
            ) from None
        if not view.contiguous:
            raise ValueError(f"Buffer {index} ({view!r}) is not contiguous")
        views.append(view)
    return views


__all__ = [
    "DELIM",
    "DONE",
    "MAX_BYTES",
    "MAX_ITEMS",
    "PICKLE_PROTOCOL",
    "Message",
    "Session",
    "SessionFactory",
    "adapt",
    "default_secure",
    "extract_dates",
    "extract_header",
    "has_msgpack",
    "has_orjson",
    "json_clean",
    "json_default",
    "json_packer",
    "json_unpacker",
    "msg_header",
    "new_id",
    "new_id_bytes",
    "orjson_packer",
    "orjson_unpacker",
    "pickle_packer",
    "pickle_unpacker",
    "protocol_version",
    "session_aliases",
    "session_flags",
    "squash_dates",
    "squash_unicode",
    "utcnow",
]
if has_msgpack:
    __all__ += ["msgpack_packer", "msgpack_unpacker"]
