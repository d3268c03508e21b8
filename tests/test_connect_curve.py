"""CurveZMQ keys in connection files (written, read, checked, agreeing with jupyter_client)
and ``apply_curve`` on raw sockets: a CURVE server and client talk; a peer without the
keys, or with the wrong ones, is refused at the handshake and delivers nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jupyter_client.connect as jc_connect
import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from helpers import WAIT_MS, endpoint
from kernelwire.connect import (
    ConnectionFileError,
    apply_curve,
    check_connection_info,
    read_connection_file,
    write_connection_file,
)

HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


def _keys() -> dict[str, str]:
    public, secret = zmq.curve_keypair()
    return {"curve_publickey": public.decode(), "curve_secretkey": secret.decode()}


def test_curve_true_writes_a_new_matching_keypair(tmp_path: Path) -> None:
    path, info = write_connection_file(str(tmp_path / "k.json"), curve=True)
    on_disk = json.loads(Path(path).read_text())
    public, secret = on_disk["curve_publickey"], on_disk["curve_secretkey"]
    assert len(public) == len(secret) == 40
    assert zmq.curve_public(secret.encode()) == public.encode()
    assert read_connection_file(path) == info == on_disk
    _, other = write_connection_file(str(tmp_path / "other.json"), curve=True)
    assert other["curve_secretkey"] != secret


def test_no_keys_unless_asked(tmp_path: Path) -> None:
    _, info = write_connection_file(str(tmp_path / "k.json"))
    assert "curve_publickey" not in info and "curve_secretkey" not in info


def test_given_keys_are_written_and_jupyter_client_reads_them(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    path, info = write_connection_file(
        str(tmp_path / "k.json"), curve_publickey=public, curve_secretkey=secret
    )
    assert (info["curve_publickey"], info["curve_secretkey"]) == (public.decode(), secret.decode())
    reader = jc_connect.ConnectionFileMixin(connection_file=path)
    reader.load_connection_file()
    assert (reader.curve_publickey, reader.curve_secretkey) == (public, secret)


def test_a_file_jupyter_client_writes_is_read_with_its_keys(tmp_path: Path) -> None:
    public, secret = zmq.curve_keypair()
    path = str(tmp_path / "jc.json")
    jc_connect.write_connection_file(path, curve_publickey=public, curve_secretkey=secret)
    info = read_connection_file(path)
    assert (info["curve_publickey"], info["curve_secretkey"]) == (public.decode(), secret.decode())


def _base_info() -> dict[str, Any]:
    ports = {f"{c}_port": 5000 + i for i, c in enumerate(("shell", "iopub", "stdin", "control"))}
    return {**ports, "hb_port": 5009, "ip": "127.0.0.1", "key": "k"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"curve_publickey": _keys()["curve_publickey"]}, "without 'curve_secretkey'"),
        ({"curve_secretkey": _keys()["curve_secretkey"]}, "without 'curve_publickey'"),
        ({**_keys(), "curve_secretkey": 7}, "'curve_secretkey' must be a string"),
        ({**_keys(), "curve_publickey": "abc"}, "'curve_publickey' must be a Z85 key of 40"),
        ({**_keys(), "curve_publickey": "~" * 40}, "'curve_publickey' must be a Z85 key of 40"),
        (
            {**_keys(), "curve_publickey": _keys()["curve_publickey"]},
            "'curve_publickey' is not the public key of 'curve_secretkey'",
        ),
    ],
)
def test_bad_keys_are_named_and_never_shown(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConnectionFileError, match=message) as caught:
        check_connection_info({**_base_info(), **fields})
    keys = [value for value in fields.values() if isinstance(value, str) and len(value) == 40]
    assert not [key for key in keys if key in str(caught.value)]


def test_null_keys_mean_no_curve(zmq_ctx: zmq.Context[Any]) -> None:
    info = check_connection_info({**_base_info(), "curve_publickey": None, "curve_secretkey": None})
    sock = zmq_ctx.socket(zmq.DEALER)
    try:
        assert apply_curve(sock, info) is False
        assert sock.mechanism == zmq.NULL
    finally:
        sock.close(linger=0)


def _pair(
    ctx: zmq.Context[Any], addr: str, server_info: dict[str, Any], client_info: dict[str, Any]
) -> tuple[zmq.Socket[Any], zmq.Socket[Any], zmq.Socket[Any]]:
    """A ROUTER bound with ``apply_curve(server=True)`` (and a monitor on it) and a DEALER
    connected with ``apply_curve(client_info)``."""
    router = ctx.socket(zmq.ROUTER)
    dealer = ctx.socket(zmq.DEALER)
    router.linger = dealer.linger = 0
    assert apply_curve(router, server_info, server=True)
    apply_curve(dealer, client_info)
    monitor = router.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | HANDSHAKE_FAILED)
    router.bind(addr)
    dealer.connect(router.last_endpoint)
    return router, dealer, monitor


def _handshake_event(monitor: zmq.Socket[Any]) -> int:
    assert monitor.poll(WAIT_MS), "no handshake event within the timeout"
    return int(recv_monitor_message(monitor)["event"])


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
def test_a_curve_server_and_client_talk(
    zmq_ctx: zmq.Context[Any], tmp_path: Path, transport: str
) -> None:
    info = _base_info() | _keys()
    router, dealer, monitor = _pair(zmq_ctx, endpoint(transport, tmp_path), info, info)
    assert router.curve_server and router.mechanism == zmq.CURVE
    assert dealer.mechanism == zmq.CURVE and not dealer.curve_server
    assert _handshake_event(monitor) == zmq.EVENT_HANDSHAKE_SUCCEEDED
    dealer.send_multipart([b"hello", b"curve"])
    assert router.poll(WAIT_MS)
    identity, *frames = router.recv_multipart()
    assert frames == [b"hello", b"curve"]
    router.send_multipart([identity, b"back"])
    assert dealer.poll(WAIT_MS)
    assert dealer.recv_multipart() == [b"back"]
    monitor.close(linger=0)


@pytest.mark.parametrize("client_keys", ["none", "other server's"])
def test_a_client_without_the_right_keys_is_refused(
    zmq_ctx: zmq.Context[Any], client_keys: str
) -> None:
    server_info = _base_info() | _keys()
    client_info = _base_info() if client_keys == "none" else _base_info() | _keys()
    router, dealer, monitor = _pair(zmq_ctx, "tcp://127.0.0.1:*", server_info, client_info)
    dealer.send_multipart([b"must not arrive"])
    assert _handshake_event(monitor) & HANDSHAKE_FAILED
    assert not router.poll(0)
    monitor.close(linger=0)
