"""The transport's one check of pyzmq's internals: on with the pyzmq the project is tested
with (this file fails loudly when a pyzmq release changes them), naming what a changed
pyzmq lacks, and the public-API path chosen by the environment variable. The transport
tests themselves run both ways (the ``pyzmq_paths`` fixture in conftest.py)."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from typing import Any

import pytest
import zmq
import zmq.asyncio
import zmq.backend

from helpers import bound_pair, run
from kernelwire import transport
from kernelwire.session import Session

KEY = b"pyzmq-paths-key"

pytestmark = pytest.mark.usefixtures("quiet_logs")


def test_the_installed_pyzmq_has_what_the_fast_paths_use() -> None:
    """Fails when a pyzmq upgrade changes the internals the fast paths read: the transport
    would then silently fall back to the slower public API."""
    assert transport._pyzmq_internals_missing() == [], f"pyzmq {zmq.__version__}"
    assert transport.pyzmq_internals_in_use()
    assert transport._send_one is zmq.backend.Socket.send
    assert transport._recv_one is zmq.backend.Socket.recv


def test_the_fast_paths_read_an_asyncio_socket_directly() -> None:
    """The instance layout the class-level check cannot see: pyzmq's queues of waiters
    are deques, and an idle asyncio socket is read directly (the signed frames come as
    bytes; pyzmq's own recv_multipart would give zmq Frames)."""
    ctx = zmq.asyncio.Context()
    try:
        router, dealer = bound_pair(ctx, (zmq.ROUTER, zmq.DEALER), "inproc://direct", b"d")
        assert isinstance(dealer._send_futures, collections.deque)
        assert isinstance(dealer._recv_futures, collections.deque)
        session = Session(key=KEY)

        async def main() -> list[Any] | None:
            await session.asend(dealer, "kernel_info_request", buffers=[b"x" * 100_000])
            assert await router.poll(10_000) == zmq.POLLIN
            return await transport.arecv_frames(router, copy=False)

        frames = run(main)
        assert frames is not None
        assert [type(f) for f in frames[:7]] == [bytes] * 7  # identity .. content
        assert isinstance(frames[7], zmq.Frame)  # the buffer, not copied
    finally:
        ctx.destroy(linger=0)


def test_the_check_names_what_a_changed_pyzmq_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pyzmq whose asyncio socket keeps no queue of waiters, then one whose backend has
    other methods: the check lists each missing piece, and switching on refuses with them."""
    owner = next(c for c in zmq.asyncio.Socket.__mro__ if "_send_futures" in vars(c))
    monkeypatch.delattr(owner, "_send_futures")
    assert transport._pyzmq_internals_missing() == ["zmq.asyncio.Socket._send_futures"]
    monkeypatch.setattr(zmq.backend, "Socket", object)
    missing = transport._pyzmq_internals_missing()
    assert missing[:2] == [
        "zmq.backend.Socket.send(data, flags, copy, track)",
        "zmq.backend.Socket.recv(flags, copy, track)",
    ]
    monkeypatch.setattr(transport, "_PYZMQ_INTERNALS_MISSING", missing)
    with pytest.raises(RuntimeError, match=r"lacks .*zmq\.backend\.Socket\.send"):
        transport.use_pyzmq_internals(True)
    assert transport.pyzmq_internals_in_use()  # a refused switch changes nothing


def test_the_environment_variable_selects_the_public_api() -> None:
    """KERNELWIRE_PYZMQ_INTERNALS=0 at import: public API only, and messages still flow."""
    script = (
        "import zmq\n"
        "from kernelwire import transport\n"
        "from kernelwire.session import Session\n"
        "assert not transport.pyzmq_internals_in_use()\n"
        "ctx = zmq.Context()\n"
        "a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)\n"
        "a.bind('inproc://env'); b.connect('inproc://env')\n"
        "s = Session(key=b'k')\n"
        "s.send(a, 'status', {'execution_state': 'idle'})\n"
        "assert b.poll(10_000)\n"
        "print(s.recv(b)[1]['content']['execution_state'])\n"
        "ctx.destroy(linger=0)\n"
    )
    env = {**os.environ, "KERNELWIRE_PYZMQ_INTERNALS": "0"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "idle"
