"""Connection files: writing, reading, checking, and agreement with jupyter_client."""

from __future__ import annotations

import json
import os
import stat

import pytest
import zmq

from kernelwire.connect import (
    ConnectionFileError,
    channel_url,
    load_connection_info,
    read_connection_file,
    session_from_connection_file,
    session_from_connection_info,
    write_connection_file,
)
from kernelwire.errors import InvalidSignature, WireError

PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


def test_written_file_reads_back_with_every_field(tmp_path):
    path, info = write_connection_file(
        str(tmp_path / "k.json"), signature_scheme="hmac-sha512", kernel_name="python3"
    )
    assert path == str(tmp_path / "k.json")
    assert read_connection_file(path) == info
    with open(path) as f:
        on_disk = json.load(f)
    assert on_disk == info
    assert set(on_disk) == {
        *PORTS,
        "ip",
        "transport",
        "key",
        "signature_scheme",
        "kernel_name",
    }
    assert on_disk["signature_scheme"] == "hmac-sha512"
    assert on_disk["kernel_name"] == "python3"
    assert on_disk["transport"] == "tcp"
    assert isinstance(on_disk["key"], str) and on_disk["key"]


def test_file_is_owner_only_even_with_a_permissive_umask(tmp_path):
    target = tmp_path / "k.json"
    target.write_text("{}")
    target.chmod(0o666)  # an existing, world-writable file is replaced, not reused
    old_umask = os.umask(0)
    try:
        path, _ = write_connection_file(str(target))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]  # no temporary left behind


def test_default_path_is_a_new_private_file():
    path, info = write_connection_file()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert read_connection_file(path) == info
    finally:
        os.unlink(path)


def test_keys_are_random_unless_given(tmp_path):
    _, first = write_connection_file(str(tmp_path / "a.json"))
    _, second = write_connection_file(str(tmp_path / "b.json"))
    assert first["key"] != second["key"]
    _, given = write_connection_file(str(tmp_path / "c.json"), key=b"bytes-key")
    assert given["key"] == "bytes-key"
    _, empty = write_connection_file(str(tmp_path / "d.json"), key="")
    assert empty["key"] == ""


def test_free_tcp_ports_are_distinct_and_bindable(tmp_path):
    _, info = write_connection_file(str(tmp_path / "k.json"), control_port=0, hb_port=0)
    ports = [info[p] for p in PORTS]
    assert len(set(ports)) == 5
    context = zmq.Context()
    sockets = [context.socket(zmq.ROUTER) for _ in ports]
    try:
        for socket, port in zip(sockets, ports, strict=True):
            socket.bind(f"tcp://127.0.0.1:{port}")
    finally:
        for socket in sockets:
            socket.close(linger=0)
        context.term()


def test_given_ports_are_kept(tmp_path):
    _, info = write_connection_file(
        str(tmp_path / "k.json"), shell_port=5555, hb_port=5559, iopub_port=0
    )
    assert info["shell_port"] == 5555 and info["hb_port"] == 5559
    assert info["iopub_port"] not in (0, 5555, 5559)


def test_ipc_takes_the_next_free_indices(tmp_path):
    prefix = str(tmp_path / "kernel-ipc")
    open(f"{prefix}-1", "w").close()
    open(f"{prefix}-3", "w").close()
    _, info = write_connection_file(str(tmp_path / "k.json"), transport="ipc", ip=prefix)
    assert [info[p] for p in PORTS] == [2, 4, 5, 6, 7]
    assert channel_url(info, "shell") == f"ipc://{prefix}-2"
    assert channel_url(info, "hb") == f"ipc://{prefix}-7"


def test_channel_url_for_tcp(tmp_path):
    _, info = write_connection_file(str(tmp_path / "k.json"), ip="127.0.0.1")
    for channel in ("shell", "iopub", "stdin", "control", "hb"):
        assert channel_url(info, channel) == f"tcp://127.0.0.1:{info[channel + '_port']}"
    with pytest.raises(ValueError, match="unknown channel 'web'"):
        channel_url(info, "web")


def test_session_signs_with_the_key_string_bytes_and_scheme(tmp_path):
    path, info = write_connection_file(
        str(tmp_path / "k.json"), key="a0436f6c-1916-498b", signature_scheme="hmac-sha512"
    )
    session = session_from_connection_file(path)
    assert session.key == b"a0436f6c-1916-498b"
    assert session.signature_scheme == "hmac-sha512"
    other = session_from_connection_info(info, username="someone")
    assert other.username == "someone"
    frames = session.serialize(session.msg("kernel_info_request"))
    assert other.deserialize(frames[1:])["msg_type"] == "kernel_info_request"
    stranger = session_from_connection_info({**info, "key": "another"})
    with pytest.raises(InvalidSignature):
        stranger.deserialize(session.serialize(session.msg("kernel_info_request"))[1:])


def test_jupyter_client_reads_our_file_and_we_read_its_file(tmp_path):
    from jupyter_client.connect import ConnectionFileMixin
    from jupyter_client.connect import write_connection_file as jc_write
    from jupyter_client.session import Session as JCSession

    ours, info = write_connection_file(str(tmp_path / "ours.json"), signature_scheme="hmac-md5")
    mixin = ConnectionFileMixin(connection_file=ours)
    mixin.load_connection_file()
    assert mixin.session.key == info["key"].encode()
    assert mixin.session.signature_scheme == "hmac-md5"
    assert mixin.shell_port == info["shell_port"] and mixin.hb_port == info["hb_port"]

    theirs, their_info = jc_write(
        str(tmp_path / "theirs.json"),
        ip="127.0.0.1",
        key=b"their-key",
        signature_scheme="hmac-sha384",
        kernel_name="python3",
    )
    read = read_connection_file(theirs)
    assert {k: read[k] for k in their_info} == dict(their_info)
    session = session_from_connection_info(read)
    jc_session = JCSession(key=b"their-key", signature_scheme="hmac-sha384")
    frames = jc_session.serialize(jc_session.msg("status", {"execution_state": "idle"}))
    assert session.deserialize(frames[1:])["content"] == {"execution_state": "idle"}


def test_optional_fields_default_as_jupyter_reads_them(tmp_path):
    path = tmp_path / "old.json"
    info = {"ip": "127.0.0.1", "key": "k", **{p: 1000 + i for i, p in enumerate(PORTS)}}
    path.write_text(json.dumps({**info, "extra": [1]}))
    read = read_connection_file(path)
    assert read["transport"] == "tcp"
    assert read["signature_scheme"] == "hmac-sha256"
    assert read["kernel_name"] == ""
    assert read["extra"] == [1]


def _valid() -> dict:
    return {
        "ip": "127.0.0.1",
        "transport": "tcp",
        "key": "secret-key-value",
        "signature_scheme": "hmac-sha256",
        "kernel_name": "",
        **{p: 40000 + i for i, p in enumerate(PORTS)},
    }


@pytest.mark.parametrize("field", ["ip", "key", *PORTS])
def test_missing_field_is_named(tmp_path, field):
    path = tmp_path / "k.json"
    info = _valid()
    del info[field]
    path.write_text(json.dumps(info))
    with pytest.raises(ConnectionFileError, match=f"missing field '{field}'") as caught:
        read_connection_file(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("shell_port", "5555", "must be an integer, got str"),
        ("hb_port", True, "must be an integer, got bool"),
        ("iopub_port", 5.5, "must be an integer, got float"),
        ("stdin_port", 70000, "between 1 and 65535"),
        ("control_port", 0, "between 1 and 65535"),
        ("key", 12345, "must be a string, got int"),
        ("ip", None, "must be a string, got NoneType"),
        ("ip", "", "'ip' is empty"),
        ("transport", "udp", "must be one of"),
        ("signature_scheme", "sha256", "hmac-<hash>"),
        ("signature_scheme", "hmac-nosuchhash", "no hash 'nosuchhash'"),
        ("kernel_name", ["python3"], "must be a string, got list"),
    ],
)
def test_ill_typed_field_is_named_and_the_key_never_shown(tmp_path, field, value, complaint):
    path = tmp_path / "k.json"
    path.write_text(json.dumps({**_valid(), field: value}))
    with pytest.raises(ConnectionFileError) as caught:
        read_connection_file(path)
    message = str(caught.value)
    assert f"'{field}'" in message and complaint in message and str(path) in message
    assert "secret-key-value" not in message
    assert isinstance(caught.value, WireError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('"a string"', "must be a JSON object, got str"),
        (b"\xff\xfe{}", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_malformed_file(tmp_path, text, complaint):
    path = tmp_path / "k.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConnectionFileError, match=complaint) as caught:
        read_connection_file(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConnectionFileError, match="cannot read it"):
        read_connection_file(tmp_path / "absent.json")


def test_ipc_index_may_exceed_tcp_range(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(json.dumps({**_valid(), "transport": "ipc", "ip": "/tmp/x", "hb_port": 70000}))
    assert read_connection_file(path)["hb_port"] == 70000


def test_writing_a_bad_transport_is_refused(tmp_path):
    with pytest.raises(ConnectionFileError, match="transport"):
        write_connection_file(str(tmp_path / "k.json"), transport="udp")
    assert not (tmp_path / "k.json").exists()


def test_load_connection_info_takes_a_dict_or_a_path(tmp_path):
    path, info = write_connection_file(str(tmp_path / "k.json"))
    assert load_connection_info(path) == load_connection_info(info) == info
    with pytest.raises(ConnectionFileError, match="connection info: field 'hb_port'"):
        load_connection_info({**info, "hb_port": "9"})
