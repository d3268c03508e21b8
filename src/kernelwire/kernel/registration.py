"""The kernel's side of the startup handshake (protocol 5.6, JEP 66).

Given a registration file instead of a connection file, the kernel binds its five sockets
on ports the system picks (port 0), then reports them to the launcher's registration
address and waits for the signed acknowledgement before it serves anyone.
"""

from __future__ import annotations

from typing import Any

import zmq

from ..connect import PORT_FIELDS
from ..handshake import HandshakeError, check_acknowledgement, pack_registration
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


def bound_port(socket: zmq.Socket[Any]) -> int:
    """The port a tcp socket bound with port 0 ended up on."""
    endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
    return int(endpoint.rsplit(":", 1)[1])


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
    dealer.setsockopt(zmq.MAXMSGSIZE, 64 * 1024)
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


__all__ = ["ACK_TIMEOUT", "HandshakeError", "bound_port", "connection_info_to_bind", "register"]
