"""``python -m kernelwire.kernel -f CONNECTION_FILE`` starts the kernel;
``python -m kernelwire.kernel install [--user] [--prefix P] [--name N]`` installs its
kernelspec."""

from __future__ import annotations

import argparse
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
    from .kernel import PythonKernel
    from .launch import serve

    return serve(
        PythonKernel,
        argv,
        prog="python -m kernelwire.kernel",
        epilog="To install its kernelspec: python -m kernelwire.kernel install --help",
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["install"]:
        return _install(args[1:])
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
