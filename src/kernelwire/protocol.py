"""Protocol rules shared by kernelwire's clients, its reference kernel and its CLI.

Sans-IO: plain values only, no sockets, so the client, the kernel and the command line
agree on them by importing them from one place.
"""

from __future__ import annotations

#: The ``input_reply`` value meaning "no more input" (the frontend's stdin is at end of
#: file, or its user pressed Ctrl-D): ipython-style kernels raise ``EOFError`` in the
#: ``input()`` call that asked, as plain Python does at end of input.
EOF_INPUT = "\x04"

#: The five channels of a kernel connection, named as in connection files (``<name>_port``).
CHANNELS = ("shell", "iopub", "stdin", "control", "hb")

#: MIME types whose data is text on the wire although they are not ``text/*``.
_TEXT_LIKE_MIMES = frozenset({"application/javascript", "image/svg+xml"})


def reply_type(msg_type: str) -> str | None:
    """The reply's type for a request's: ``execute_request`` -> ``execute_reply``; None
    when ``msg_type`` is not a request (comm messages, for instance, get no reply)."""
    if not msg_type.endswith("_request"):
        return None
    return msg_type[: -len("_request")] + "_reply"


def is_binary_mime(mime: str) -> bool:
    """True when a MIME bundle carries this type's data as base64 text (images other than
    SVG, PDF...), False for text, JSON (``application/json``, ``*+json``), SVG and
    JavaScript, which travel as they are."""
    if mime.startswith("text/") or mime in _TEXT_LIKE_MIMES:
        return False
    return not (mime == "application/json" or mime.endswith("+json"))


__all__ = ["CHANNELS", "EOF_INPUT", "is_binary_mime", "reply_type"]
