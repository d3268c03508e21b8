"""``python -m kernelwire.kernel -f CONNECTION_FILE`` starts the kernel;
``python -m kernelwire.kernel install [--user] [--prefix P] [--name N]`` installs its
kernelspec."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def _install(argv: list[str]) -> int:
    from .kernelspec import DEFAULT_NAME, install

    parser = argparse.ArgumentParser(
        prog="python -m kernelwire.kernel install",
        description="Install the kernelwire kernelspec so Jupyter can start this kernel.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="into the user's Jupyter data dir")
    where.add_argument("--prefix", help="into PREFIX/share/jupyter (e.g. a virtualenv)")
    where.add_argument(
        "--sys-prefix", action="store_true", help="into this environment's Jupyter data dir"
    )
    parser.add_argument("--name", default=DEFAULT_NAME, help="kernelspec name")
    parser.add_argument("--display-name", help="name shown in Jupyter's kernel menus")
    args = parser.parse_args(argv)
    try:
        path = install(args.name, args.user, args.prefix, args.sys_prefix, args.display_name)
    except ImportError:
        print("error: installing a kernelspec needs jupyter_core", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: cannot install kernelspec: {exc}", file=sys.stderr)
        return 1
    print(f"Installed kernelspec {args.name} in {path}")
    return 0


def _run(argv: list[str]) -> int:
    from ..connect import ConnectionFileError, read_connection_file
    from .kernel import Kernel
    from .limits import KernelLimits

    parser = argparse.ArgumentParser(
        prog="python -m kernelwire.kernel",
        description="Run the kernelwire Python kernel.",
        epilog="To install its kernelspec: python -m kernelwire.kernel install --help",
    )
    parser.add_argument("-f", "--connection-file", required=True, help="connection file")
    parser.add_argument("--debug", action="store_true", help="log at debug level")
    # Launchers may append arguments meant for other kernels (`jupyter run --kernel K f.py`
    # passes f.py; ipykernel ignores such extras): tolerated, so the kernel still starts.
    args, unknown = parser.parse_known_args(argv)
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
    kernel = Kernel(info, limits)
    kernel.run()
    if kernel.launcher_gone:
        # Nobody is left to serve: threads user code started must not keep an orphan alive.
        logging.shutdown()
        os._exit(1)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["install"]:
        return _install(args[1:])
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
