"""kernelwire: a fast, strict, wire-compatible Jupyter messaging Session over ZeroMQ.

``import kernelwire`` loads neither zmq nor traitlets. The modules that define the message
format (``wire``, ``signing``, ``packers``, ``jsonutil``, ``message``, ``adapter``) do no
input or output and work without them, over any transport. ``kernelwire.Session`` loads
the zmq-based, configurable Session the first time it is used.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__, protocol_version, protocol_version_info
from .errors import (
    BadFrame,
    DuplicateSignature,
    InvalidSignature,
    MalformedMessage,
    MissingDelimiter,
    MissingHeaderField,
    SignatureError,
    SpecViolation,
    TooFewFrames,
    UnsignedMessage,
    WireError,
)

_LAZY = {"Session": "session", "SessionFactory": "session", "Codec": "wire", "Message": "message"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'kernelwire' has no attribute {name!r}")


__all__ = [
    "BadFrame",
    "Codec",
    "DuplicateSignature",
    "InvalidSignature",
    "MalformedMessage",
    "Message",
    "MissingDelimiter",
    "MissingHeaderField",
    "Session",
    "SessionFactory",
    "SignatureError",
    "SpecViolation",
    "TooFewFrames",
    "UnsignedMessage",
    "WireError",
    "__version__",
    "protocol_version",
    "protocol_version_info",
]
