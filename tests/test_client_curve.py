"""Our clients and ipykernel 7.4 or the reference kernel started with CurveZMQ by jupyter_client's
``KernelManager(transport_encryption="required")``: both clients drive it with the keys
of its connection file; a client without them gets a clear timeout; and a TCP forwarder
between client and kernel that records every byte finds the code of a cell in the clear
without Curve and nowhere with it."""

from __future__ import annotations

import json
import selectors
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from helpers import WAIT_MS, run, start_managed_kernel, stop_managed_kernel
from kernelwire.client import AsyncClient, BlockingClient, KernelDied, KernelTimeout, start_kernel
from kernelwire.kernel.kernelspec import kernel_json
from kernelwire.protocol import CHANNELS

READY_TIMEOUT = 60.0


def _connection_info(km: Any) -> dict[str, Any]:
    with open(km.connection_file) as f:
        return json.load(f)  # type: ignore[no-any-return]


KERNELS = ["ipykernel", "kernelwire"]


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Jupyter path holding the reference kernel's kernelspec as its installer writes it
    (it declares ``supported_encryption: ["curve"]``)."""
    root = tmp_path_factory.mktemp("curve-specs")
    spec = root / "kernels" / "kernelwire"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(kernel_json()))
    return str(root)


def _start(kernel: str, spec_dir: str, **options: Any) -> Any:
    if kernel == "ipykernel":
        return start_managed_kernel("python3", **options)
    return start_managed_kernel("kernelwire", spec_dir, **options)


@pytest.fixture(scope="module", params=KERNELS)
def curve_kernel(request: pytest.FixtureRequest, spec_dir: str) -> Iterator[dict[str, Any]]:
    """ipykernel, and the reference kernel, started by jupyter_client with Curve required;
    its connection info."""
    managed = _start(request.param, spec_dir, transport_encryption="required")
    try:
        yield _connection_info(managed[0])
    finally:
        stop_managed_kernel(managed)


def test_jupyter_client_gave_the_kernel_curve_keys(curve_kernel: dict[str, Any]) -> None:
    assert len(curve_kernel["curve_publickey"]) == len(curve_kernel["curve_secretkey"]) == 40


def test_blocking_client_drives_a_curve_kernel(curve_kernel: dict[str, Any]) -> None:
    with BlockingClient(curve_kernel) as client:
        assert client.hb.mechanism == client.shell.mechanism == zmq.CURVE
        client.wait_for_ready(READY_TIMEOUT)
        result = client.execute("print('over curve'); 6 * 7", timeout=READY_TIMEOUT)
        assert result.status == "ok"
        assert result.stdout == "over curve\n"
        assert result.result == {"text/plain": "42"}
        assert client.is_alive(READY_TIMEOUT)  # the heartbeat speaks Curve too


def test_async_client_drives_a_curve_kernel(curve_kernel: dict[str, Any]) -> None:
    async def main() -> None:
        async with AsyncClient(curve_kernel) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            result = await client.execute("print('async curve')", timeout=READY_TIMEOUT)
            assert result.stdout == "async curve\n"
            assert await client.is_alive(READY_TIMEOUT)

    run(main, timeout=2 * READY_TIMEOUT)


def _without_keys(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if not k.startswith("curve_")}


def test_a_client_without_the_keys_gets_no_answer(curve_kernel: dict[str, Any]) -> None:
    with (
        BlockingClient(_without_keys(curve_kernel), heartbeat_timeout=1.0) as client,
        pytest.raises((KernelTimeout, KernelDied), match="heartbeat"),
    ):
        client.wait_for_ready(2.0)


class CurveOnlyPeer:
    """A TCP listener that greets every connection as a ZMTP 3.0 CURVE server (the 64-byte
    greeting of the ZMTP spec) and then says nothing more, without closing. A client with
    no keys reads the greeting, fails its handshake with a protocol error, and libzmq drops
    that connection for good: a blocking send on the socket then waits forever. (A real
    Curve kernel often closes first, and the client then retries, so the outcome would
    depend on timing.) ``info`` is connection info with every channel on this listener."""

    GREETING = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"CURVE".ljust(20, b"\0") + b"\x01"

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        port = self._listener.getsockname()[1]
        self.info = {f"{c}_port": port for c in CHANNELS} | {"ip": "127.0.0.1", "key": "k"}
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._accepted.append(conn)
            conn.sendall(self.GREETING.ljust(64, b"\0"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in (self._listener, *self._accepted):
            sock.close()


@pytest.fixture
def curve_only_peer() -> Iterator[dict[str, Any]]:
    peer = CurveOnlyPeer()
    yield peer.info
    peer.close()


REFUSED = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL


def test_blocking_is_alive_is_false_after_a_refused_handshake(
    curve_only_peer: dict[str, Any],
) -> None:
    """Regression: the heartbeat ping was a blocking send, which hung for ever."""
    with BlockingClient(curve_only_peer) as client:
        monitor = client.hb.get_monitor_socket(REFUSED)
        try:
            assert monitor.poll(WAIT_MS), "the handshake did not fail"
            assert client.is_alive(1.0) is False
        finally:
            monitor.close(linger=0)


def test_async_is_alive_is_false_after_a_refused_handshake(
    curve_only_peer: dict[str, Any],
) -> None:
    """Regression: the heartbeat ping's send was not bounded by the timeout."""

    async def main() -> None:
        async with AsyncClient(curve_only_peer, heartbeat_timeout=1.0) as client:
            monitor = client.hb.get_monitor_socket(REFUSED)
            try:
                assert await monitor.poll(WAIT_MS), "the handshake did not fail"
                assert await client.is_alive(1.0) is False
            finally:
                monitor.close(linger=0)

    run(main)


class RecordingForwarder:
    """One TCP listener per channel, each connection forwarded to the kernel's port, every
    byte passed in either direction kept in ``recorded``. ``info`` is the connection info
    pointing at the forwarder."""

    def __init__(self, kernel_info: dict[str, Any]) -> None:
        self.recorded = bytearray()
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self.info = dict(kernel_info)
        for channel in CHANNELS:
            listener = socket.create_server(("127.0.0.1", 0))
            self._sockets.append(listener)
            self._selector.register(listener, selectors.EVENT_READ, kernel_info[f"{channel}_port"])
            self.info[f"{channel}_port"] = listener.getsockname()[1]
        self._thread = threading.Thread(target=self._forward, daemon=True)
        self._thread.start()

    def _forward(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(0.05):
                source: Any = key.fileobj
                if isinstance(key.data, int):  # a listener: the kernel's port
                    conn, _ = source.accept()
                    upstream = socket.create_connection(("127.0.0.1", key.data))
                    self._sockets += [conn, upstream]
                    self._selector.register(conn, selectors.EVENT_READ, upstream)
                    self._selector.register(upstream, selectors.EVENT_READ, conn)
                    continue
                try:
                    chunk = source.recv(65536)
                except OSError:
                    chunk = b""
                if chunk:
                    self.recorded += chunk
                    key.data.sendall(chunk)
                else:  # one end closed: close both
                    for end in (source, key.data):
                        self._selector.unregister(end)
                        end.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self._sockets:
            sock.close()
        self._selector.close()


@pytest.mark.parametrize("encrypted", [True, False], ids=["curve", "no-curve"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_the_code_is_never_on_the_wire_in_the_clear_with_curve(
    encrypted: bool, kernel: str, spec_dir: str
) -> None:
    managed = _start(kernel, spec_dir, transport_encryption="required" if encrypted else "disabled")
    try:
        _record_a_cell(_connection_info(managed[0]), encrypted)
    finally:
        stop_managed_kernel(managed)


def _record_a_cell(kernel_info: dict[str, Any], encrypted: bool) -> None:
    marker = f"kw-marker-{uuid.uuid4().hex}"
    forwarder = RecordingForwarder(kernel_info)
    try:
        with BlockingClient(forwarder.info) as client:
            client.wait_for_ready(READY_TIMEOUT)
            result = client.execute(f"print({marker!r})", timeout=READY_TIMEOUT)
        assert result.stdout == marker + "\n"  # it went through the forwarder
    finally:
        forwarder.close()
    assert (marker.encode() in forwarder.recorded) is not encrypted


def test_async_client_reads_curve_keys_through_a_file(
    curve_kernel: dict[str, Any], tmp_path: Any
) -> None:
    """The keys come from a connection file path as well as from a dict."""
    path = tmp_path / "kernel.json"
    path.write_text(json.dumps(curve_kernel))

    async def main() -> None:
        async with AsyncClient(str(path)) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            reply = await client.kernel_info()
            assert reply["content"]["status"] == "ok"

    run(main, timeout=2 * READY_TIMEOUT)


def test_the_reference_kernel_keeps_curve_off_its_private_sockets() -> None:
    """Curve goes on the five channel sockets only: the kernel's own I/O barrier (an ipc
    pair) made CURVE too could not connect, and every IOPub welcome and flush then waited
    out its 10 s timeout (the kernel logged it)."""
    with start_kernel(curve=True) as kernel:
        assert len(kernel.info["curve_publickey"]) == 40
        with BlockingClient(kernel.info, kernel=kernel) as client:
            client.wait_for_ready(READY_TIMEOUT)
            result = client.execute("print('out', flush=True)", timeout=READY_TIMEOUT)
            assert result.stdout == "out\n"
            client.shutdown()
        kernel.wait(READY_TIMEOUT)
        assert "no answer through ZeroMQ's I/O thread" not in kernel.output()
