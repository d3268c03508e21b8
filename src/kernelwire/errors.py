"""The exceptions kernelwire raises for messages it cannot accept.

Every class also inherits the builtin that ``jupyter_client.session`` raises for the same
case, so ``except ValueError`` written against jupyter_client keeps working. Messages say
what was wrong with the frames; they never contain the signing key.
"""

from __future__ import annotations


class WireError(Exception):
    """Base class: a received message (or a message to send) is not acceptable."""


class MalformedMessage(WireError):
    """The frames do not form a Jupyter message."""


class MissingDelimiter(MalformedMessage, ValueError):
    """No ``<IDS|MSG>`` delimiter frame separates the identities from the message."""


class TooFewFrames(MalformedMessage, TypeError):
    """Fewer than the 5 frames (signature, header, parent, metadata, content) follow DELIM."""


class MissingHeaderField(MalformedMessage, KeyError):
    """The header lacks a mandatory field (``msg_id`` or ``msg_type``)."""

    def __init__(self, field: str, message: str | None = None) -> None:
        #: The missing field's name.
        self.field = field
        super().__init__(message or f"message header has no {field!r} field")

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message and wrap it in quotes.
        return str(self.args[0])

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # rebuilt from (field, message), not from args, e.g. across a process pool
        return type(self), (self.field, str(self.args[0]))


class BadFrame(MalformedMessage, ValueError):
    """A frame could not be unpacked, or unpacked to the wrong type.

    ``frame`` names it: ``"header"``, ``"parent_header"``, ``"metadata"`` or ``"content"``.
    """

    def __init__(self, frame: str, reason: str) -> None:
        #: Which frame: ``"header"``, ``"parent_header"``, ``"metadata"`` or ``"content"``.
        self.frame = frame
        #: What was wrong with it.
        self.reason = reason
        super().__init__(f"bad {frame} frame: {reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (self.frame, self.reason)


class SpecViolation(WireError, ValueError):
    """A message breaks the message spec: a field is missing, has the wrong type or a value
    the spec does not allow (raised by ``kernelwire.spec.validate``).

    ``field`` is the dotted path of the offending field, e.g. ``"content.execution_count"``
    or ``"content.traceback[2]"`` (``""`` for the message itself).
    """

    def __init__(self, msg_type: str | None, field: str, reason: str) -> None:
        #: The message's type, or None when the header does not give a usable one.
        self.msg_type = msg_type
        #: The dotted path of the field that is wrong.
        self.field = field
        #: What is wrong with it.
        self.reason = reason
        where = f"{msg_type} message" if msg_type else "message"
        super().__init__(f"{where}: {field or 'the message'} {reason}")

    def __reduce__(self) -> tuple[type, tuple[str | None, str, str]]:
        return type(self), (self.msg_type, self.field, self.reason)


class SignatureError(WireError, ValueError):
    """The message failed authentication."""


class UnsignedMessage(SignatureError):
    """The signature frame is empty but this Session has a key."""


class InvalidSignature(SignatureError):
    """The signature does not match the message under this Session's key and scheme."""


class DuplicateSignature(SignatureError):
    """A valid signature that was already accepted: a replayed message."""


__all__ = [
    "BadFrame",
    "DuplicateSignature",
    "InvalidSignature",
    "MalformedMessage",
    "MissingDelimiter",
    "MissingHeaderField",
    "SignatureError",
    "SpecViolation",
    "TooFewFrames",
    "UnsignedMessage",
    "WireError",
]
