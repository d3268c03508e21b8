"""A fake kernel made of raw pyzmq sockets and a kernelwire Session, run as its own process
by test_client_robustness.py. It misbehaves on request, as no real kernel does on demand:

- ``execute_request`` with code ``reply twice``: the execute_reply is sent, then the very
  same frames again (a replay), and the idle status only a moment later;
- code ``reply twice rebuilt``: two different execute_replies to the one request (the
  first says ``"which": "first"``), then idle a moment later;
- code ``flood``: busy, then IOPub stream messages parented to the request, as fast as
  the socket takes them, for ``FLOOD_SECONDS``; shell goes unanswered meanwhile (a busy
  kernel), the heartbeat stays answered;
- anything else: busy, an ok reply, idle.

Usage: ``python scripted_kernel.py CONNECTION_FILE KEY``; the connection file is written
(atomically) once the sockets are bound.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import zmq

from kernelwire.session import Session
from kernelwire.wire import feed_identities

#: How long a flood lasts at most: longer than any test waits, shorter than forever.
FLOOD_SECONDS = 60.0
#: A moment between a duplicated reply and the idle status, so the client sees the
#: duplicate while it still waits for the request.
IDLE_DELAY = 0.3


class ScriptedKernel:
    def __init__(self, key: bytes) -> None:
        self.session = Session(key=key)
        self.context = zmq.Context()
        self.shell = self._bind(zmq.ROUTER)
        self.control = self._bind(zmq.ROUTER)
        self.stdin = self._bind(zmq.ROUTER)
        self.iopub = self._bind(zmq.XPUB)
        self.hb = self._bind(zmq.REP)
        self.poller = zmq.Poller()
        for socket in (self.shell, self.control, self.iopub, self.hb):
            self.poller.register(socket, zmq.POLLIN)

    def _bind(self, kind: int) -> Any:
        socket = self.context.socket(kind)
        socket.linger = 0
        socket.bind("tcp://127.0.0.1:*")
        return socket

    def connection_info(self, key: bytes) -> dict[str, Any]:
        def port(socket: Any) -> int:
            return int(socket.last_endpoint.decode().rsplit(":", 1)[1])

        return {
            "transport": "tcp",
            "ip": "127.0.0.1",
            "shell_port": port(self.shell),
            "control_port": port(self.control),
            "stdin_port": port(self.stdin),
            "iopub_port": port(self.iopub),
            "hb_port": port(self.hb),
            "key": key.decode(),
            "signature_scheme": "hmac-sha256",
        }

    def publish(self, msg_type: str, content: dict[str, Any], parent: dict[str, Any]) -> None:
        self.session.send(self.iopub, msg_type, content, parent=parent)

    def status(self, state: str, parent: dict[str, Any]) -> None:
        self.publish("status", {"execution_state": state}, parent)

    def handle_events(self, timeout_ms: int) -> list[tuple[Any, list[bytes]]]:
        """Answer heartbeats and drop subscriptions; return the requests that arrived."""
        arrived = []
        for socket, _ in self.poller.poll(timeout_ms):
            frames = socket.recv_multipart()
            if socket is self.hb:
                socket.send_multipart(frames)
            elif socket is not self.iopub:
                arrived.append((socket, frames))
        return arrived

    def serve(self) -> None:
        while True:
            for socket, frames in self.handle_events(1000):
                idents, msg = feed_identities(frames)
                request = self.session.deserialize(msg)
                self.answer(socket, idents, request)

    def answer(self, socket: Any, idents: list[bytes], request: dict[str, Any]) -> None:
        msg_type = request["msg_type"]
        self.status("busy", request)
        if msg_type == "kernel_info_request":
            content = {"status": "ok", "protocol_version": "5.3", "implementation": "scripted"}
            self.session.send(socket, "kernel_info_reply", content, request, idents)
        elif msg_type == "execute_request":
            self.execute(socket, idents, request)
            return
        else:
            reply_type = msg_type.replace("_request", "_reply")
            self.session.send(socket, reply_type, {"status": "ok"}, request, idents)
        self.status("idle", request)

    def execute(self, socket: Any, idents: list[bytes], request: dict[str, Any]) -> None:
        code = request["content"]["code"]
        reply = {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}
        if code == "flood":
            self.flood(request)
        if code == "reply twice":
            message = self.session.msg("execute_reply", reply, parent=request)
            frames = self.session.serialize(message, idents)
            socket.send_multipart(frames)
            socket.send_multipart(frames)
            time.sleep(IDLE_DELAY)
        elif code == "reply twice rebuilt":
            for which in ("first", "second"):
                content = {**reply, "which": which}
                self.session.send(socket, "execute_reply", content, request, idents)
            time.sleep(IDLE_DELAY)
        else:
            self.session.send(socket, "execute_reply", reply, request, idents)
        self.status("idle", request)

    def flood(self, request: dict[str, Any]) -> None:
        """Stream messages as fast as they go out, each signed (a header made from a packed
        template costs far less to sign than verifying and parsing it costs the client)."""
        pack = self.session.pack
        template = pack({**self.session.msg_header("stream"), "msg_id": "flood-%d"})
        parent = pack(request["header"])
        metadata = pack({})
        content = pack({"name": "stdout", "text": "x" * 100 + "\n"})
        count = 0
        until = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < until:
            for _ in range(100):
                count += 1
                packed = template.replace(b"flood-%d", b"flood-%d" % count)
                parts = [packed, parent, metadata, content]
                signature = self.session.sign(parts)
                self.iopub.send_multipart([b"<IDS|MSG>", signature, *parts])
            self.handle_events(0)


def main() -> None:
    path, key = sys.argv[1], sys.argv[2].encode()
    kernel = ScriptedKernel(key)
    with open(path + ".tmp", "w") as file:
        json.dump(kernel.connection_info(key), file)
    os.replace(path + ".tmp", path)
    kernel.serve()


if __name__ == "__main__":
    main()
