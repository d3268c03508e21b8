"""The kernel startup handshake (protocol 5.6, JEP 66): the sans-IO messages, the
registration file, and the launcher's registrar against independent kernels (a raw-pyzmq
stand-in written from the spec's text, and xeus-python, a C++ kernel on xeus-zmq)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import given
from hypothesis import strategies as st

from kernelwire.client import BlockingClient, KernelStartError, start_kernel
from kernelwire.connect import PORT_FIELDS, ConnectionFileError, read_connection_file
from kernelwire.handshake import (
    HandshakeError,
    check_acknowledgement,
    check_registration_info,
    is_registration_info,
    pack_acknowledgement,
    pack_registration,
    unpack_registration,
    write_registration_file,
)
from kernelwire.kernelspec import KernelSpec, get_kernel_spec
from kernelwire.signing import Signer
from kernelwire.wire import DELIM

RAW_KERNEL = str(Path(__file__).with_name("raw_registering_kernel.py"))
SIGNER = Signer(b"handshake-key")
PORTS = {field: 40000 + i for i, field in enumerate(PORT_FIELDS)}


# --- the messages, without I/O ---------------------------------------------------------


def test_a_registration_round_trips_with_ports_as_strings_on_the_wire() -> None:
    frames = pack_registration(SIGNER, "k1", PORTS)
    assert frames[0] == DELIM and len(frames) == 3
    content = json.loads(frames[2])
    assert content["kernel_id"] == "k1"
    assert content["shell_port"] == str(PORTS["shell_port"])
    assert frames[1] == SIGNER.sign([frames[2]])
    assert unpack_registration(SIGNER, [b"routing-id", *frames], "k1") == PORTS


def test_integer_ports_are_read_too() -> None:
    content = json.dumps({"kernel_id": "k1", **PORTS}).encode()
    frames = [DELIM, SIGNER.sign([content]), content]
    assert unpack_registration(SIGNER, frames, "k1") == PORTS


def _signed(content: dict[str, Any]) -> list[bytes]:
    raw = json.dumps(content).encode()
    return [DELIM, SIGNER.sign([raw]), raw]


@pytest.mark.parametrize(
    ("frames", "named"),
    [
        ([b"id", b"x"], "no <IDS|MSG> delimiter"),
        ([DELIM, b"sig"], "1 frames after the delimiter"),
        ([DELIM, b"a", b"b", b"c"], "3 frames after the delimiter"),
        ([DELIM, b"", b"{}"], "Unsigned"),
        ([DELIM, b"0" * 64, json.dumps({"kernel_id": "k1", **PORTS}).encode()], "Invalid"),
        (_signed({"kernel_id": "other", **PORTS}), "kernel_id 'other'"),
        (_signed({"kernel_id": "k1"}), "missing field 'shell_port'"),
        (_signed({"kernel_id": "k1", **PORTS, "hb_port": "http"}), "'hb_port' must be a port"),
        (_signed({"kernel_id": "k1", **PORTS, "hb_port": 70000}), "between 1 and 65535"),
        (_signed({"kernel_id": "k1", **PORTS, "hb_port": True}), "'hb_port' must be a port"),
        ([DELIM, SIGNER.sign([b"[1]"]), b"[1]"], "must be a JSON object"),
        ([DELIM, SIGNER.sign([b"{"]), b"{"], "not JSON"),
        ([DELIM, SIGNER.sign([b"x" * 5000]), b"x" * 5000], "over 4096"),
    ],
)
def test_bad_registrations_are_refused_naming_what_is_wrong(
    frames: list[bytes], named: str
) -> None:
    with pytest.raises(HandshakeError, match=named) as info:
        unpack_registration(SIGNER, frames, "k1")
    assert "handshake-key" not in str(info.value)


@given(st.lists(st.binary(max_size=64), max_size=6), st.booleans())
def test_nothing_but_handshake_errors_come_out_of_arbitrary_frames(
    frames: list[bytes], with_delimiter: bool
) -> None:
    if with_delimiter:
        frames = [DELIM, *frames]
    with pytest.raises(HandshakeError):
        unpack_registration(SIGNER, frames, "k1")
    if len(frames) != 3 or frames[1] != SIGNER.sign([frames[2]]):
        with pytest.raises(HandshakeError):
            check_acknowledgement(SIGNER, frames)


def test_the_acknowledgement_is_checked_by_its_signature() -> None:
    ack = pack_acknowledgement(SIGNER)
    check_acknowledgement(SIGNER, [b"id", *ack])
    with pytest.raises(HandshakeError, match="Invalid"):
        check_acknowledgement(Signer(b"another key"), ack)
    # without a key, nothing is signed and nothing is checked, as for every message
    check_acknowledgement(Signer(b""), pack_acknowledgement(Signer(b"")))


# --- the registration file --------------------------------------------------------------


def test_a_registration_file_is_private_and_readable_by_xeus_and_by_the_spec(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registration.json"
    info = write_registration_file(path, registration_port=5555, key="secret")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    on_disk = json.loads(path.read_text())
    assert on_disk == info
    # xeus-zmq reads the port as a string and needs `ip`; the spec's example has an int
    assert on_disk["registration_port"] == "5555" and on_disk["ip"] == "127.0.0.1"
    assert is_registration_info(on_disk)
    assert check_registration_info(on_disk)["registration_port"] == 5555
    assert check_registration_info({**on_disk, "registration_port": 5555})["key"] == "secret"
    # a connection file is not a registration file
    assert not is_registration_info({"ip": "127.0.0.1", **PORTS})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"kernel_id": None}, "missing field 'kernel_id'"),
        ({"registration_ip": 1}, "'registration_ip' must be a string"),
        ({"registration_port": "0"}, "between 1 and 65535"),
        ({"registration_port": []}, "must be a port number"),
        ({"transport": "udp"}, "'transport' must be one of"),
        ({"signature_scheme": "hmac-nope"}, "'signature_scheme'"),
    ],
)
def test_bad_registration_files_are_refused_naming_the_field(
    change: dict[str, Any], named: str
) -> None:
    info = {
        "kernel_id": "k",
        "transport": "tcp",
        "ip": "127.0.0.1",
        "registration_ip": "127.0.0.1",
        "registration_port": "5555",
        "key": "k",
    }
    info.update(change)
    info = {k: v for k, v in info.items() if v is not None}
    with pytest.raises(ConnectionFileError, match=named):
        check_registration_info(info)


def test_kernelspecs_declaring_5_6_or_later_support_the_handshake() -> None:
    def spec(version: str) -> KernelSpec:
        return KernelSpec("k", ["k"], "K", "l", "/", kernel_protocol_version=version)

    assert spec("5.6").supports_handshake and spec("6.0").supports_handshake
    assert not spec("5.5").supports_handshake and not spec("").supports_handshake
    assert not spec("five").supports_handshake


# --- the launcher against real kernels -------------------------------------------------


def test_the_launcher_registers_a_raw_kernel_despite_junk_on_its_registration_socket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel = start_kernel(
        [sys.executable, RAW_KERNEL, "{connection_file}", "honest"],
        handshake=True,
        startup_timeout=60,
    )
    try:
        info = read_connection_file(kernel.connection_file)
        assert stat.S_IMODE(os.stat(kernel.connection_file).st_mode) == 0o600
        assert {field: info[field] for field in PORT_FIELDS} == {
            field: kernel.info[field] for field in PORT_FIELDS
        }
        assert kernel.info["kernel_id"]
        # the ports are the ones the kernel bound: its heartbeat answers there
        ctx = zmq.Context.instance()
        hb = ctx.socket(zmq.REQ)
        hb.linger = 0
        hb.connect(f"tcp://127.0.0.1:{info['hb_port']}")
        hb.send(b"ping")
        assert hb.poll(30_000), kernel.describe_exit()
        assert hb.recv() == b"ping"
        hb.close()
        refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert any("Invalid Signature" in r for r in refusals)
        assert any("kernel_id 'someone-else'" in r for r in refusals)
    finally:
        kernel.cleanup()
    assert not os.path.exists(kernel.connection_file)


def test_a_kernel_that_exits_before_registering_is_reported_with_its_output() -> None:
    with pytest.raises(KernelStartError, match="exited with code 3") as info:
        start_kernel(
            [sys.executable, RAW_KERNEL, "{connection_file}", "exit"],
            handshake=True,
            startup_timeout=60,
        )
    assert "giving up before registering" in str(info.value)


def test_a_kernel_that_never_registers_is_stopped_after_the_startup_timeout() -> None:
    with pytest.raises(KernelStartError, match="did not register within 1 s"):
        start_kernel(
            [sys.executable, RAW_KERNEL, "{connection_file}", "silent"],
            handshake=True,
            startup_timeout=1,
        )


def test_the_handshake_needs_tcp_and_a_new_file() -> None:
    with pytest.raises(ValueError, match="tcp"):
        start_kernel(handshake=True, transport="ipc")


def test_the_launcher_registers_xeus_python_and_the_client_drives_it() -> None:
    spec = get_kernel_spec("xpython")
    kernel = start_kernel(
        spec.argv, handshake=True, startup_timeout=60, resource_dir=spec.resource_dir
    )
    try:
        with BlockingClient(kernel.info, kernel=kernel) as client:
            client.wait_for_ready(timeout=60)
            result = client.execute("print(6 * 7)", timeout=60)
            assert result.stdout == "42\n"
    finally:
        kernel.cleanup()


_RECORD_THEN_XEUS = (
    "import json, os, sys; info = json.load(open(sys.argv[1]));"
    "open(os.environ['KW_MARK'], 'a').write('registration' if info.get('registration_ip')"
    " else 'connection');"
    "os.execv(sys.executable, [sys.executable, '-m', 'xpython_launcher', '-f', sys.argv[1]])"
)


@pytest.mark.parametrize(("declared", "given"), [("5.6", "registration"), ("", "connection")])
def test_kernelwire_run_uses_the_handshake_when_the_kernelspec_declares_5_6(
    tmp_path: Path, declared: str, given: str
) -> None:
    spec_dir = tmp_path / "jupyter" / "kernels" / "kw-xeus"
    spec_dir.mkdir(parents=True)
    mark = tmp_path / "mark"
    spec: dict[str, Any] = {
        "argv": ["python", "-c", _RECORD_THEN_XEUS, "{connection_file}"],
        "display_name": "xeus-python, recording what it was given",
        "language": "python",
        "env": {"KW_MARK": str(mark)},
    }
    if declared:
        spec["kernel_protocol_version"] = declared
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "JUPYTER_PATH": str(tmp_path / "jupyter"), "TMPDIR": str(tmp)}
    result = subprocess.run(
        [sys.executable, "-m", "kernelwire", "run", "--kernel", "kw-xeus", "print(6 * 7)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (0, "42\n"), result.stderr
    assert mark.read_text() == given
    assert os.listdir(tmp) == []  # neither the registration nor the connection file is left


# --- the reference kernel's side ---------------------------------------------------------


def test_the_launcher_and_the_reference_kernel_shake_hands() -> None:
    kernel = start_kernel(handshake=True, startup_timeout=60)
    try:
        with BlockingClient(kernel.info, kernel=kernel) as client:
            client.wait_for_ready(timeout=60)
            assert client.execute("print(6 * 7)", timeout=60).stdout == "42\n"
            # connect_request reports the ports the kernel chose, as the file does
            reply = client.request("connect_request", timeout=60)
            ports = {field: reply["content"][field] for field in PORT_FIELDS}
            assert ports == {field: kernel.info[field] for field in PORT_FIELDS}
    finally:
        kernel.cleanup()


def _raw_registrar(tmp_path: Path, key: bytes) -> tuple[Any, Path, str]:
    """A registration socket and file made with raw pyzmq, as the spec describes them
    (the port an integer, as in the spec's example)."""
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.linger = 0
    port = router.bind_to_random_port("tcp://127.0.0.1")
    kernel_id = "raw-registrar-kernel"
    path = tmp_path / "registration.json"
    path.write_text(
        json.dumps(
            {
                "kernel_id": kernel_id,
                "transport": "tcp",
                "ip": "127.0.0.1",
                "registration_ip": "127.0.0.1",
                "registration_port": port,
                "signature_scheme": "hmac-sha256",
                "key": key.decode(),
            }
        )
    )
    return router, path, kernel_id


def _kernel_on(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kernelwire.kernel", "-f", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_reference_kernel_registers_with_a_raw_registrar(tmp_path: Path) -> None:
    key = b"raw-registrar-key"
    router, path, kernel_id = _raw_registrar(tmp_path, key)
    process = _kernel_on(path)
    try:
        assert router.poll(60_000), "the kernel never registered"
        identity, delimiter, signature, content = router.recv_multipart()
        assert delimiter == b"<IDS|MSG>"
        assert signature == hmac.new(key, content, hashlib.sha256).hexdigest().encode()
        ports = json.loads(content)
        assert ports.pop("kernel_id") == kernel_id
        assert sorted(ports) == sorted(PORT_FIELDS)
        assert all(isinstance(port, str) and port.isdecimal() for port in ports.values())
        ack = b"ACK"  # what xeus-zmq's registrar sends: only its signature is checked
        router.send_multipart(
            [identity, delimiter, hmac.new(key, ack, hashlib.sha256).hexdigest().encode(), ack]
        )
        info = {
            "ip": "127.0.0.1",
            "transport": "tcp",
            "key": key.decode(),
            "signature_scheme": "hmac-sha256",
            **{field: int(port) for field, port in ports.items()},
        }
        with BlockingClient(info) as client:
            client.wait_for_ready(timeout=60)
            assert client.execute("print(6 * 7)", timeout=60).stdout == "42\n"
            client.shutdown()
        assert process.wait(60) == 0
    finally:
        router.close()
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_a_wrongly_signed_acknowledgement_stops_the_kernel_before_it_serves(
    tmp_path: Path,
) -> None:
    router, path, _ = _raw_registrar(tmp_path, b"the right key")
    process = _kernel_on(path)
    try:
        assert router.poll(60_000), "the kernel never registered"
        identity, delimiter, _, _ = router.recv_multipart()
        router.send_multipart([identity, delimiter, b"0" * 64, b"ACK"])
        output, _ = process.communicate(timeout=60)
    finally:
        router.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1
    assert "startup handshake failed: registration acknowledgement: Invalid Signature" in output
    assert "the right key" not in output
