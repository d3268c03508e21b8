"""Output below ``sys.stdout``: what child processes and C code write to fds 1 and 2 reaches
the frontend as stream output, and an explicit flush survives ``os._exit``.

Real kernel processes (started from a connection file, their own stdout and stderr in
files, where the launcher would see them) and jupyter_client's ``BlockingKernelClient``.
Every wait has a generous timeout that only turns a hang into a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
import zmq
from jupyter_client.blocking.client import BlockingKernelClient

from helpers import wait_until_serving
from kernelwire.connect import (
    channel_url,
    read_connection_file,
    session_from_connection_info,
    write_connection_file,
)

TIMEOUT = 30

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fd capture is POSIX only")


@dataclass
class RunningKernel:
    process: subprocess.Popen[bytes]
    client: BlockingKernelClient
    stdout: Path  # where fd 1 of the kernel pointed when it started
    stderr: Path


def _launch(tmp_path: Path, env: dict[str, str] | None = None) -> RunningKernel:
    path, info = write_connection_file(tmp_path / "connection.json")
    stdout, stderr = tmp_path / "kernel.out", tmp_path / "kernel.err"
    argv = [sys.executable, "-m", "kernelwire.kernel", "-f", path]
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
    client = BlockingKernelClient()
    client.load_connection_file(path)
    kernel = RunningKernel(process, client, stdout, stderr)
    try:
        wait_until_serving(info, process)
        client.start_channels()
        client.wait_for_ready(timeout=TIMEOUT)
    except BaseException:
        _stop(kernel)
        raise
    return kernel


def _stop(kernel: RunningKernel) -> None:
    kernel.client.stop_channels()
    if kernel.process.poll() is None:
        kernel.process.kill()
    kernel.process.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningKernel]:
    running = _launch(tmp_path_factory.mktemp("kernel"))
    yield running
    _stop(running)


@pytest.fixture
def kc(kernel: RunningKernel) -> BlockingKernelClient:
    while True:  # nothing left over from an earlier test
        try:
            kernel.client.get_iopub_msg(timeout=0.05)
        except Empty:
            return kernel.client


def _run(kc: BlockingKernelClient, code: str) -> list[dict[str, Any]]:
    """Execute ``code``; its IOPub messages from busy to idle (checking it succeeded)."""
    msg_id = kc.execute(code)
    messages: list[dict[str, Any]] = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    while reply["parent_header"].get("msg_id") != msg_id:  # left by a failed earlier test
        reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["content"]["status"] == "ok", reply["content"]
    return messages


def _streams(messages: list[dict[str, Any]]) -> dict[str, str]:
    """The text of each stream, in order (however it was split into messages)."""
    texts: dict[str, str] = {}
    for msg in messages:
        if msg["msg_type"] == "stream":
            name = msg["content"]["name"]
            texts[name] = texts.get(name, "") + msg["content"]["text"]
    return texts


# ------------------------------------------------------------------ fd-level output


def test_os_system_output_arrives_by_stream_name_before_idle(kc: BlockingKernelClient) -> None:
    outputs = _streams(_run(kc, "import os\nos.system('echo to-out; echo to-err >&2')"))
    assert outputs == {"stdout": "to-out\n", "stderr": "to-err\n"}


def test_subprocesses_write_into_the_streams(kc: BlockingKernelClient) -> None:
    code = (
        "import subprocess, sys\n"
        "print(sys.stdout.fileno(), sys.stderr.fileno())\n"
        'child = \'import sys; print("child-out"); print("child-err", file=sys.stderr)\'\n'
        "subprocess.run([sys.executable, '-c', child], stdout=sys.stdout, stderr=sys.stderr)\n"
        "subprocess.run([sys.executable, '-c', child])\n"  # inherits fds 1 and 2
    )
    outputs = _streams(_run(kc, code))
    assert outputs == {"stdout": "1 2\nchild-out\nchild-out\n", "stderr": "child-err\nchild-err\n"}


def test_c_level_writes_and_printf_are_captured(kc: BlockingKernelClient) -> None:
    code = (
        "import ctypes, os\n"
        "os.write(2, b'raw-err\\n')\n"
        "ctypes.CDLL(None).printf(b'from-printf %d\\n', 42)\n"  # stays in C stdio's buffer
    )
    assert _streams(_run(kc, code)) == {"stderr": "raw-err\n", "stdout": "from-printf 42\n"}


def test_c_code_holding_the_gil_can_write_more_than_a_default_pipe_holds(
    kc: BlockingKernelClient,
) -> None:
    """The reader thread needs the GIL: a writer that keeps it blocks once the pipe is full
    (a hang ipykernel has beyond 64 kB). The pipes are enlarged; 500 kB goes through."""
    code = (
        "import ctypes\n"
        "libc = ctypes.PyDLL(None)\n"  # PyDLL: the GIL stays held during the calls
        "libc.printf(b'%s\\n', b'x' * 500_000)\n"
        "libc.fflush(None)\n"
    )
    assert _streams(_run(kc, code)) == {"stdout": "x" * 500_000 + "\n"}


def test_a_forked_child_prints_through_the_parent(kc: BlockingKernelClient) -> None:
    """A forked child has no IOPub thread: its ``print`` goes to fd 1, read by the parent
    (and the child never reads the parent's pipe)."""
    code = (
        "import multiprocessing, warnings\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"  # fork with threads (3.12+)
        "context = multiprocessing.get_context('fork')\n"
        "child = context.Process(target=print, args=('from the child',))\n"
        "child.start()\n"
        "child.join()\n"
        "print('exit code', child.exitcode)\n"
    )
    assert _streams(_run(kc, code)) == {"stdout": "from the child\nexit code 0\n"}


def test_faulthandler_can_be_enabled_and_dumps_into_stderr(kc: BlockingKernelClient) -> None:
    code = (
        "import faulthandler\n"
        "faulthandler.enable()\n"
        "faulthandler.dump_traceback(all_threads=False)\n"
        "faulthandler.disable()\n"
    )
    outputs = _streams(_run(kc, code))
    assert list(outputs) == ["stderr"]
    assert outputs["stderr"].startswith("Stack (most recent call first):\n")
    assert 'File "<Cell In[' in outputs["stderr"]


def test_python_and_fd_output_keep_their_order(kc: BlockingKernelClient) -> None:
    code = (
        "import os\n"
        "print('a')\n"
        "os.system('echo b')\n"
        "print('c')\n"
        "os.write(1, b'd\\n')\n"
        "print('e', end='')\n"
        "os.write(1, 'é\\n'.encode()[:1])\n"  # half a UTF-8 character...
        "os.write(1, 'é\\n'.encode()[1:])\n"  # ...and the rest
    )
    assert _streams(_run(kc, code)) == {"stdout": "a\nb\nc\nd\neé\n"}


def _lines_in_order(messages: list[dict[str, Any]]) -> list[str]:
    """Every line of stream output, in the order the messages came (both streams)."""
    text = "".join(msg["content"]["text"] for msg in messages if msg["msg_type"] == "stream")
    return text.splitlines()


@pytest.mark.parametrize(
    ("fd", "print_to"), [(2, "sys.stdout"), (1, "sys.stderr")], ids=["fd2-stdout", "fd1-stderr"]
)
def test_fd_output_and_prints_to_the_other_stream_keep_their_order(
    kc: BlockingKernelClient, fd: int, print_to: str
) -> None:
    """Regression: what C code writes to fd 2 and a print to stdout after it (or fd 1 and
    stderr) arrived all prints first, then all fd output: each write checked its own fd
    only, and the fd reader's text went out after the other stream's."""
    code = (
        "import os, sys, time\n"
        "for i in range(200):\n"
        f"    os.write({fd}, f'fd{{i}}\\n'.encode())\n"
        f"    print(f'print{{i}}', file={print_to})\n"
        "    if i % 20 == 0:\n"
        "        time.sleep(0.002)\n"  # the fd reader thread gets its turns too
    )
    expected = [line for i in range(200) for line in (f"fd{i}", f"print{i}")]
    for _ in range(3):
        assert _lines_in_order(_run(kc, code)) == expected


def test_more_than_a_pipe_holds_arrives_complete_before_idle(kc: BlockingKernelClient) -> None:
    outputs = _streams(_run(kc, "import os\nos.system('seq 1 100000')"))
    expected = "".join(f"{n}\n" for n in range(1, 100001))  # 589 kB: many pipes full
    assert outputs == {"stdout": expected}


def test_fd_output_is_flushed_while_the_cell_still_runs(
    kc: BlockingKernelClient, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    code = (
        "import os, time\n"
        "os.system('echo early')\n"
        f"while not os.path.exists({str(flag)!r}):\n"
        "    time.sleep(0.01)\n"
    )
    msg_id = kc.execute(code)
    try:
        while True:
            msg = kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        assert msg["content"] == {"name": "stdout", "text": "early\n"}
    finally:
        flag.touch()  # only now can the cell end
    assert kc.get_shell_msg(timeout=TIMEOUT)["content"]["status"] == "ok"


def test_the_kernel_log_stays_in_the_launchers_stderr(
    kernel: RunningKernel, kc: BlockingKernelClient
) -> None:
    code = "import logging\nlogging.getLogger('kernelwire.kernel').warning('log-marker-5813')"
    outputs = _run(kc, code)
    assert _streams(outputs) == {}
    deadline = time.monotonic() + TIMEOUT
    while "log-marker-5813" not in kernel.stderr.read_text():
        assert time.monotonic() < deadline, kernel.stderr.read_text()
        time.sleep(0.05)


def test_the_kernel_log_stays_out_of_a_handler_a_cell_adds(tmp_path: Path) -> None:
    """Regression: a cell that sends the root logger to ``sys.stdout`` (what
    ``logging.basicConfig(force=True)`` does with stderr) got the kernel's own warnings as
    its output, and a warning from the IOPub thread would have had that thread wait for
    room in IOPub, which only it makes. The kernel's log keeps going to the launcher."""
    kernel = _launch(tmp_path)
    try:
        to_stdout = "logging.getLogger().addHandler(logging.StreamHandler(sys.stdout))"
        _run(kernel.client, f"import logging, sys\n{to_stdout}")
        code = (
            "import logging, threading\n"
            "logging.getLogger('kernelwire.kernel').warning('kernel-marker-7731')\n"
            "thread = threading.Thread(\n"
            "    target=logging.getLogger('kernelwire.kernel.iopub').warning,\n"
            "    args=('thread-marker-7731',),\n"
            ")\n"
            "thread.start()\n"
            "thread.join()\n"
            "logging.getLogger('user').warning('user-marker-7731')\n"
        )
        assert _streams(_run(kernel.client, code)) == {"stdout": "user-marker-7731\n"}
        deadline = time.monotonic() + TIMEOUT
        while "thread-marker-7731" not in kernel.stderr.read_text():
            assert time.monotonic() < deadline, kernel.stderr.read_text()
            time.sleep(0.05)
        assert "kernel-marker-7731" in kernel.stderr.read_text()
    finally:
        _stop(kernel)


def test_fds_are_restored_when_the_kernel_stops(tmp_path: Path) -> None:
    kernel = _launch(tmp_path)
    try:
        code = (
            "import atexit, os\n"
            "os.system('echo captured')\n"
            "atexit.register(os.write, 1, b'at-exit\\n')\n"
        )
        assert _streams(_run(kernel.client, code)) == {"stdout": "captured\n"}
        kernel.client.shutdown()
        assert kernel.client.get_control_msg(timeout=TIMEOUT)["content"]["status"] == "ok"
        assert kernel.process.wait(timeout=TIMEOUT) == 0
    finally:
        _stop(kernel)
    assert kernel.stdout.read_text() == "at-exit\n"  # fd 1 leads to the launcher's file again


def test_a_crash_dump_of_faulthandler_enabled_at_start_reaches_the_launcher(
    tmp_path: Path,
) -> None:
    """With PYTHONFAULTHANDLER the dump of a crash goes to the launcher's stderr (the
    pipe's reader dies with the process: a dump into fd 2 would be lost)."""
    kernel = _launch(tmp_path, env=dict(os.environ, PYTHONFAULTHANDLER="1"))
    try:
        kernel.client.execute("import ctypes\nctypes.string_at(0)")  # reads address 0
        assert kernel.process.wait(timeout=TIMEOUT) == -signal.SIGSEGV
    finally:
        _stop(kernel)
    dump = kernel.stderr.read_text()
    assert "Fatal Python error: Segmentation fault" in dump
    assert 'File "<Cell In[1]>", line 2 in <module>' in dump


# ------------------------------------------------------------- flush before os._exit


@pytest.mark.parametrize("run", range(20))
def test_flushed_output_survives_os_exit(tmp_path: Path, run: int) -> None:
    """Each run a fresh kernel: what ``print(..., flush=True)`` wrote reaches the client
    even though the process ends at once, before ZeroMQ's I/O thread would otherwise
    have written it."""
    kernel = _launch(tmp_path)
    try:
        kernel.client.execute(f"import os\nprint('last words {run}', flush=True)\nos._exit(1)")
        deadline = time.monotonic() + 2 * TIMEOUT
        while True:
            try:
                msg = kernel.client.get_iopub_msg(timeout=0.2)
            except Empty:
                assert time.monotonic() < deadline, "the flushed output never arrived"
                continue
            if msg["msg_type"] == "stream":
                assert msg["content"] == {"name": "stdout", "text": f"last words {run}\n"}
                break
        assert kernel.process.wait(timeout=TIMEOUT) == 1
    finally:
        _stop(kernel)


def test_interrupting_a_printing_loop_never_sends_half_a_message(tmp_path: Path) -> None:
    """A SIGINT lands, most of the time, while the cell's print is being published: the
    message must still go out whole (a KeyboardInterrupt between two of its frames used
    to leave a junk message on IOPub, which jupyter_client chokes on)."""
    kernel = _launch(tmp_path)
    info = read_connection_file(tmp_path / "connection.json")
    session = session_from_connection_info(info, parse_dates=False)
    context: zmq.Context[Any] = zmq.Context()
    raw = context.socket(zmq.SUB)
    raw.linger = 0
    raw.setsockopt(zmq.SUBSCRIBE, b"")
    raw.connect(channel_url(info, "iopub"))
    kc = kernel.client
    try:
        raw.poll(TIMEOUT * 1000)  # its welcome: subscribed
        for _ in range(20):
            msg_id = kc.execute("while True:\n    print('x', flush=True)")
            while True:  # the loop prints: interrupt it in the middle of that
                msg = kc.get_iopub_msg(timeout=TIMEOUT)
                if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                    break
            kernel.process.send_signal(signal.SIGINT)
            reply = kc.get_shell_msg(timeout=TIMEOUT)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = kc.get_shell_msg(timeout=TIMEOUT)
            assert reply["content"]["ename"] == "KeyboardInterrupt"
        _run(kc, "'settled'")  # everything before this is on the raw socket now
        received = 0
        while raw.poll(0):
            frames = raw.recv_multipart()
            _idents, parts = session.feed_identities(frames)  # raises on a junk message
            session.deserialize(parts)  # and on a message glued to another
            received += 1
        assert received > 40
    finally:
        context.destroy(linger=0)
        _stop(kernel)
