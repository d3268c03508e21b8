"""The launcher's side of the kernel startup handshake (protocol 5.6, JEP 66).

The launcher binds a ROUTER on a port the system picks, so no port is chosen for the kernel
ahead of time and none can be taken from under it. The kernel, told this address by a
registration file, binds its own five ports and reports them here; the launcher answers
with a signed acknowledgement and then writes an ordinary connection file for clients.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import zmq

from ..handshake import (
    MAX_HANDSHAKE_MESSAGE,
    HandshakeError,
    pack_acknowledgement,
    unpack_registration,
)
from ..signing import Signer
from ..wire import DELIM

log = logging.getLogger("kernelwire.client")


class Registrar:
    """A registration socket waiting for one kernel, identified by a new ``kernel_id``."""

    def __init__(
        self,
        key: str,
        signature_scheme: str,
        *,
        ip: str = "127.0.0.1",
        context: zmq.Context[Any] | None = None,
    ) -> None:
        #: The id the registration file gives the kernel; its registration must carry it.
        self.kernel_id = str(uuid.uuid4())
        self._signer = Signer(key.encode(), signature_scheme)
        self._socket = (context or zmq.Context.instance()).socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_HANDSHAKE_MESSAGE)
        self._socket.linger = 1000  # time for the acknowledgement to leave on close
        #: The port the registration socket is bound to, on ``ip``.
        self.port = self._socket.bind_to_random_port(f"tcp://{ip}")
        #: Refused messages, by reason: kept for the error if the kernel never registers.
        self.refusals: list[str] = []

    def wait_for_kernel(self, still_running: Any, timeout: float) -> dict[str, int]:
        """The kernel's five ports, once it has registered and been acknowledged.

        ``still_running()`` is polled so a kernel that dies is noticed at once. A message
        that is not this kernel's signed registration is logged and ignored: a stray or
        hostile peer cannot end the wait. TimeoutError after ``timeout`` seconds;
        ChildProcessError when the kernel exits first.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the kernel did not register within {timeout:g} s")
            if not still_running():
                raise ChildProcessError("the kernel exited before it registered")
            if not self._socket.poll(min(left, 0.1) * 1000):
                continue
            frames = self._socket.recv_multipart()
            try:
                ports = unpack_registration(self._signer, frames, self.kernel_id)
            except HandshakeError as exc:
                self.refusals.append(str(exc))
                log.warning("registration socket: refused a message: %s", exc)
                continue
            identities = frames[: frames.index(DELIM)]
            self._socket.send_multipart([*identities, *pack_acknowledgement(self._signer)])
            return ports

    def close(self) -> None:
        """Close the registration socket (after the acknowledgement has gone out)."""
        self._socket.close()


__all__ = ["Registrar"]
