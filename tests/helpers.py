"""Plain helpers shared by the socket tests: endpoints, connected socket pairs, a receive
that never waits forever, and a bounded asyncio run. (Fixtures live in conftest.py; tests
is not a package, pytest puts this folder on sys.path, so tests ``import helpers``.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zmq

from kernelwire.connect import channel_url

WAIT_MS = 10_000


def ipykernel_answers_unknown_subshells() -> bool:
    """ipykernel 7.4 answers a request for an unknown subshell with UnknownSubshellError;
    7.3 (the newest for Python 3.10) leaves shell requests for one unanswered and refuses
    a delete naming only the id (a KeyError's text)."""
    import ipykernel

    return tuple(int(part) for part in ipykernel.__version__.split(".")[:2]) >= (7, 4)


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


def wait_until_serving(
    info: dict[str, Any], process: subprocess.Popen[Any], timeout: float = 60.0
) -> None:
    """Wait until a kernel launched by hand answers a heartbeat.

    A jupyter_client BlockingKernelClient without a KernelManager judges liveness by its
    heartbeat alone, and one ping unanswered for a second reads as death: its
    wait_for_ready then raises "Kernel died before replying to kernel_info". A kernel still
    starting (more than a second on a loaded machine) is not dead; attach such a client
    once the kernel serves, as a frontend attaching to an existing kernel does.
    """
    context: zmq.Context[Any] = zmq.Context()
    req = context.socket(zmq.REQ)
    req.linger = 0
    try:
        req.connect(channel_url(info, "hb"))
        req.send(b"ping")
        deadline = time.monotonic() + timeout
        while not req.poll(100):
            assert process.poll() is None, f"the kernel exited with code {process.returncode}"
            assert time.monotonic() < deadline, "the kernel did not answer a heartbeat"
    finally:
        req.close()
        context.term()


@contextmanager
def jupyter_path(path: str | None) -> Iterator[None]:
    """JUPYTER_PATH set to ``path`` inside the block (left as it is for None), then
    restored: kernelspecs installed for a test are seen only while it looks them up."""
    saved = os.environ.get("JUPYTER_PATH")
    if path is not None:
        os.environ["JUPYTER_PATH"] = path
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


def install_reference_kernelspec(prefix: str | Path, name: str) -> str:
    """Install the reference kernel's kernelspec as ``name`` under ``prefix``, as a user
    would (``python -m kernelwire.kernel install``); returns the Jupyter path to find it."""
    command = [sys.executable, "-m", "kernelwire.kernel", "install"]
    subprocess.run(
        [*command, "--prefix", str(prefix), "--name", name],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return os.path.join(prefix, "share", "jupyter")


def start_managed_kernel(
    kernel_name: str,
    spec_dir: str | None = None,
    timeout: float = 30.0,
    transport_encryption: str = "disabled",
    **start_kwargs: Any,
) -> tuple[Any, Any]:
    """A jupyter_client KernelManager and a ready BlockingKernelClient for the kernelspec
    ``kernel_name``, looked up in ``spec_dir`` first (JUPYTER_PATH, restored afterwards);
    ``transport_encryption`` is the manager's CurveZMQ policy; ``start_kwargs`` go to
    ``start_kernel`` (env, stderr...)."""
    from jupyter_client.manager import KernelManager

    with jupyter_path(spec_dir):
        km = KernelManager(kernel_name=kernel_name, transport_encryption=transport_encryption)
        km.start_kernel(**start_kwargs)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
    except BaseException:
        stop_managed_kernel((km, kc))
        raise
    return km, kc


def stop_managed_kernel(kernel: tuple[Any, Any], now: bool = True) -> None:
    km, kc = kernel
    kc.stop_channels()
    km.shutdown_kernel(now=now)


@contextmanager
def reference_kernel() -> Iterator[Any]:
    """The reference kernel in a process of its own (a ``KernelProcess``), cleaned up after."""
    from kernelwire.client import start_kernel

    process = start_kernel()
    try:
        yield process
    finally:
        process.cleanup(timeout=5)


def stream_texts_until_idle(client: Any, msg_id: str, timeout: float) -> list[str]:
    """The text of each ``stream`` message of request ``msg_id``, up to its idle status, read
    from a jupyter_client client's IOPub (other requests' messages skipped)."""
    texts: list[str] = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            texts.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return texts


def stdout_of(messages: list[dict[str, Any]]) -> str:
    """The stdout text among ``messages`` (however the kernel split it into messages)."""
    return "".join(
        m["content"]["text"]
        for m in messages
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )
