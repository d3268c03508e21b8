"""Message ids, headers, and the attribute-access ``Message``."""

from __future__ import annotations

import os
from binascii import b2a_hex
from datetime import datetime, timezone
from itertools import count
from typing import Any

from ._version import protocol_version

utc = timezone.utc


def new_id() -> str:
    """A new random id: 16 random bytes as hex, in two dash-separated chunks."""
    buf = os.urandom(16)
    return b2a_hex(buf[:4]).decode("ascii") + "-" + b2a_hex(buf[4:]).decode("ascii")


def new_id_bytes() -> bytes:
    """``new_id`` as ASCII bytes (a key for signing, an identity)."""
    return new_id().encode("ascii")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(utc)


class _Pid:
    """This process's pid, refreshed in a forked child (no getpid() per message)."""

    value = os.getpid()


def _refresh_pid() -> None:
    _Pid.value = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_refresh_pid)


def current_pid() -> int:
    """The pid as of the last fork, without a system call."""
    return _Pid.value


class MsgIdFactory:
    """Makes msg_ids ``<session>_<pid>_<n>`` like jupyter_client.

    ``itertools.count`` hands out each n exactly once even across threads (its ``next``
    is atomic under the GIL), so no lock is needed. A fresh factory starts its own count.
    """

    __slots__ = ("_counter", "session")

    def __init__(self, session: str, start: int = 0) -> None:
        #: The session id that starts every msg_id.
        self.session = session
        self._counter = count(start)

    def __call__(self) -> str:
        return f"{self.session}_{_Pid.value}_{next(self._counter)}"


def msg_header(msg_id: str, msg_type: str, username: str, session: Any) -> dict[str, Any]:
    """A new message header; ``session`` may be a Session object or its id string."""
    if not isinstance(session, str):
        session = session.session
    return {
        "msg_id": msg_id,
        "msg_type": msg_type,
        "username": username,
        "session": session,
        "date": utcnow(),
        "version": protocol_version,
    }


def extract_header(msg_or_header: Any) -> dict[str, Any]:
    """The header of a message, or the header itself; ``{}`` for a falsy value.

    Anything that is neither a message nor a header raises KeyError.
    """
    if not msg_or_header:
        return {}
    try:
        header = msg_or_header["header"]
    except KeyError:
        try:
            msg_or_header["msg_id"]
        except KeyError:
            raise
        header = msg_or_header
    if not isinstance(header, dict):
        header = dict(header)
    return header  # type: ignore[no-any-return]


class Message(dict):  # type: ignore[type-arg]
    """A message dict that also answers attribute access: ``m.header.msg_id``.

    Nested dicts are wrapped too. Unlike jupyter_client's Message, it is a real dict, so
    it can be serialized and sent as it is.
    """

    def __init__(self, msg_dict: Any = (), **kwargs: Any) -> None:
        super().__init__(msg_dict, **kwargs)
        for k, v in self.items():
            if isinstance(v, dict) and not isinstance(v, Message):
                dict.__setitem__(self, k, Message(v))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __str__(self) -> str:
        return dict.__repr__(self)

    def __repr__(self) -> str:
        return dict.__repr__(self)

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *(k for k in self if isinstance(k, str))]


__all__ = [
    "Message",
    "MsgIdFactory",
    "current_pid",
    "extract_header",
    "msg_header",
    "new_id",
    "new_id_bytes",
    "utcnow",
]
