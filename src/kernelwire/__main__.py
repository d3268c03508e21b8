"""The ``kernelwire`` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kernelwire", description="Jupyter messaging over ZeroMQ, fast and strict."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="send one signed message between two Sessions over tcp")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
