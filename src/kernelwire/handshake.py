"""The kernel startup handshake of protocol 5.6 (JEP 66), without I/O.

Instead of a connection file naming five ports chosen by the launcher (which another
process may take before the kernel binds them), the launcher writes a *registration file*
naming its own registration address. The kernel binds its five sockets wherever the system
lets it, connects a DEALER to that address and sends its ports in one signed frame; the
launcher acknowledges with another. Both messages are ``[<IDS|MSG>, signature, content]``
after any routing identities, the signature being the HMAC of the content frame alone.

Interoperability notes, from xeus-zmq (the other implementation of both sides): it reads
``registration_port`` as a string and requires ``ip`` (where the kernel binds), so the
registration files written here carry both; ports in the handshake content are strings, as
the messaging spec shows. Both forms of every port are accepted on reading.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

from .connect import PORT_FIELDS, TRANSPORTS, ConnectionFileError, _write_private
from .errors import InvalidSignature, UnsignedMessage, WireError
from .signing import DEFAULT_SCHEME, Signer, digest_for_scheme
from .wire import DELIM

#: The fields a registration file must have (``signature_scheme`` defaults to hmac-sha256).
REGISTRATION_FIELDS = ("kernel_id", "transport", "ip", "registration_ip", "registration_port")
#: Longest handshake content accepted: five ports and an id fit in far less.
MAX_HANDSHAKE_CONTENT = 4096
#: Longest message either end's socket takes (ZMQ_MAXMSGSIZE): a peer sending more is cut
#: off by libzmq before its message is held in memory.
MAX_HANDSHAKE_MESSAGE = 64 * 1024


class HandshakeError(WireError, ValueError):
    """A handshake message (ports or acknowledgement) is malformed, unsigned or wrongly signed."""


def is_registration_info(info: Any) -> bool:
    """True when ``info`` (a connection or registration file's content) asks for the
    handshake: it names a registration address instead of five ports."""
    return isinstance(info, dict) and bool(info.get("registration_ip"))


def _port(value: Any, where: str, highest: int) -> int:
    """A port given as an integer or a decimal string, checked; ``where`` names it."""
    if isinstance(value, str) and value.isdecimal() and len(value) <= 10:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be a port number, got {type(value).__name__}")
    if not 0 < value <= highest:
        raise ValueError(f"{where} must be between 1 and {highest}, got {value}")
    return value


def check_registration_info(info: Any, source: str = "registration info") -> dict[str, Any]:
    """A checked copy of a registration file's content, ``registration_port`` as an int;
    ConnectionFileError naming the field otherwise."""
    if not isinstance(info, dict):
        raise ConnectionFileError(f"{source}: must be a JSON object, got {type(info).__name__}")
    checked = dict(info)
    checked.setdefault("signature_scheme", DEFAULT_SCHEME)
    checked.setdefault("key", "")
    for field in (*REGISTRATION_FIELDS, "signature_scheme", "key"):
        if field not in checked:
            raise ConnectionFileError(f"{source}: missing field {field!r}")
        if field != "registration_port" and not isinstance(checked[field], str):
            raise ConnectionFileError(
                f"{source}: field {field!r} must be a string, got {type(checked[field]).__name__}"
            )
    if checked["transport"] not in TRANSPORTS:
        raise ConnectionFileError(
            f"{source}: field 'transport' must be one of {TRANSPORTS}, got {checked['transport']!r}"
        )
    highest = 65535 if checked["transport"] == "tcp" else 2**31
    try:
        checked["registration_port"] = _port(
            checked["registration_port"], "field 'registration_port'", highest
        )
    except ValueError as exc:
        raise ConnectionFileError(f"{source}: {exc}") from None
    try:
        digest_for_scheme(checked["signature_scheme"])
    except ValueError as exc:
        raise ConnectionFileError(f"{source}: field 'signature_scheme': {exc}") from None
    return checked


def write_registration_file(
    fname: str | os.PathLike[str],
    *,
    registration_port: int,
    registration_ip: str = "127.0.0.1",
    ip: str = "127.0.0.1",
    transport: str = "tcp",
    key: str,
    signature_scheme: str = DEFAULT_SCHEME,
    kernel_id: str | None = None,
    kernel_name: str = "",
) -> dict[str, Any]:
    """Write a registration file (mode 0o600: it holds the key); returns what it holds.

    ``registration_port`` is written as a string, the form xeus-zmq reads (a kernel reading
    the spec's integer form with ``int()`` reads it too).
    """
    info = {
        "kernel_id": kernel_id or str(uuid.uuid4()),
        "transport": transport,
        "ip": ip,
        "registration_ip": registration_ip,
        "registration_port": str(registration_port),
        "signature_scheme": signature_scheme,
        "key": key,
        "kernel_name": kernel_name,
    }
    check_registration_info(info, "registration info to write")
    _write_private(os.fspath(fname), json.dumps(info, indent=2))
    return info


def _signed(signer: Signer, content: bytes) -> list[bytes]:
    return [DELIM, signer.sign([content]), content]


def _verified_content(signer: Signer, frames: Sequence[bytes], what: str) -> bytes:
    """The content frame of a handshake message whose routing identities are already
    removed or come before the delimiter; HandshakeError unless well formed and signed."""
    frames = [bytes(f) for f in frames]
    try:
        start = frames.index(DELIM) + 1
    except ValueError:
        raise HandshakeError(f"{what}: no <IDS|MSG> delimiter among its frames") from None
    rest = frames[start:]
    if len(rest) != 2:
        raise HandshakeError(
            f"{what}: {len(rest)} frames after the delimiter where the handshake has 2 "
            "(signature, content)"
        )
    signature, content = rest
    if len(content) > MAX_HANDSHAKE_CONTENT:
        raise HandshakeError(
            f"{what}: content of {len(content)} bytes, over {MAX_HANDSHAKE_CONTENT}"
        )
    try:
        signer.verify(signature, [content, b"", b"", b""])
    except (UnsignedMessage, InvalidSignature) as exc:
        raise HandshakeError(f"{what}: {exc}") from None
    return content


def pack_registration(signer: Signer, kernel_id: str, ports: dict[str, int]) -> list[bytes]:
    """The kernel's message: its id and its five ports (as strings), signed."""
    content = {"kernel_id": kernel_id, **{field: str(ports[field]) for field in PORT_FIELDS}}
    return _signed(signer, json.dumps(content).encode())


def unpack_registration(
    signer: Signer, frames: Sequence[bytes], kernel_id: str, transport: str = "tcp"
) -> dict[str, int]:
    """The five ports from a kernel's message (the launcher's side); HandshakeError if it
    is unsigned, wrongly signed, malformed, or from another kernel id."""
    content = _verified_content(signer, frames, "kernel registration")
    try:
        ports = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HandshakeError(f"kernel registration: content is not JSON: {exc}") from None
    if not isinstance(ports, dict):
        raise HandshakeError(
            f"kernel registration: content must be a JSON object, got {type(ports).__name__}"
        )
    if ports.get("kernel_id") != kernel_id:
        raise HandshakeError(
            f"kernel registration: kernel_id {ports.get('kernel_id')!r} is not the one in "
            f"the registration file ({kernel_id!r})"
        )
    highest = 65535 if transport == "tcp" else 2**31
    checked = {}
    for field in PORT_FIELDS:
        if field not in ports:
            raise HandshakeError(f"kernel registration: missing field {field!r}")
        try:
            checked[field] = _port(ports[field], f"field {field!r}", highest)
        except ValueError as exc:
            raise HandshakeError(f"kernel registration: {exc}") from None
    return checked


#: The acknowledgement's content; the spec leaves it to the implementation and kernels only
#: check its signature.
ACK_CONTENT = b'{"status": "ok"}'


def pack_acknowledgement(signer: Signer) -> list[bytes]:
    """The launcher's signed acknowledgement (after the kernel's routing identity)."""
    return _signed(signer, ACK_CONTENT)


def check_acknowledgement(signer: Signer, frames: Sequence[bytes]) -> None:
    """HandshakeError unless ``frames`` are a signed acknowledgement (the kernel's side)."""
    _verified_content(signer, frames, "registration acknowledgement")


__all__ = [
    "ACK_CONTENT",
    "MAX_HANDSHAKE_CONTENT",
    "MAX_HANDSHAKE_MESSAGE",
    "REGISTRATION_FIELDS",
    "HandshakeError",
    "check_acknowledgement",
    "check_registration_info",
    "is_registration_info",
    "pack_acknowledgement",
    "pack_registration",
    "unpack_registration",
    "write_registration_file",
]
