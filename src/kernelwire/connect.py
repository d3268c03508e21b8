"""Jupyter connection files: how a client and a kernel find each other and share a key.

A connection file is a JSON object naming the transport, the address, one port per
channel, the signing key (a string whose UTF-8 bytes are the HMAC key) and the signature
scheme. It holds a secret, so it is written readable by its owner only, from the moment
it exists.

CurveZMQ (as jupyter_client 8.9+ and ipykernel 7.3+ do it): the optional fields
``curve_publickey`` and ``curve_secretkey`` (Z85 text, 40 characters each) hold one keypair.
The kernel's sockets are CURVE servers with it; a client's sockets, heartbeat included, are
CURVE clients that use the same keypair and authenticate the server by its public key.
``apply_curve`` sets either side's socket options.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import WireError
from .protocol import CHANNELS
from .signing import DEFAULT_SCHEME, digest_for_scheme

if TYPE_CHECKING:
    from .session import Session

#: The channels of a kernel, in the order their ports are allocated.
PORT_FIELDS = tuple(f"{channel}_port" for channel in CHANNELS)
TRANSPORTS = ("tcp", "ipc")
#: The connection file's CurveZMQ keypair (Z85 text); both present or both absent.
CURVE_FIELDS = ("curve_publickey", "curve_secretkey")
_Z85_KEY_LENGTH = 40
_Z85_CHARACTERS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)


class ConnectionFileError(WireError, ValueError):
    """A connection file (or connection info dict) is malformed or lacks a field."""


def _check_info(info: Any, source: str, unbound_ports: bool = False) -> dict[str, Any]:
    """A copy of ``info`` with optional fields filled in; ConnectionFileError otherwise.
    ``unbound_ports`` admits port 0, "any port", as a kernel binding for the startup
    handshake holds it until it has bound."""
    if not isinstance(info, dict):
        raise ConnectionFileError(
            f"{source}: connection info must be a JSON object, got {type(info).__name__}"
        )
    checked = dict(info)
    checked.setdefault("transport", "tcp")
    checked.setdefault("signature_scheme", DEFAULT_SCHEME)
    checked.setdefault("kernel_name", "")
    for field in ("ip", "transport", "key", "signature_scheme", "kernel_name"):
        if field not in checked:
            raise ConnectionFileError(f"{source}: missing field {field!r}")
        if not isinstance(checked[field], str):
            raise ConnectionFileError(
                f"{source}: field {field!r} must be a string, got {type(checked[field]).__name__}"
            )
    if checked["transport"] not in TRANSPORTS:
        raise ConnectionFileError(
            f"{source}: field 'transport' must be one of {TRANSPORTS}, got {checked['transport']!r}"
        )
    if not checked["ip"]:
        raise ConnectionFileError(f"{source}: field 'ip' is empty")
    highest = 65535 if checked["transport"] == "tcp" else 2**31
    for field in PORT_FIELDS:
        if field not in checked:
            raise ConnectionFileError(f"{source}: missing field {field!r}")
        port = checked[field]
        if isinstance(port, bool) or not isinstance(port, int):
            raise ConnectionFileError(
                f"{source}: field {field!r} must be an integer, got {type(port).__name__}"
            )
        if not (0 < port <= highest or (unbound_ports and port == 0)):
            raise ConnectionFileError(
                f"{source}: field {field!r} must be between 1 and {highest}, got {port}"
            )
    try:
        digest_for_scheme(checked["signature_scheme"])
    except ValueError as exc:
        raise ConnectionFileError(f"{source}: field 'signature_scheme': {exc}") from None
    _check_curve_keys(checked, source)
    return checked


def _check_curve_keys(info: Mapping[str, Any], source: str) -> bool:
    """Whether ``info`` holds a CurveZMQ keypair (a null field counts as absent, as
    jupyter_client reads it); ConnectionFileError for half a pair, a key that is not 40
    Z85 characters, or a public key that does not belong to the secret key (a mismatch
    would otherwise show only as a kernel that never answers). Keys never appear in errors."""
    present = [field for field in CURVE_FIELDS if info.get(field) is not None]
    if not present:
        return False
    if len(present) == 1:
        absent = next(field for field in CURVE_FIELDS if field not in present)
        raise ConnectionFileError(f"{source}: field {present[0]!r} without {absent!r}")
    for field in CURVE_FIELDS:
        value = info[field]
        if not isinstance(value, str):
            raise ConnectionFileError(
                f"{source}: field {field!r} must be a string, got {type(value).__name__}"
            )
        if len(value) != _Z85_KEY_LENGTH or not _Z85_CHARACTERS.issuperset(value):
            raise ConnectionFileError(
                f"{source}: field {field!r} must be a Z85 key of {_Z85_KEY_LENGTH} characters"
            )
    import zmq  # here: reading a file without keys needs no zmq

    if zmq.has("curve") and zmq.curve_public(info["curve_secretkey"].encode()) != (
        info["curve_publickey"].encode()
    ):
        raise ConnectionFileError(
            f"{source}: field 'curve_publickey' is not the public key of 'curve_secretkey'"
        )
    return True


def apply_curve(socket: Any, info: Mapping[str, Any], server: bool = False) -> bool:
    """Set ``socket``'s CurveZMQ options from the keypair in ``info``, before it binds or
    connects; returns False, changing nothing, when ``info`` has no keys.

    ``server=True`` (a kernel's sockets): a CURVE server with the keypair. Otherwise (a
    client's sockets, heartbeat included): a CURVE client with the same keypair that
    accepts only the server holding that public key, as jupyter_client's clients do (the
    protocol does not yet define separate client keys). RuntimeError when the keys are
    there but this libzmq was built without CURVE (it would otherwise talk in the clear).
    """
    if not _check_curve_keys(info, "connection info"):
        return False
    import zmq

    if not zmq.has("curve"):
        raise RuntimeError(
            "the connection info has CurveZMQ keys, but this libzmq has no CURVE support"
        )
    public_key = info["curve_publickey"].encode()
    socket.curve_secretkey = info["curve_secretkey"].encode()
    socket.curve_publickey = public_key
    if server:
        socket.curve_server = True
    else:
        socket.curve_serverkey = public_key
    return True


def read_connection_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The connection info in the file at ``path``, checked field by field.

    ``transport`` defaults to ``"tcp"``, ``signature_scheme`` to ``"hmac-sha256"`` and
    ``kernel_name`` to ``""`` (as Jupyter reads them); other fields are required. Unknown
    fields are kept.
    """
    source = f"connection file {os.fspath(path)!r}"
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConnectionFileError(f"{source}: cannot read it: {exc.strerror}") from None
    try:
        info = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConnectionFileError(f"{source}: not valid JSON: {exc}") from None
    except RecursionError:  # the decoder recurses once per level of nesting
        raise ConnectionFileError(f"{source}: not a connection file: nested too deeply") from None
    return _check_info(info, source)


def check_connection_info(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` checked as ``read_connection_file`` checks a file's content."""
    return _check_info(info, "connection info")


def load_connection_info(connection: dict[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """Connection info from a dict or from the connection file at a path, checked."""
    if isinstance(connection, dict):
        return check_connection_info(connection)
    return read_connection_file(connection)


def _free_tcp_ports(ip: str, count: int) -> list[int]:
    """``count`` distinct ports the OS considers free on ``ip`` right now.

    All sockets stay open until every port is picked, so the ports differ; a port can still
    be taken by someone else before the kernel binds it (Jupyter has the same race).
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((ip, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _free_ipc_indices(ip: str, count: int) -> list[int]:
    """The ``count`` lowest indices N for which no ``<ip>-<N>`` path exists."""
    indices: list[int] = []
    index = 1
    while len(indices) < count:
        if not os.path.exists(f"{ip}-{index}"):
            indices.append(index)
        index += 1
    return indices


def _write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that it is never readable by others: a 0o600 temporary
    file in the same directory, renamed over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".kernelwire-", suffix=".json.tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_connection_file(
    fname: str | os.PathLike[str] | None = None,
    *,
    ip: str = "127.0.0.1",
    transport: str = "tcp",
    shell_port: int = 0,
    iopub_port: int = 0,
    stdin_port: int = 0,
    control_port: int = 0,
    hb_port: int = 0,
    key: str | bytes | None = None,
    signature_scheme: str = DEFAULT_SCHEME,
    kernel_name: str = "",
    curve: bool = False,
    curve_publickey: str | bytes | None = None,
    curve_secretkey: str | bytes | None = None,
) -> tuple[str, dict[str, Any]]:
    """Write a connection file; returns its path and the info written.

    A port of 0 gets a free tcp port (or, for ipc, the next index whose ``<ip>-<N>`` path
    does not exist); ``key=None`` makes a new random key; ``fname=None`` makes a new file
    in the temporary directory. The file is created with mode 0o600.

    CurveZMQ: ``curve_publickey`` and ``curve_secretkey`` (Z85) are written when given, as
    jupyter_client writes them; ``curve=True`` without them makes a new keypair.
    """
    if transport not in TRANSPORTS:
        raise ConnectionFileError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
    if key is None:
        key = str(uuid.uuid4())
    elif isinstance(key, bytes):
        key = key.decode("utf-8")
    if curve and curve_publickey is None and curve_secretkey is None:
        import zmq

        curve_publickey, curve_secretkey = zmq.curve_keypair()
    curve_keys = {
        field: value.decode("ascii") if isinstance(value, bytes) else value
        for field, value in zip(CURVE_FIELDS, (curve_publickey, curve_secretkey), strict=True)
        if value is not None
    }
    ports = {
        "shell_port": shell_port,
        "iopub_port": iopub_port,
        "stdin_port": stdin_port,
        "control_port": control_port,
        "hb_port": hb_port,
    }
    missing = [field for field in PORT_FIELDS if ports[field] <= 0]
    if missing:
        pick = _free_tcp_ports if transport == "tcp" else _free_ipc_indices
        for field, port in zip(missing, pick(ip, len(missing)), strict=True):
            ports[field] = port
    info: dict[str, Any] = {
        **ports,
        "ip": ip,
        "key": key,
        "transport": transport,
        "signature_scheme": signature_scheme,
        "kernel_name": kernel_name,
        **curve_keys,
    }
    info = _check_info(info, "connection info to write")
    if fname is None:
        fd, path = tempfile.mkstemp(prefix="kernel-", suffix=".json")
        os.close(fd)
    else:
        path = os.fspath(fname)
    _write_private(path, json.dumps(info, indent=2))
    return path, info


def channel_url(info: dict[str, Any], channel: str) -> str:
    """The ZeroMQ address of ``channel`` (shell, iopub, stdin, control or hb):
    ``tcp://<ip>:<port>``, or ``ipc://<ip>-<port>`` as Jupyter names ipc endpoints."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
    port = info[f"{channel}_port"]
    if info.get("transport", "tcp") == "ipc":
        return f"ipc://{info['ip']}-{port}"
    return f"tcp://{info['ip']}:{port}"


def session_from_connection_info(info: dict[str, Any], **session_kwargs: Any) -> Session:
    """A Session with the key and signature scheme of ``info``; other Session traits
    from ``session_kwargs``."""
    from .session import Session

    checked = _check_info(info, "connection info", unbound_ports=True)
    return Session(
        key=checked["key"].encode(),
        signature_scheme=checked["signature_scheme"],
        **session_kwargs,
    )


def session_from_connection_file(path: str | os.PathLike[str], **session_kwargs: Any) -> Session:
    """``session_from_connection_info`` for the file at ``path``."""
    return session_from_connection_info(read_connection_file(path), **session_kwargs)


__all__ = [
    "CHANNELS",
    "CURVE_FIELDS",
    "ConnectionFileError",
    "apply_curve",
    "channel_url",
    "check_connection_info",
    "load_connection_info",
    "read_connection_file",
    "session_from_connection_file",
    "session_from_connection_info",
    "write_connection_file",
]
