"""Plain helpers shared by the socket tests: endpoints, connected socket pairs, a receive
that never waits forever, and a bounded asyncio run. (Fixtures live in conftest.py; tests
is not a package, pytest puts this folder on sys.path, so tests ``import helpers``.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq

WAIT_MS = 10_000
RUN_TIMEOUT = 20.0


def endpoint(transport: str, tmp_path: Path) -> str:
    """An address no other test uses: a fresh inproc name, an ipc path under tmp_path, or
    a random tcp port."""
    if transport == "inproc":
        return f"inproc://{uuid.uuid4().hex}"
    if transport == "ipc":
        return f"ipc://{tmp_path / 'sock'}"
    return "tcp://127.0.0.1:*"


def bound_pair(
    ctx: zmq.Context[Any],
    kinds: tuple[int, int],
    addr: str,
    routing_id: bytes = b"",
    hwm: int | None = None,
    kernel_buffer: int | None = None,
) -> tuple[Any, Any]:
    """Bind a socket of the first kind to ``addr`` and connect one of the second kind to
    it (with ``routing_id``, high-water marks and kernel buffer sizes set before either
    end is attached); linger 0 so the context can always be destroyed."""
    bound = ctx.socket(kinds[0])
    connected = ctx.socket(kinds[1])
    for sock in (bound, connected):
        sock.linger = 0
        if hwm is not None:
            sock.sndhwm = sock.rcvhwm = hwm
        if kernel_buffer is not None:
            sock.sndbuf = sock.rcvbuf = kernel_buffer
    if routing_id:
        connected.routing_id = routing_id
    bound.bind(addr)
    connected.connect(bound.last_endpoint)
    return bound, connected


def recv_within(
    session: Any, sock: zmq.Socket[Any], copy: bool = True, timeout_ms: int = WAIT_MS
) -> tuple[Any, Any]:
    """``session.recv`` once a message is there, failing (not hanging) when none comes."""
    assert sock.poll(timeout_ms, zmq.POLLIN), "no message within the timeout"
    return session.recv(sock, mode=zmq.NOBLOCK, copy=copy)


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = RUN_TIMEOUT) -> Any:
    """Run ``coro_fn()`` on a fresh event loop, cancelled after ``timeout`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(bounded())
