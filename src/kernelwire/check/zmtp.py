"""A subscriber speaking ZMTP 3.0 itself, for the IOPub subscription flood.

Shared by ``kernelwire check`` and benchmarks/hostile_peers.py.
"""

from __future__ import annotations

import select
import socket as socketlib
import time


class RawSubscriber:
    """A subscriber speaking ZMTP 3.0 itself over a plain TCP socket.

    Not a libzmq XSUB: an XSUB keeps its subscriptions in a trie that it frees recursively,
    one stack frame per topic byte, so closing one that subscribed a 1 MB topic overflows
    the stack of libzmq's reaper thread and kills the attacker. Here a subscription is only
    the frame ``b"\\x01" + topic`` on the wire (ZMTP 3.0 subscriptions are messages); what the
    publisher sends back is counted, not kept.
    """

    def __init__(self, url: str, timeout: float) -> None:
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        self.sock = socketlib.create_connection((host, int(port)), timeout)
        null_mechanism = b"NULL".ljust(20, b"\0")
        self.sock.sendall(b"\xff" + bytes(8) + b"\x7f\x03\x00" + null_mechanism + bytes(32))
        ready = b"\x05READY" + b"\x0bSocket-Type" + (4).to_bytes(4, "big") + b"XSUB"
        self._send_frame(ready, command=True)
        self._inbox = bytearray()
        self._greeted = False
        self._commands = 0
        self.messages = 0  # complete messages received, commands not counted
        # libzmq reads any frame that comes before it has sent its own READY as a handshake
        # command (and drops the connection): wait for that READY first.
        deadline = time.monotonic() + timeout
        while not self._commands:
            if not self.receive(max(0.0, deadline - time.monotonic())):
                raise ConnectionError(f"no ZMTP handshake from {url} within {timeout}s")

    def subscribe(self, topic: bytes) -> None:
        self._send_frame(b"\x01" + topic)

    def close(self) -> None:
        self.sock.close()

    def _send_frame(self, body: bytes, command: bool = False) -> None:
        flags = 0x04 if command else 0x00
        if len(body) > 255:
            head = bytes([flags | 0x02]) + len(body).to_bytes(8, "big")
        else:
            head = bytes([flags, len(body)])
        self.sock.sendall(head + body)

    def receive(self, wait: float) -> bool:
        """Read what arrives within ``wait`` seconds; whether anything did."""
        ready, _, _ = select.select([self.sock], [], [], max(0.0, wait))
        if not ready:
            return False
        chunk = self.sock.recv(4 * 1024 * 1024)
        if not chunk:
            return False
        self._inbox += chunk
        self._parse()
        return True

    def _parse(self) -> None:
        inbox = self._inbox
        if not self._greeted:
            if len(inbox) < 64:
                return
            del inbox[:64]
            self._greeted = True
        while len(inbox) >= 2:
            flags = inbox[0]
            head = 9 if flags & 0x02 else 2
            if len(inbox) < head:
                return
            size = int.from_bytes(inbox[1:9], "big") if flags & 0x02 else inbox[1]
            if len(inbox) < head + size:
                return
            del inbox[: head + size]
            if flags & 0x04:
                self._commands += 1
            elif not flags & 0x01:  # the last frame of a message
                self.messages += 1

    def drain(self, quiet: float, timeout: float, want: int) -> None:
        deadline = time.monotonic() + timeout
        while self.messages < want and time.monotonic() < deadline and self.receive(quiet):
            pass
