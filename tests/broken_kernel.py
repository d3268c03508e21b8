"""A deliberately broken kernel for ``kernelwire check``'s tests, in raw pyzmq.

It signs what it sends, but never verifies what it receives (so unsigned, wrongly signed
and replayed requests all run) and never publishes busy/idle. Its completer answers the
first request with no match at all, as a completer out of time would (ipykernel's once
did on a loaded machine), and offers ``print`` after. Everything else is plain:
kernel_info, execute (stdout captured and published as a stream), shutdown.

    python tests/broken_kernel.py -f CONNECTION_FILE
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import sys
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any

import zmq

DELIM = b"<IDS|MSG>"
#: Requests answered with a fixed, well-formed reply (beyond ``status: ok``).
SIMPLE_REPLIES: dict[str, dict[str, Any]] = {
    "complete_request": {"matches": ["print"], "cursor_start": 0, "cursor_end": 4, "metadata": {}},
    "inspect_request": {"found": False, "data": {}, "metadata": {}},
    "is_complete_request": {"status": "unknown"},
    "history_request": {"history": []},
    "comm_info_request": {"comms": {}},
}


def main() -> None:
    with open(sys.argv[sys.argv.index("-f") + 1]) as f:
        info = json.load(f)
    key = info["key"].encode()
    context = zmq.Context()
    url = f"tcp://{info['ip']}:"
    sockets = {}
    for name, kind in (
        ("shell", zmq.ROUTER),
        ("control", zmq.ROUTER),
        ("stdin", zmq.ROUTER),
        ("iopub", zmq.PUB),
        ("hb", zmq.REP),
    ):
        sockets[name] = context.socket(kind)
        sockets[name].bind(url + str(info[f"{name}_port"]))
    namespace: dict[str, Any] = {}
    count = 0
    completions = 0

    def send(
        sock: zmq.Socket[Any],
        idents: list[bytes],
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any],
    ) -> None:
        header = {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "broken",
            "session": "broken",
            "version": "5.3",
            "date": datetime.now(timezone.utc).isoformat(),
        }
        parts = [json.dumps(p).encode() for p in (header, parent, {}, content)]
        mac = hmac.new(key, digestmod="sha256")
        for part in parts:
            mac.update(part)
        sock.send_multipart([*idents, DELIM, mac.hexdigest().encode(), *parts])

    poller = zmq.Poller()
    for name in ("shell", "control", "hb"):
        poller.register(sockets[name], zmq.POLLIN)
    while True:
        for sock, _ in poller.poll():
            frames = sock.recv_multipart()
            if sock is sockets["hb"]:
                sock.send_multipart(frames)
                continue
            try:  # no signature check at all: the bug under test
                at = frames.index(DELIM)
                idents, header = frames[:at], json.loads(frames[at + 2])
                content = json.loads(frames[at + 5])
            except (ValueError, IndexError):
                continue
            if not isinstance(header, dict) or not isinstance(content, dict):
                continue
            msg_type = header.get("msg_type")
            if msg_type == "kernel_info_request":
                send(
                    sock,
                    idents,
                    "kernel_info_reply",
                    {
                        "status": "ok",
                        "protocol_version": "5.3",
                        "implementation": "broken",
                        "implementation_version": "0",
                        "banner": "",
                        "language_info": {
                            "name": "python",
                            "version": sys.version.split()[0],
                            "mimetype": "text/x-python",
                            "file_extension": ".py",
                        },
                    },
                    header,
                )
            elif msg_type == "complete_request" and completions == 0:
                completions += 1
                empty = {**SIMPLE_REPLIES[msg_type], "matches": [], "cursor_end": 0}
                send(sock, idents, "complete_reply", {"status": "ok", **empty}, header)
            elif msg_type in SIMPLE_REPLIES:
                reply_type = msg_type.replace("_request", "_reply")
                send(sock, idents, reply_type, {"status": "ok", **SIMPLE_REPLIES[msg_type]}, header)
            elif msg_type == "execute_request":
                count += 1
                send(
                    sockets["iopub"],
                    [b"execute_input"],
                    "execute_input",
                    {"code": content.get("code", ""), "execution_count": count},
                    header,
                )
                out = io.StringIO()
                reply: dict[str, Any] = {"status": "ok", "execution_count": count}
                try:
                    with contextlib.redirect_stdout(out):
                        exec(str(content.get("code", "")), namespace)
                except BaseException as exc:  # KeyboardInterrupt too: interrupts work
                    reply = {
                        "status": "error",
                        "execution_count": count,
                        "ename": type(exc).__name__,
                        "evalue": str(exc),
                        "traceback": traceback.format_exception_only(exc),
                    }
                if out.getvalue():
                    send(
                        sockets["iopub"],
                        [b"stream"],
                        "stream",
                        {"name": "stdout", "text": out.getvalue()},
                        header,
                    )
                send(sock, idents, "execute_reply", reply, header)
            elif msg_type == "shutdown_request":
                send(sock, idents, "shutdown_reply", {"status": "ok", "restart": False}, header)
                return


if __name__ == "__main__":
    main()
