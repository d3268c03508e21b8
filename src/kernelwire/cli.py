"""The ``kernelwire`` command: run code in a kernel, start a kernel, or show the demo.

Exit status of ``kernelwire run``:

- 0: the code ran; 1: it raised (or the kernel replied something other than ok);
- 2: bad arguments, found before any kernel is started or contacted: usage errors, an
  unknown kernelspec, an unreadable FILE or stdin, an unusable ``--existing`` connection
  file or ``--save-outputs`` directory;
- 3: kernel trouble: it could not be started (or its kernelspec is malformed), died, could
  not be reached, refused our key, or did not finish within ``--timeout``;
- 128 + N when signal N stopped us: 129 SIGHUP (terminal closed), 130 SIGINT (Ctrl-C),
  143 SIGTERM. A kernel we started is shut down first (interrupt, shutdown_request, then
  SIGTERM and SIGKILL, each step bounded), and so is what is left of its process group;
- 141 (128 + SIGPIPE, as for Unix tools killed by SIGPIPE) when our stdout or stderr was
  closed, e.g. by ``| head -1``; quietly, after the same shutdown.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import getpass
import json
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ._version import __version__
from .client.errors import ClientError, KernelTimeout
from .client.launcher import REFERENCE_KERNEL_ARGV, KernelProcess, start_kernel
from .connect import ConnectionFileError, read_connection_file
from .kernelspec import KernelSpecError, NoSuchKernel, get_kernel_spec
from .protocol import is_binary_mime

if TYPE_CHECKING:  # loaded by the commands that talk to a kernel: --help needs no zmq
    from .client.blocking import BlockingClient

EXIT_OK, EXIT_RAISED, EXIT_USAGE, EXIT_KERNEL = 0, 1, 2, 3
#: A closed stdout or stderr: what a shell reports for a tool killed by SIGPIPE.
EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE
#: Seconds each polite step of stopping a kernel may take before the next, firmer one.
STOP_GRACE = 2.0
#: Seconds to wait for an interrupted cell to end before sending SIGINT again.
INTERRUPT_RETRY = 0.5
#: Signals that stop ``kernelwire``; the exit status is 128 + the signal's number.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
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


class Stopped(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM or SIGHUP) asked us to stop. A KeyboardInterrupt, so that
    whatever cleans up after Ctrl-C cleans up after the others too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        if self.signum == signal.SIGINT:
            return "interrupted"
        return f"stopped by {signal.Signals(self.signum).name}"


class _StopSignals:
    """Turns the stop signals into :class:`Stopped`, except while held back: then the
    first one is kept and raised when the holding ends (or dropped, when we end anyway)."""

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self.holding:
            raise Stopped(signum)
        if self.pending is None:
            self.pending = signum

    @contextlib.contextmanager
    def held_back(self, raise_after: bool = True) -> Iterator[None]:
        """Hold the signals back while a step must not be cut in two (starting a kernel:
        cut, it would run with nobody to stop it; the last forced cleanup)."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            pending, self.pending = self.pending, None
            if pending is not None and raise_after:
                raise Stopped(pending)


_SIGNALS = _StopSignals()


def _escaped(text: str, stream: TextIO) -> str:
    """``text`` with what ``stream`` cannot encode (a lone surrogate, 'é' on an ascii
    stream) written as backslash escapes."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def _write(stream: TextIO, text: str) -> None:
    """Write ``text``, escaping what ``stream`` cannot encode rather than failing the whole
    run. (A text stream encodes all of ``text`` before writing any of it.)"""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.write(_escaped(text, stream))


def _say(text: str) -> None:
    """One line of our own on stderr; nothing if stderr is gone (a closed terminal)."""
    try:
        _write(sys.stderr, text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _payload(mime: str, value: Any) -> bytes:
    """The bytes a MIME bundle entry stands for (base64 decoded for binary types)."""
    if mime == "application/json" or mime.endswith("+json"):
        return json.dumps(value, indent=1).encode()
    if isinstance(value, list):  # some kernels split text into lines
        value = "".join(value)
    if not is_binary_mime(mime):
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
    naming the type and size, and are written to ``save_dir`` when one is given. Once
    ``muted`` (we are stopping the kernel), nothing more is shown: the kernel's
    KeyboardInterrupt traceback is not news to whoever stopped us.
    """

    def __init__(self, stdout: TextIO, stderr: TextIO, save_dir: str | None = None) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.save_dir = save_dir
        self.saved: list[str] = []
        self.muted = False
        self._save_attempts = 0
        self._plain_errors = not stderr.isatty()

    def __call__(self, msg: dict[str, Any]) -> None:
        if self.muted:
            return
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out = self.stderr if content.get("name") == "stderr" else self.stdout
            self._show(out, content.get("text", ""))
        elif kind in ("execute_result", "display_data", "update_display_data"):
            self._show(self.stdout, self._bundle_text(content.get("data", {})))
        elif kind == "error":
            text = "\n".join(content.get("traceback") or [])
            text = text or f"{content.get('ename')}: {content.get('evalue')}"
            if self._plain_errors:
                text = _ANSI.sub("", text)
            self._show(self.stderr, text + "\n")

    def _show(self, out: TextIO, text: str) -> None:
        _write(out, text)
        out.flush()

    def _bundle_text(self, data: dict[str, Any]) -> str:
        # text/plain first, whatever order the kernel chose: the text, then placeholders.
        lines = []
        for mime in sorted(data, key=lambda mime: mime != "text/plain"):
            value = data[mime]
            if mime == "text/plain":
                lines.append("".join(value) if isinstance(value, list) else str(value))
                continue
            payload = _payload(mime, value)
            note = f"[{mime} output, {_size(len(payload))}"
            if self.save_dir is not None:
                note += self._save(mime, payload)
            lines.append(note + "]")
        return "".join(line + "\n" for line in lines)

    def _save(self, mime: str, payload: bytes) -> str:
        """Write ``payload`` to the next ``output-N`` file; the note saying where (or why
        not). Never overwrites: a file already there belongs to someone else."""
        assert self.save_dir is not None
        self._save_attempts += 1
        extension = _EXTENSIONS.get(mime) or (".json" if mime.endswith("+json") else ".bin")
        path = os.path.join(self.save_dir, f"output-{self._save_attempts}{extension}")
        try:
            with open(path, "xb") as f:
                f.write(payload)
        except OSError as exc:
            return f", not saved to {path}: {exc.strerror}"
        self.saved.append(path)
        return f", saved to {path}"


def terminal_input(prompt: str, password: bool) -> str:
    """Answer the kernel's input_request from this terminal."""
    prompt = _escaped(prompt, sys.stdout)
    return getpass.getpass(prompt) if password else input(prompt)


def _kernel_command(name: str | None) -> tuple[Sequence[str], dict[str, str], str, bool]:
    """argv, env, resource_dir and handshake support of a kernelspec (None: the reference
    kernel)."""
    if name is None:  # the reference kernel speaks protocol 5.6: no port is picked for it
        return REFERENCE_KERNEL_ARGV, {}, "", True
    spec = get_kernel_spec(name)
    return spec.argv, spec.env, spec.resource_dir, spec.supports_handshake


def _start(args: argparse.Namespace) -> KernelProcess:
    argv, env, resource_dir, handshake = _kernel_command(args.kernel)
    connection_file = getattr(args, "connection_file", None)
    # A file we did not write is used as it is, and left in place afterwards.
    use_existing_file = connection_file is not None and os.path.exists(connection_file)
    return start_kernel(
        argv,
        connection_file=connection_file,
        kernel_name=args.kernel or "kernelwire",
        signature_scheme=args.signature_scheme,
        env=env,
        resource_dir=resource_dir,
        use_existing_file=use_existing_file,
        handshake=handshake and not use_existing_file,
    )


#: What we were given is wrong: found before any kernel was started or contacted.
_USAGE_ERRORS = (NoSuchKernel, ConnectionFileError)


def _fail(command: str, exc: BaseException) -> int:
    _say(f"kernelwire {command}: error: {exc}")
    return EXIT_USAGE if isinstance(exc, _USAGE_ERRORS) else EXIT_KERNEL


def _read_code(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    if args.code is not None and args.file is not None:
        parser.error("give CODE or -f FILE, not both")
    if args.code is not None:
        return str(args.code)
    if args.file is None and (sys.stdin is None or sys.stdin.isatty()):
        parser.error("give CODE or -f FILE (or pipe the code to stdin)")
    if args.file is None or args.file == "-":
        try:
            return sys.stdin.buffer.read().decode("utf-8")
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            parser.error(f"cannot read the code from stdin: {exc}")
    try:
        with open(args.file, encoding="utf-8") as f:
            return f.read()
    except (OSError, ValueError) as exc:
        parser.error(f"cannot read {args.file}: {exc}")


def _prepare_save_dir(path: str | None, parser: argparse.ArgumentParser) -> str | None:
    """Check (creating it if needed) that ``--save-outputs`` can take this run's files,
    before any code runs. An existing directory must be empty: the outputs of two runs
    are never mixed, and output-1.png is always this run's first output."""
    if path is None:
        return None
    if os.path.exists(path) and not os.path.isdir(path):
        parser.error(f"--save-outputs {path}: not a directory")
    try:
        os.makedirs(path, exist_ok=True)
        if os.listdir(path):
            parser.error(
                f"--save-outputs {path}: the directory is not empty (give a new or empty "
                "one, so that the outputs of different runs are not mixed)"
            )
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        parser.error(f"--save-outputs {path}: cannot write files there: {exc.strerror}")
    return path


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``kernelwire run``: execute code in a kernel, streaming its outputs."""
    if args.existing is not None and args.kernel is not None:
        parser.error("--existing and --kernel exclude each other")
    from .client.blocking import BlockingClient

    code = _read_code(args, parser)
    printer = TerminalPrinter(sys.stdout, sys.stderr, _prepare_save_dir(args.save_outputs, parser))
    kernel: KernelProcess | None = None
    client: BlockingClient | None = None
    interrupt_mode = "signal"
    running = False
    try:
        if args.existing is not None:
            info = read_connection_file(args.existing)
            if not info["key"]:
                _say(
                    f"kernelwire run: warning: {args.existing} has an empty key: messages "
                    "are not signed, and anyone who can reach the kernel's ports can run "
                    "code in it"
                )
            client = BlockingClient(info)
        else:
            if args.kernel is not None:
                interrupt_mode = get_kernel_spec(args.kernel).interrupt_mode
            with _SIGNALS.held_back():  # a kernel started must be one we can stop
                kernel = _start(args)
                client = BlockingClient(kernel.info, kernel=kernel)
        client.wait_for_ready(args.startup_timeout)
        running = True
        result = client.execute(
            code, timeout=args.timeout, output_callback=printer, input_handler=terminal_input
        )
        running = False
        if result.status == "error":
            return EXIT_RAISED
        if result.status != "ok":
            _say(f"kernelwire run: the kernel replied {result.status!r}")
            return EXIT_RAISED
        return EXIT_OK
    except KeyboardInterrupt as exc:
        stop = exc if isinstance(exc, Stopped) else Stopped(signal.SIGINT)
        _say(f"kernelwire run: {stop}")
        return stop.exit_status
    except BrokenPipeError:
        _silence_output()
        return EXIT_OUTPUT_CLOSED
    except (ClientError, ConnectionFileError, NoSuchKernel, KernelSpecError, OSError) as exc:
        return _fail("run", exc)
    finally:
        printer.muted = True  # what the kernel sends while we stop it is not for the user
        _leave_nothing_running(client, kernel, running, interrupt_mode)


def _leave_nothing_running(
    client: BlockingClient | None,
    kernel: KernelProcess | None,
    running: bool,
    interrupt_mode: str,
) -> None:
    """Stop our code in a kernel we attached to; shut down a kernel we started.

    The polite steps (interrupt the code, so that a kernel busy in it can act on
    shutdown_request; shutdown_request) are bounded by STOP_GRACE each, and a second stop
    signal cuts them short. Then, whatever happened: SIGTERM, SIGKILL, and SIGKILL to
    what is left of the kernel's process group.
    """
    try:
        if client is not None and kernel is None and running:
            client.interrupt(timeout=STOP_GRACE)  # someone else's kernel: keep it, free it
        elif client is not None and kernel is not None and kernel.is_running():
            if running and interrupt_mode == "signal":
                _interrupt_until_the_cell_ends(client, kernel)
            elif running:
                client.interrupt(timeout=STOP_GRACE)
            client.shutdown(timeout=STOP_GRACE)
    except (ClientError, OSError, KeyboardInterrupt):
        pass
    finally:
        with _SIGNALS.held_back(raise_after=False):
            if client is not None:
                client.close()
            if kernel is not None:
                kernel.cleanup(timeout=STOP_GRACE)
                _kill_process_group(kernel.pid)


def _interrupt_until_the_cell_ends(client: BlockingClient, kernel: KernelProcess) -> None:
    """SIGINT the kernel, and again every INTERRUPT_RETRY seconds until a kernel_info_request
    queued behind the cell on shell is answered, for at most STOP_GRACE seconds.

    One SIGINT can be lost: the kernel's process may hand it to a thread other than the
    main one, where a kernel without a repair for that (ipykernel has none; kernelwire's
    has) never acts on it, or the code may ignore one. And a kernel still in the cell may
    act on shutdown_request only when the code ends, after the last polite step.
    """
    deadline = time.monotonic() + STOP_GRACE
    while True:
        kernel.interrupt()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            client.kernel_info(timeout=min(INTERRUPT_RETRY, left))
            return
        except KernelTimeout:
            continue


def _kill_process_group(pgid: int) -> None:
    """SIGKILL what is left of a started kernel's process group (the kernel runs in a
    session of its own, so the group is its own): the real kernel when the kernelspec's
    argv is a launcher that died without taking it along, or processes the code left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _silence_output() -> None:
    """Point our stdout and stderr at /dev/null once a reader went away, so that nothing
    still buffered makes the interpreter complain on exit (``Exception ignored ...``)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass
    finally:
        os.close(devnull)


def _shutdown_quietly(client: BlockingClient) -> None:
    try:
        client.shutdown(timeout=5.0)
    except (ClientError, KeyboardInterrupt):
        pass


def cmd_kernel(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``kernelwire kernel``: start a kernel, print its connection file, wait for it."""
    from .client.blocking import BlockingClient

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


def cmd_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``kernelwire check``: conformance and security checks; 1 when any check fails."""
    from .check import CheckOptions, KernelUnavailable, run_checks
    from .check.report import render_json, render_table

    if (args.kernel is None) == (args.existing is None):
        parser.error("give exactly one of --kernel NAME and --existing FILE")
    options = CheckOptions(
        kernel_name=args.kernel,
        existing=args.existing,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        snippets_file=args.snippets,
    )
    try:
        report = run_checks(options)
    except (NoSuchKernel, KernelSpecError, ConnectionFileError, OSError, ValueError) as exc:
        _say(f"kernelwire check: {exc}")
        return EXIT_USAGE
    except (ClientError, KernelUnavailable) as exc:
        _say(f"kernelwire check: {exc}")
        return EXIT_KERNEL
    print(render_json(report) if args.json else render_table(report), flush=True)
    return EXIT_RAISED if report.failed else EXIT_OK


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


RUN_DESCRIPTION = """\
Run CODE (or the file given with -f, or stdin) in a Jupyter kernel and stream
stdout, stderr, results and errors as they arrive. Starts kernelwire's reference
kernel unless --kernel or --existing says otherwise; a kernel it started is shut
down, and its connection file removed, when it exits, whatever the reason.

Exit status:
  0    the code ran
  1    the code raised
  2    bad arguments (nothing was started): usage, unknown kernelspec, unreadable
       FILE or stdin, unusable connection file or --save-outputs DIR
  3    kernel trouble: could not start, died, unreachable, wrong key, --timeout
  129  SIGHUP (terminal closed), 130 SIGINT (Ctrl-C), 143 SIGTERM: 128 + signal
  141  stdout or stderr closed by its reader (e.g. | head), quietly"""


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kernelwire",
        description="Jupyter messaging over ZeroMQ, fast and strict: run code in a Jupyter "
        "kernel, start a kernel, or watch one signed message go by.",
    )
    parser.add_argument("--version", action="version", version=f"kernelwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run code in a kernel and stream its outputs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=RUN_DESCRIPTION,
        epilog='examples:\n  kernelwire run "print(6*7)"\n  kernelwire run < script.py',
    )
    run.add_argument("code", nargs="?", metavar="CODE", help="the code to run")
    run.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help="run the code in FILE ('-': stdin; stdin is also read when neither CODE nor "
        "FILE is given and stdin is not a terminal)",
    )
    run.add_argument(
        "--existing",
        metavar="CONNECTION_FILE",
        help="use the running kernel of this connection file (it is not shut down; running "
        "code is interrupted if we stop early)",
    )
    _add_kernel_options(run)
    run.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up (exit 3) when the code has not finished after SECONDS (default: wait)",
    )
    run.add_argument(
        "--startup-timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the kernel to answer (default: %(default)s)",
    )
    run.add_argument(
        "--save-outputs",
        metavar="DIR",
        help="write rich outputs (images, HTML, JSON, ...) to DIR/output-N.EXT; DIR is "
        "created if needed and must be empty (checked before the code runs), so the files "
        "of two runs never mix",
    )
    run.set_defaults(handler=cmd_run, parser=run)

    kernel = commands.add_parser(
        "kernel",
        help="start a kernel and print its connection file",
        description="Start kernelwire's reference kernel (or --kernel NAME), print the path "
        "of its connection file on stdout, and wait. Ctrl-C, SIGTERM or SIGHUP (the "
        "terminal closed) shut the kernel down and remove the connection file if this "
        "command wrote it.",
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

    check = commands.add_parser(
        "check",
        help="check a kernel's conformance and security",
        description="Start the installed kernelspec NAME (or attach to a running kernel's "
        "connection file), check that it answers as the messaging spec says and refuses what "
        "it must (unsigned, wrongly signed, replayed and reflected messages; malformed and "
        "oversized frames; subscription floods), and print one row per check: pass, fail or "
        "not supported, with the evidence. Exit status: 0 no check failed, 1 some check "
        "failed, 2 bad arguments, 3 the kernel could not be started or never answered.",
    )
    check.add_argument("--kernel", metavar="NAME", help="start and check this kernelspec")
    check.add_argument(
        "--existing",
        metavar="CONNECTION_FILE",
        help="check the running kernel of this connection file (it is not shut down; the "
        "hostile checks may leave it dead)",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for each reply (default: %(default)s)",
    )
    check.add_argument(
        "--startup-timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the kernel to answer at first (default: %(default)s)",
    )
    check.add_argument(
        "--snippets",
        metavar="FILE",
        help="JSON {language: {snippet: code}} adding code for the execute checks "
        "(see kernelwire.check.snippets); python is built in",
    )
    check.set_defaults(handler=cmd_check, parser=check)

    demo = commands.add_parser(
        "demo",
        help="send one signed message between two Sessions over tcp",
        description="Send a signed execute_request from one Session to another over a real "
        "tcp socket and print the message as received and verified.",
    )
    demo.set_defaults(handler=cmd_demo, parser=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kernelwire`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM and SIGHUP (terminal closed) clean up like Ctrl-C: the kernel we started
    # must not outlive us. (After a SIGKILL, the kernel's own parent watch ends it.)
    _SIGNALS.install()
    try:
        return int(args.handler(args, args.parser))
    except Stopped as stop:  # before a kernel was started, e.g. while reading stdin
        _say(f"kernelwire {args.command}: {stop}")
        return stop.exit_status
