"""The ``kernelwire`` command: run code in a kernel, start a kernel, or show the demo.

Exit status of ``kernelwire run``: 0 when the code ran, 1 when it raised, 2 for bad
arguments, 3 when the kernel could not be started or reached (or timed out), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import re
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .client import (
    REFERENCE_KERNEL_ARGV,
    BlockingClient,
    ClientError,
    KernelProcess,
    start_kernel,
)
from .connect import ConnectionFileError, read_connection_file
from .kernelspec import KernelSpecError, NoSuchKernel, get_kernel_spec

EXIT_OK, EXIT_RAISED, EXIT_USAGE, EXIT_KERNEL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: MIME types written as text when saved; every other non-JSON type is base64 on the wire.
_TEXT_MIME = {"image/svg+xml", "application/javascript"}
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/svg+xml": ".svg",
    "application/pdf": ".pdf",
    "text/html": ".html",
    "text/markdown": ".md",
    "text/latex": ".tex",
    "application/json": ".json",
    "application/javascript": ".js",
}


def _is_text(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_MIME


def _payload(mime: str, value: Any) -> bytes:
    """The bytes a MIME bundle entry stands for (base64 decoded for binary types)."""
    if mime == "application/json" or mime.endswith("+json"):
        return json.dumps(value, indent=1).encode()
    if isinstance(value, list):  # some kernels split text into lines
        value = "".join(value)
    if _is_text(mime):
        return str(value).encode()
    try:
        return base64.b64decode(str(value), validate=False)
    except ValueError:
        return str(value).encode()


def _size(nbytes: int) -> str:
    if nbytes < 1024:
        return f"{nbytes} bytes"
    if nbytes < 1024 * 1024:
        return f"{nbytes / 1024:.1f} KiB"
    return f"{nbytes / (1024 * 1024):.1f} MiB"


class TerminalPrinter:
    """Shows IOPub outputs on a terminal as they arrive.

    Streams and ``text/plain`` are printed; other MIME types get a one-line placeholder
    naming the type and size, and are written to ``save_dir`` when one is given.
    """

    def __init__(self, stdout: TextIO, stderr: TextIO, save_dir: str | None = None) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.save_dir = save_dir
        self.saved: list[str] = []
        self._plain_errors = not stderr.isatty()

    def __call__(self, msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out = self.stderr if content.get("name") == "stderr" else self.stdout
            out.write(content.get("text", ""))
            out.flush()
        elif kind in ("execute_result", "display_data", "update_display_data"):
            self._show_bundle(content.get("data", {}))
        elif kind == "error":
            text = "\n".join(content.get("traceback") or [])
            text = text or f"{content.get('ename')}: {content.get('evalue')}"
            if self._plain_errors:
                text = _ANSI.sub("", text)
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def _show_bundle(self, data: dict[str, Any]) -> None:
        # text/plain first, whatever order the kernel chose: the text, then placeholders.
        for mime in sorted(data, key=lambda mime: mime != "text/plain"):
            value = data[mime]
            if mime == "text/plain":
                text = "".join(value) if isinstance(value, list) else str(value)
                self.stdout.write(text + "\n")
                continue
            payload = _payload(mime, value)
            note = f"[{mime} output, {_size(len(payload))}"
            if self.save_dir is not None:
                note += f", saved to {self._save(mime, payload)}"
            self.stdout.write(note + "]\n")
        self.stdout.flush()

    def _save(self, mime: str, payload: bytes) -> str:
        assert self.save_dir is not None
        os.makedirs(self.save_dir, exist_ok=True)
        extension = _EXTENSIONS.get(mime, ".bin")
        path = os.path.join(self.save_dir, f"output-{len(self.saved) + 1}{extension}")
        with open(path, "wb") as f:
            f.write(payload)
        self.saved.append(path)
        return path


def terminal_input(prompt: str, password: bool) -> str:
    """Answer the kernel's input_request from this terminal."""
    return getpass.getpass(prompt) if password else input(prompt)


def _kernel_command(name: str | None) -> tuple[Sequence[str], dict[str, str], str]:
    """argv, env and resource_dir of a kernelspec (None: the reference kernel)."""
    if name is None:
        return REFERENCE_KERNEL_ARGV, {}, ""
    spec = get_kernel_spec(name)
    return spec.argv, spec.env, spec.resource_dir


def _start(args: argparse.Namespace) -> KernelProcess:
    argv, env, resource_dir = _kernel_command(args.kernel)
    connection_file = getattr(args, "connection_file", None)
    return start_kernel(
        argv,
        connection_file=connection_file,
        kernel_name=args.kernel or "kernelwire",
        signature_scheme=args.signature_scheme,
        env=env,
        resource_dir=resource_dir,
        # A file we did not write is used as it is, and left in place afterwards.
        use_existing_file=connection_file is not None and os.path.exists(connection_file),
    )


def _fail(command: str, exc: BaseException) -> int:
    print(f"kernelwire {command}: error: {exc}", file=sys.stderr)
    return EXIT_KERNEL


def _read_code(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    if (args.code is None) == (args.file is None):
        parser.error("give CODE or -f FILE (exactly one)")
    if args.file is None:
        return str(args.code)
    if args.file == "-":
        return sys.stdin.read()
    try:
        with open(args.file, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        parser.error(f"cannot read {args.file}: {exc}")


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``kernelwire run``: execute code in a kernel, streaming its outputs."""
    code = _read_code(args, parser)
    if args.existing is not None and args.kernel is not None:
        parser.error("--existing and --kernel exclude each other")
    kernel: KernelProcess | None = None
    client: BlockingClient | None = None
    running = False
    try:
        if args.existing is not None:
            client = BlockingClient(read_connection_file(args.existing))
        else:
            kernel = _start(args)
            client = BlockingClient(kernel.info, kernel=kernel)
        client.wait_for_ready(args.startup_timeout)
        printer = TerminalPrinter(sys.stdout, sys.stderr, args.save_outputs)
        running = True
        result = client.execute(
            code, timeout=args.timeout, output_callback=printer, input_handler=terminal_input
        )
        running = False
        if result.status == "error":
            return EXIT_RAISED
        if result.status != "ok":
            print(f"kernelwire run: the kernel replied {result.status!r}", file=sys.stderr)
            return EXIT_RAISED
        return EXIT_OK
    except KeyboardInterrupt:
        print("kernelwire run: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ClientError, ConnectionFileError, NoSuchKernel, KernelSpecError, OSError) as exc:
        return _fail("run", exc)
    finally:
        if running and client is not None and kernel is None:
            # Someone else's kernel: stop our code rather than leave it running there.
            _interrupt_quietly(client)
        if client is not None and kernel is not None and kernel.is_running():
            _shutdown_quietly(client)
        if client is not None:
            client.close()
        if kernel is not None:
            kernel.cleanup()


def _interrupt_quietly(client: BlockingClient) -> None:
    try:
        client.interrupt(timeout=2.0)
    except (ClientError, KeyboardInterrupt):
        pass


def _shutdown_quietly(client: BlockingClient) -> None:
    try:
        client.shutdown(timeout=5.0)
    except (ClientError, KeyboardInterrupt):
        pass


def cmd_kernel(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``kernelwire kernel``: start a kernel, print its connection file, wait for it."""
    try:
        kernel = _start(args)
    except (ClientError, ConnectionFileError, NoSuchKernel, KernelSpecError, OSError) as exc:
        return _fail("kernel", exc)
    print(kernel.connection_file, flush=True)
    print(
        f"kernel pid {kernel.pid}; attach with: kernelwire run --existing "
        f"{kernel.connection_file} CODE   (Ctrl-C stops the kernel)",
        file=sys.stderr,
        flush=True,
    )
    client = BlockingClient(kernel.info, kernel=kernel)
    try:
        while not kernel.wait(1.0):
            pass
        print(f"kernelwire kernel: {kernel.describe_exit()}", file=sys.stderr)
        return EXIT_OK if kernel.exit_code == 0 else EXIT_KERNEL
    except KeyboardInterrupt:
        _shutdown_quietly(client)
        return EXIT_OK
    finally:
        client.close()
        kernel.cleanup()


def cmd_demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``kernelwire demo``: one signed message between two Sessions."""
    from .demo import run_demo

    return run_demo()


def _add_kernel_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--kernel",
        metavar="NAME",
        help="start the installed kernelspec NAME (e.g. python3 for ipykernel) instead of "
        "kernelwire's reference kernel; looked up where Jupyter looks "
        "(see `jupyter kernelspec list`)",
    )
    sub.add_argument(
        "--signature-scheme",
        default="hmac-sha256",
        metavar="SCHEME",
        help="HMAC scheme of the new connection file (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kernelwire",
        description="Jupyter messaging over ZeroMQ, fast and strict: run code in a Jupyter "
        "kernel, start a kernel, or watch one signed message go by.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run code in a kernel and stream its outputs",
        description="Run CODE (or the file given with -f) in a Jupyter kernel and stream "
        "stdout, stderr, results and errors as they arrive. Starts kernelwire's reference "
        "kernel unless --kernel or --existing says otherwise; a kernel it started is shut "
        "down, and its connection file removed, when it exits. Exit status: 0 ok, 1 the code "
        "raised, 2 bad arguments, 3 kernel trouble (start, connection, timeout), 130 Ctrl-C.",
        epilog='example: kernelwire run "print(6*7)"',
    )
    run.add_argument("code", nargs="?", metavar="CODE", help="the code to run")
    run.add_argument("-f", "--file", metavar="FILE", help="run the code in FILE ('-': stdin)")
    run.add_argument(
        "--existing",
        metavar="CONNECTION_FILE",
        help="use the running kernel of this connection file (it is not shut down)",
    )
    _add_kernel_options(run)
    run.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="give up (exit 3) when the code has not finished after SECONDS (default: wait)",
    )
    run.add_argument(
        "--startup-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the kernel to answer (default: %(default)s)",
    )
    run.add_argument(
        "--save-outputs",
        metavar="DIR",
        help="write rich outputs (images, HTML, ...) to files in DIR",
    )
    run.set_defaults(handler=cmd_run, parser=run)

    kernel = commands.add_parser(
        "kernel",
        help="start a kernel and print its connection file",
        description="Start kernelwire's reference kernel (or --kernel NAME), print the path "
        "of its connection file on stdout, and wait. Ctrl-C shuts the kernel down and "
        "removes the connection file if this command wrote it.",
    )
    _add_kernel_options(kernel)
    kernel.add_argument(
        "--connection-file",
        metavar="PATH",
        help="use this connection file: an existing one is used as it is (never rewritten "
        "nor removed), else a new one is written there (default: a new file in the temp "
        "directory); --signature-scheme applies to a new file only",
    )
    kernel.set_defaults(handler=cmd_kernel, parser=kernel)

    demo = commands.add_parser(
        "demo",
        help="send one signed message between two Sessions over tcp",
        description="Send a signed execute_request from one Session to another over a real "
        "tcp socket and print the message as received and verified.",
    )
    demo.set_defaults(handler=cmd_demo, parser=demo)
    return parser


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kernelwire`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM, and SIGHUP (the terminal closed), clean up like Ctrl-C: the kernel we
    # started must not outlive us. (After a SIGKILL, the kernel's parent watch ends it.)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    if hasattr(signal, "SIGHUP"):  # POSIX only
        signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    return int(args.handler(args, args.parser))
