"""Running a kernel class as a program, as Jupyter starts kernels:
``python my_kernel.py -f CONNECTION_FILE`` with ``launch(MyKernel)`` (or
``MyKernel.launch()``) at the end of ``my_kernel.py``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

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
    from ..connect import ConnectionFileError, read_connection_file
    from .limits import KernelLimits

    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"Run the {kernel_class.implementation} kernel.",
        epilog=epilog,
    )
    parser.add_argument("-f", "--connection-file", required=True, help="connection file")
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
        info = read_connection_file(args.connection_file)
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
