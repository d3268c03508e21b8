"""The protocol rules shared by client, kernel and command (kernelwire.protocol)."""

from __future__ import annotations

import base64

import pytest

from kernelwire.connect import CHANNELS as CONNECTION_CHANNELS
from kernelwire.kernel.display import format_object
from kernelwire.protocol import CHANNELS, EOF_INPUT, is_binary_mime, reply_type


def test_reply_type_of_requests_only() -> None:
    assert reply_type("execute_request") == "execute_reply"
    assert reply_type("create_subshell_request") == "create_subshell_reply"
    assert reply_type("debug_request") == "debug_reply"
    assert reply_type("request_request") == "request_reply"  # only the suffix changes
    for not_a_request in ("comm_msg", "comm_open", "execute_reply", "requests", ""):
        assert reply_type(not_a_request) is None


@pytest.mark.parametrize(
    ("mime", "binary"),
    [
        ("image/png", True),
        ("image/jpeg", True),
        ("image/gif", True),
        ("application/pdf", True),
        ("image/svg+xml", False),
        ("application/javascript", False),
        ("text/html", False),
        ("text/plain", False),
        ("application/json", False),
        ("application/vnd.plotly.v1+json", False),
    ],
)
def test_binary_mime_types(mime: str, binary: bool) -> None:
    assert is_binary_mime(mime) is binary


def test_one_list_of_channels_and_the_eof_signal() -> None:
    assert CONNECTION_CHANNELS is CHANNELS
    assert CHANNELS == ("shell", "iopub", "stdin", "control", "hb")
    assert EOF_INPUT == "\x04"


def test_any_binary_type_from_a_repr_goes_out_as_base64() -> None:
    """A GIF (not in the kernel's old list of binary types) used to be decoded as UTF-8
    with replacement characters, losing the image."""
    gif = b"GIF89a\x01\x00\x01\x00\x80\xff\x00"

    class Picture:
        def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict:
            return {"image/gif": gif, "image/svg+xml": b"<svg/>"}

    data, _metadata = format_object(Picture())
    assert base64.b64decode(data["image/gif"]) == gif
    assert data["image/svg+xml"] == "<svg/>"
