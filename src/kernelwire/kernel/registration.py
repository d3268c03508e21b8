"""The kernel's side of the startup handshake (protocol 5.6, JEP 66).

Given a registration file instead of a connection file, the kernel binds its five sockets
on ports the system picks (port 0), then reports them to the launcher's registration
address and waits for the signed acknowledgement before it serves anyone.
"""

from __future__ import annotations

import json
from typing import Any

import zmq

from ..connect import PORT_FIELDS, ConnectionFileError, read_connection_file
from ..handshake import (
    MAX_HANDSHAKE_MESSAGE,
    HandshakeError,
    check_acknowledgement,
    check_registration_info,
    is_registration_info,
    pack_registration,
)
from ..signing import Signer

#: How long the kernel waits for the launcher's acknowledgement before giving up.
ACK_TIMEOUT = 30.0


def connection_info_to_bind(registration: dict[str, Any]) -> dict[str, Any]:
    """Connection info for a kernel started on ``registration`` (a checked registration
    file): its ip, transport, key and scheme, and port 0 for every channel, to be replaced
    by the ports actually bound."""
    return {
        "ip": registration["ip"],
        "transport": registration["transport"],
        "key": registration["key"],
        "signature_scheme": registration["signature_scheme"],
        "kernel_name": registration.get("kernel_name", ""),
        **dict.fromkeys(PORT_FIELDS, 0),
    }


def read_kernel_file(path: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What ``-f`` names: ``(connection info, None)`` for a connection file, or, for a
    registration file, ``(connection info with port 0 everywhere, registration info)``.
    ConnectionFileError naming the field when either is malformed."""
    source = f"connection file {path!r}"
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read())
    except (OSError, ValueError, RecursionError):
        return read_connection_file(path), None  # it words each of these errors
    if not is_registration_info(raw):
        return read_connection_file(path), None
    registration = check_registration_info(raw, source.replace("connection", "registration"))
    if registration["transport"] != "tcp":
        raise ConnectionFileError(f"{source}: the startup handshake needs the tcp transport")
    return connection_info_to_bind(registration), registration


def register(
    context: zmq.Context[Any],
    registration: dict[str, Any],
    ports: dict[str, int],
    timeout: float = ACK_TIMEOUT,
) -> None:
    """Report ``ports`` to the launcher named in ``registration`` and wait for its signed
    acknowledgement; HandshakeError if the answer is not one, TimeoutError if none comes."""
    signer = Signer(registration["key"].encode(), registration["signature_scheme"])
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.setsockopt(zmq.MAXMSGSIZE, MAX_HANDSHAKE_MESSAGE)
    try:
        dealer.connect(
            f"tcp://{registration['registration_ip']}:{registration['registration_port']}"
        )
        dealer.send_multipart(pack_registration(signer, registration["kernel_id"], ports))
        if not dealer.poll(timeout * 1000):
            raise TimeoutError(
                f"the launcher did not acknowledge the registration within {timeout:g} s"
            )
        check_acknowledgement(signer, dealer.recv_multipart())
    finally:
        dealer.close()


__all__ = [
    "ACK_TIMEOUT",
    "HandshakeError",
    "connection_info_to_bind",
    "read_kernel_file",
    "register",
]
