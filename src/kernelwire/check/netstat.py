"""Listening TCP sockets from /proc (Linux), and which processes own them.

Enough to see where a kernel's sockets are bound and to find a running kernel's pid from
its shell port, without depending on psutil.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    ip: str
    port: int
    inode: int


def _address(hex_ip: str) -> str:
    """The text form of /proc/net/tcp's address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_ip)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listeners() -> list[Listener] | None:
    """Every listening TCP socket (v4 and v6); None where /proc/net is not readable."""
    found: list[Listener] = []
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            hex_ip, hex_port = fields[1].split(":")
            found.append(Listener(_address(hex_ip), int(hex_port, 16), int(fields[9])))
    return found if readable else None


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets ``pid`` holds open (empty when we may not look)."""
    inodes: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def owner_of(inode: int) -> int | None:
    """The pid of a process holding the socket ``inode`` (among those we may look at)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and inode in socket_inodes(int(entry)):
            return int(entry)
    return None


def same_address(bound: str, wanted: str) -> bool:
    """Whether a socket bound to ``bound`` listens only where ``wanted`` says (an IPv4
    address may show as its IPv4-mapped IPv6 form)."""
    try:
        bound_ip = ipaddress.ip_address(bound)
        wanted_ip = ipaddress.ip_address("127.0.0.1" if wanted == "localhost" else wanted)
    except ValueError:
        return False
    if isinstance(bound_ip, ipaddress.IPv6Address) and bound_ip.ipv4_mapped:
        bound_ip = bound_ip.ipv4_mapped
    return bound_ip == wanted_ip
