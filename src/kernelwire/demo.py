"""A two-Session demo: one signed message over a real tcp socket, printed on arrival."""

from __future__ import annotations

import logging
import pprint

import zmq

from .session import Session


def run_demo() -> int:
    """Send a signed execute_request from a client Session to a kernel Session and print
    the message the kernel side receives and verifies."""
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    key = b"kernelwire-demo-key"
    client = Session(key=key, signature_scheme="hmac-sha256", username="demo")
    kernel = Session(key=key, signature_scheme="hmac-sha256", username="kernel")
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    dealer = context.socket(zmq.DEALER)
    try:
        port = router.bind_to_random_port("tcp://127.0.0.1")
        dealer.connect(f"tcp://127.0.0.1:{port}")
        sent = client.send(dealer, "execute_request", {"code": "print(6*7)", "silent": False})
        assert sent is not None
        if not router.poll(5000):
            print("no message arrived within 5 s")
            return 1
        _identities, message = kernel.recv(router, mode=0)
        print(f"sent {sent['msg_id']} over tcp://127.0.0.1:{port}; received and verified:")
        printable = {k: v for k, v in (message or {}).items() if k != "buffers"}
        pprint.pprint(printable, sort_dicts=False)
        return 0
    finally:
        dealer.close(linger=0)
        router.close(linger=0)
        context.term()
