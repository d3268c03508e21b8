"""Running a kernel class as a program, as Jupyter starts kernels:
``python my_kernel.py -f CONNECTION_FILE`` with ``launch(MyKernel)`` (or
``MyKernel.launch()``) at the end of ``my_kernel.py``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import zmq

from ..connect import PORT_FIELDS
from ..handshake import HandshakeError

if TYPE_CHECKING:
    from .base import KernelBase


def serve(
    kernel_class: type[KernelBase],
    argv: list[str] | None = None,
    prog: str | None = None,
    epilog: str | None = None,
) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), start ``kernel_class`` and serve until it
    stops; the exit status (2: bad arguments, connection file or limits)."""
    from ..connect import ConnectionFileError
    from .limits import KernelLimits
    from .registration import read_kernel_file, register

    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"Run the {kernel_class.implementation} kernel.",
        epilog=epilog,
    )
    parser.add_argument(
        "-f",
        "--connection-file",
        required=True,
        help="connection file, or registration file for the startup handshake (protocol 5.6)",
    )
    parser.add_argument("--debug", action="store_true", help="log at debug level")
    # Launchers may append arguments meant for other kernels (`jupyter run --kernel K f.py`
    # passes f.py; ipykernel ignores such extras): tolerated, so the kernel still starts.
    args, unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        stream=sys.__stderr__,
        level=logging.DEBUG if args.debug else logging.INFO,
        format="[kernelwire %(levelname)s] %(message)s",
    )
    if unknown:
        logging.getLogger("kernelwire.kernel").warning(
            "ignoring arguments this kernel does not use: %s", " ".join(unknown)
        )
    try:
        info, registration = read_kernel_file(args.connection_file)
    except ConnectionFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        limits = KernelLimits.from_environment()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Keywords: wrappers written for ipykernel define __init__(self, **kwargs).
    kernel = kernel_class(connection_info=info, limits=limits)
    if registration is not None:
        # the sockets are bound (on ports the system chose): tell the launcher where
        ports = {field: kernel.connection_info[field] for field in PORT_FIELDS}
        context: zmq.Context[Any] = zmq.Context()
        try:
            register(context, registration, ports)
        except (HandshakeError, TimeoutError, zmq.ZMQError) as exc:
            print(f"error: startup handshake failed: {exc}", file=sys.stderr)
            if kernel._server is not None:  # nothing serves yet: close the bound sockets
                kernel._server.context.destroy(linger=0)
            return 1
        finally:
            context.term()
    kernel.run()
    if kernel.launcher_gone:
        # Nobody is left to serve: threads user code started must not keep an orphan alive.
        logging.shutdown()
        os._exit(1)
    return 0


def launch(kernel_class: type[KernelBase], argv: list[str] | None = None) -> None:
    """Serve ``kernel_class`` with the command line's ``-f CONNECTION_FILE`` (and
    ``--debug``); exits with status 2 when the arguments or the file are wrong. This is
    ipykernel's ``IPKernelApp.launch_instance(kernel_class=...)`` for kernelwire."""
    status = serve(kernel_class, argv)
    if status:
        sys.exit(status)
