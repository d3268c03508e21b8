"""A stand-in kernel for the startup handshake, written with raw pyzmq from the messaging
spec's text (not with kernelwire), so the launcher is tested against an independent peer.

Usage: python raw_registering_kernel.py REGISTRATION_FILE MODE

It binds five ports, then registers with the launcher according to MODE:
- ``honest``: sends junk first (a wrong signature, then another kernel id), then the right
  message; checks the acknowledgement's signature; then echoes on its heartbeat port;
- ``exit``: prints a line and exits with code 3 before registering;
- ``silent``: never registers.
"""

import hashlib
import hmac
import json
import sys
import time

import zmq

path, mode = sys.argv[1], sys.argv[2]
with open(path) as f:
    registration = json.load(f)
if mode == "exit":
    print("raw kernel: giving up before registering")
    sys.exit(3)
if mode == "silent":
    time.sleep(600)

key = registration["key"].encode()
ctx = zmq.Context()
ports = {}
sockets = {}
for name, kind in [
    ("shell", zmq.ROUTER),
    ("iopub", zmq.PUB),
    ("stdin", zmq.ROUTER),
    ("control", zmq.ROUTER),
    ("hb", zmq.REP),
]:
    sockets[name] = ctx.socket(kind)
    ports[f"{name}_port"] = str(sockets[name].bind_to_random_port(f"tcp://{registration['ip']}"))


def sign(content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).hexdigest().encode()


def send(dealer, content: bytes, signature: bytes) -> None:
    dealer.send_multipart([b"<IDS|MSG>", signature, content])


dealer = ctx.socket(zmq.DEALER)
dealer.linger = 1000
dealer.connect(f"tcp://{registration['registration_ip']}:{registration['registration_port']}")
good = json.dumps({"kernel_id": registration["kernel_id"], **ports}).encode()
send(dealer, good, b"0" * 64)  # wrongly signed
other = json.dumps({"kernel_id": "someone-else", **ports}).encode()
send(dealer, other, sign(other))  # signed, but another kernel's id
send(dealer, good, sign(good))
if not dealer.poll(30_000):
    sys.exit("raw kernel: no acknowledgement")
_delim, signature, content = dealer.recv_multipart()
if not hmac.compare_digest(signature, sign(content)):
    sys.exit("raw kernel: acknowledgement wrongly signed")
dealer.close()
print("raw kernel: registered", flush=True)
while True:
    sockets["hb"].send(sockets["hb"].recv())
