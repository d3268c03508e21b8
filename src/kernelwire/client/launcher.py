"""Starting a kernel process on a fresh connection file, and cleaning up after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ..connect import (
    PORT_FIELDS,
    ConnectionFileError,
    read_connection_file,
    write_connection_file,
)
from ..handshake import write_registration_file
from ..signing import DEFAULT_SCHEME, digest_for_scheme
from .errors import KernelStartError

#: The reference kernel's command line; ``{connection_file}`` is filled in at start.
REFERENCE_KERNEL_ARGV = ("python", "-m", "kernelwire.kernel", "-f", "{connection_file}")
_PYTHON_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}
_OUTPUT_TAIL = 2000


def format_argv(argv: Sequence[str], connection_file: str, resource_dir: str = "") -> list[str]:
    """``argv`` with ``{connection_file}`` and ``{resource_dir}`` filled in; a bare
    ``python`` first word becomes this interpreter, as Jupyter does."""
    command = [
        arg.replace("{connection_file}", connection_file).replace("{resource_dir}", resource_dir)
        for arg in argv
    ]
    if command and command[0] in _PYTHON_NAMES:
        command[0] = sys.executable
    return command


class KernelProcess:
    """A kernel we started: its process, connection file and captured output.

    ``cleanup()`` (also on leaving a ``with`` block) kills the process if it still runs
    and removes the connection file (and ipc socket files) when we wrote it.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        connection_file: str,
        info: dict[str, Any],
        log: Any,
        owns_files: bool = True,
    ) -> None:
        #: The kernel's process.
        self.process = process
        #: The connection file's path (removed by ``cleanup``).
        self.connection_file = connection_file
        #: The connection info: what a client needs to connect (``BlockingClient(kernel.info)``).
        self.info = info
        self._log = log
        #: False for a connection file someone else made: it is never removed.
        self.owns_files = owns_files

    @property
    def pid(self) -> int:
        """The kernel process's id."""
        return self.process.pid

    @property
    def exit_code(self) -> int | None:
        """The process's exit code; None while it runs."""
        return self.process.poll()

    def is_running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.process.poll() is None

    def interrupt(self) -> None:
        """SIGINT to the kernel, for kernels whose interrupt_mode is ``signal``."""
        if self.is_running():
            self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to exit; True if it did."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def output(self) -> str:
        """The tail of what the kernel process wrote to stdout and stderr."""
        try:
            self._log.flush()
            size = os.fstat(self._log.fileno()).st_size
            self._log.seek(max(0, size - _OUTPUT_TAIL))
            return self._log.read().decode("utf-8", "replace")  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return ""

    def describe_exit(self) -> str:
        """A sentence about how the process ended, with the tail of its output."""
        code = self.exit_code
        if code is None:
            return f"kernel process {self.pid} is still running"
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail = self.output().strip()
        return f"kernel process {self.pid} {how}" + (f"; its output ends:\n{tail}" if tail else "")

    def cleanup(self, timeout: float = 5.0) -> None:
        """Kill the process if it still runs, reap it, and remove the files it used."""
        if self.is_running():
            self.process.terminate()
            if not self.wait(timeout):
                self.process.kill()
                self.process.wait()
        for path in self._files():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self._log.close()

    def _files(self) -> list[str]:
        if not self.owns_files:
            return []
        files = [self.connection_file]
        if self.info["transport"] == "ipc":
            files += [f"{self.info['ip']}-{self.info[field]}" for field in PORT_FIELDS]
        return files

    def __enter__(self) -> KernelProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


def start_kernel(
    argv: Sequence[str] = REFERENCE_KERNEL_ARGV,
    *,
    connection_file: str | None = None,
    kernel_name: str = "",
    signature_scheme: str = DEFAULT_SCHEME,
    key: str | None = None,
    transport: str = "tcp",
    ip: str = "127.0.0.1",
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    resource_dir: str = "",
    use_existing_file: bool = False,
    handshake: bool = False,
    startup_timeout: float = 60.0,
    curve: bool = False,
) -> KernelProcess:
    """Write a connection file and start ``argv`` (a kernelspec-style command line) on it.

    ``argv`` defaults to kernelwire's reference kernel; ``{connection_file}`` and
    ``{resource_dir}`` in it are filled in. The connection file goes to
    ``connection_file`` (default: a new file in the temporary directory) with a new random
    ``key`` unless one is given, ``signature_scheme``, ``transport`` (``tcp`` or ``ipc``)
    and ``ip``, and free ports. ``env`` adds environment variables for the kernel; ``cwd``
    is its working directory.

    With ``use_existing_file``, ``connection_file`` names a file that already exists: it is
    read and used as it is (the connection options here are then unused), and it is
    neither rewritten nor removed by ``KernelProcess.cleanup``: someone else made it.

    The kernel runs in a new process session, so a Ctrl-C in a terminal reaches only this
    program, not the kernel. Its output is captured (see ``KernelProcess.output``).
    ``JPY_PARENT_PID`` tells kernels that watch their parent (ipykernel and the reference
    kernel do) to exit if this program dies without cleaning up.

    With ``curve``, the new connection file carries a new CurveZMQ keypair, for kernels
    that declare ``supported_encryption: ["curve"]``: every socket is then encrypted.

    With ``handshake`` (protocol 5.6, for kernels that declare it; tcp only), the kernel is
    given a registration file instead: it binds five ports of its own choosing and reports
    them to a registration socket bound here, so no port can be taken between choosing and
    binding. This call then waits up to ``startup_timeout`` seconds for that report before
    writing the connection file for clients (KernelStartError if the kernel exits or stays
    silent).
    """
    if handshake:
        if use_existing_file or transport != "tcp" or curve:
            raise ValueError(
                "handshake needs a new connection file and the tcp transport, without curve"
            )
        return _start_with_handshake(
            argv,
            connection_file=connection_file,
            kernel_name=kernel_name,
            signature_scheme=signature_scheme,
            key=key if key is not None else str(uuid.uuid4()),
            ip=ip,
            env=env,
            cwd=cwd,
            resource_dir=resource_dir,
            timeout=startup_timeout,
        )
    if use_existing_file:
        if connection_file is None:
            raise ValueError("use_existing_file needs a connection_file")
        path, info = os.fspath(connection_file), read_connection_file(connection_file)
    else:
        path, info = write_connection_file(
            connection_file,
            ip=ip,
            transport=transport,
            key=key,
            signature_scheme=signature_scheme,
            kernel_name=kernel_name,
            curve=curve,
        )
    try:
        process, log = _spawn(format_argv(argv, path, resource_dir), env, cwd)
    except KernelStartError:
        if not use_existing_file:
            os.unlink(path)
        raise
    return KernelProcess(process, path, info, log, owns_files=not use_existing_file)


def _spawn(
    command: list[str], env: Mapping[str, str] | None, cwd: str | None
) -> tuple[subprocess.Popen[bytes], Any]:
    """Start ``command`` in a new process session, its output going to a temporary file."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the KernelProcess)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), "JPY_PARENT_PID": str(os.getpid())},
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        log.close()
        raise KernelStartError(f"cannot start kernel {command!r}: {exc}") from exc
    return process, log


def _start_with_handshake(
    argv: Sequence[str],
    *,
    connection_file: str | None,
    kernel_name: str,
    signature_scheme: str,
    key: str,
    ip: str,
    env: Mapping[str, str] | None,
    cwd: str | None,
    resource_dir: str,
    timeout: float,
) -> KernelProcess:
    """start_kernel's handshake path: registration file, registrar, then connection file."""
    try:
        digest_for_scheme(signature_scheme)
    except ValueError as exc:
        raise ConnectionFileError(
            f"registration info to write: field 'signature_scheme': {exc}"
        ) from None
    from .registrar import Registrar  # here: only the handshake needs zmq at start

    registrar = Registrar(key, signature_scheme, ip=ip)
    fd, registration_file = tempfile.mkstemp(prefix="kernel-registration-", suffix=".json")
    os.close(fd)
    try:
        write_registration_file(
            registration_file,
            registration_port=registrar.port,
            registration_ip=ip,
            ip=ip,
            key=key,
            signature_scheme=signature_scheme,
            kernel_id=registrar.kernel_id,
            kernel_name=kernel_name,
        )
        process, log = _spawn(format_argv(argv, registration_file, resource_dir), env, cwd)
        kernel = KernelProcess(process, registration_file, {"transport": "tcp"}, log)
        try:
            ports = registrar.wait_for_kernel(kernel.is_running, timeout)
            path, info = write_connection_file(
                connection_file,
                ip=ip,
                key=key,
                signature_scheme=signature_scheme,
                kernel_name=kernel_name,
                shell_port=ports["shell_port"],
                iopub_port=ports["iopub_port"],
                stdin_port=ports["stdin_port"],
                control_port=ports["control_port"],
                hb_port=ports["hb_port"],
            )
        except (TimeoutError, ChildProcessError) as exc:
            if kernel.is_running():
                kernel.process.kill()
                kernel.process.wait()
            detail = kernel.describe_exit()  # read before cleanup closes the output file
            kernel.cleanup()
            refused = "".join(f"\n  refused: {reason}" for reason in registrar.refusals[-3:])
            raise KernelStartError(f"{exc}; {detail}{refused}") from None
        except BaseException:
            kernel.cleanup()
            raise
    finally:
        registrar.close()
        if os.path.exists(registration_file):
            os.unlink(registration_file)
    info["kernel_id"] = registrar.kernel_id
    kernel.connection_file, kernel.info = path, info
    return kernel


__all__ = ["REFERENCE_KERNEL_ARGV", "KernelProcess", "format_argv", "start_kernel"]
