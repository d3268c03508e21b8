"""The reference kernel's life as a process: end of input, the end of its launcher, the
command lines launchers give it, and the connection files it is given.

Real processes and real signals throughout: launchers (jupyter_client's KernelManager, a
plain ``subprocess`` script, ``kernelwire run``) are killed with SIGKILL or SIGHUP and
the kernel must not outlive them. Every wait is bounded and only turns a hang into a
failure; none is a timing threshold.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from kernelwire.client import BlockingClient
from kernelwire.connect import write_connection_file
from kernelwire.kernel.parentwatch import WATCH_INTERVAL, LauncherWatch
from kernelwire.protocol import EOF_INPUT

TIMEOUT = 60
KERNEL_NAME = "kernelwire-process-tests"
KERNEL_MODULE = [sys.executable, "-m", "kernelwire.kernel"]
KERNELWIRE = [sys.executable, "-m", "kernelwire"]

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc"), reason="POSIX process tests read process state from /proc"
)


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Jupyter data dir holding the reference kernel's kernelspec."""
    prefix = tmp_path_factory.mktemp("spec")
    subprocess.run(
        [*KERNEL_MODULE, "install", "--prefix", str(prefix), "--name", KERNEL_NAME],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    return str(prefix / "share" / "jupyter")


@pytest.fixture
def manager(jupyter_path: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[KernelManager]:
    """A kernel started by jupyter_client's KernelManager, shut down afterwards."""
    monkeypatch.setenv("JUPYTER_PATH", jupyter_path)
    km = KernelManager(kernel_name=KERNEL_NAME)
    km.start_kernel()
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)
        km.cleanup_resources()


def _has_exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie (an orphan's reaper may be slow)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _wait_for_exit(pid: int, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not _has_exited(pid):
        assert time.monotonic() < deadline, f"{what}: process {pid} still runs"
        time.sleep(0.05)


def _kill_if_running(pid: int) -> None:
    if not _has_exited(pid):
        os.kill(pid, signal.SIGKILL)


def _read_line(process: subprocess.Popen[str]) -> str:
    """The next line ``process`` prints, failing (not hanging) when none comes."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)
    assert ready, "the process printed nothing"
    line = process.stdout.readline()
    assert line, f"the process ended without printing (exit code {process.wait(TIMEOUT)})"
    return line.strip()


def _end(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(TIMEOUT)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _env(**changes: str) -> dict[str, str]:
    """This environment with ``changes`` applied."""
    return {**os.environ, **changes}


# ------------------------------------------------------------------ end of input (EOFError)


@pytest.mark.parametrize("asking", ["input('name? ')", "__import__('getpass').getpass()"])
def test_an_eof_input_reply_raises_eoferror(manager: KernelManager, asking: str) -> None:
    """jupyter_client answers with the protocol's end-of-input value: the cell gets
    EOFError, as in ipykernel and plain Python, and the next input() works normally."""
    kc = manager.blocking_client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=TIMEOUT)
        for answer, expected in ((EOF_INPUT, None), ("hello", "hello")):
            msg_id = kc.execute(f"answer = {asking}", allow_stdin=True)
            request = kc.get_stdin_msg(timeout=TIMEOUT)
            assert request["msg_type"] == "input_request"
            kc.input(answer)
            reply = kc.get_shell_msg(timeout=TIMEOUT)
            assert reply["parent_header"]["msg_id"] == msg_id
            if expected is None:
                assert reply["content"]["status"] == "error"
                assert reply["content"]["ename"] == "EOFError"
            else:
                assert reply["content"]["status"] == "ok"
                kc.execute("", user_expressions={"answer": "answer"})
                shown = kc.get_shell_msg(timeout=TIMEOUT)["content"]["user_expressions"]
                assert shown["answer"]["data"]["text/plain"] == repr(expected)
    finally:
        kc.stop_channels()


def test_kernelwire_run_with_stdin_at_eof_raises_eoferror_in_the_cell(tmp_path: Path) -> None:
    """The whole path: the CLI's stdin is at end of file, its input() raises EOFError, the
    client sends the end-of-input reply, and the cell's input() raises EOFError."""
    code = "try:\n    input('name? ')\nexcept EOFError:\n    print('got EOFError')\n    raise\n"
    done = subprocess.run(
        [*KERNELWIRE, "run", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        env=_env(TMPDIR=str(tmp_path)),
    )
    assert "got EOFError" in done.stdout
    assert "EOFError" in done.stderr
    assert done.returncode == 1  # the code raised


# ------------------------------------------------------------------ the launcher dies


def test_which_processes_are_watched() -> None:
    ours = os.getpid()
    assert LauncherWatch.for_process({}, 1) is None  # started by init: nothing to watch
    assert LauncherWatch.for_process({}, ours) == LauncherWatch(ours, None)
    same = {"JPY_PARENT_PID": str(ours)}
    assert LauncherWatch.for_process(same, ours) == LauncherWatch(ours, None)
    other = {"JPY_PARENT_PID": "4242"}  # a wrapper in between, or inherited
    assert LauncherWatch.for_process(other, ours) == LauncherWatch(ours, 4242)
    assert LauncherWatch.for_process(other, 1) == LauncherWatch(None, 4242)
    assert LauncherWatch.for_process({"JPY_PARENT_PID": "junk"}, ours) == LauncherWatch(ours, None)


def test_a_named_launcher_is_gone_once_dead_even_before_it_is_reaped() -> None:
    """A launcher that died is a zombie until its own parent reaps it (a shell or a
    subprocess.run still reading the pipes the kernel inherited may never do so)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        watch = LauncherWatch(parent_pid=os.getppid(), named_pid=child.pid)
        assert watch.gone() is None
        child.kill()
        _wait_for_exit(child.pid, "killed")  # now a zombie: not reaped yet
        reason = watch.gone()
        assert reason is not None and str(child.pid) in reason
        child.wait(TIMEOUT)
        assert watch.gone() == reason
    finally:
        _end(child)


#: Starts a kernel with jupyter_client's KernelManager, starts a cell that never ends,
#: prints the kernel's pid once the cell runs, and sleeps.
KERNEL_MANAGER_LAUNCHER = """
import sys, time
from jupyter_client.manager import KernelManager
km = KernelManager(kernel_name=sys.argv[1])
km.start_kernel()
kc = km.blocking_client()
kc.start_channels()
kc.wait_for_ready(timeout=60)
msg_id = kc.execute("while True: pass")
while True:
    msg = kc.get_iopub_msg(timeout=60)
    if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
        break
print(km.provisioner.process.pid, flush=True)
time.sleep(600)
"""


def test_a_busy_kernel_exits_when_its_kernel_manager_is_killed(jupyter_path: str) -> None:
    """jupyter_client sets JPY_PARENT_PID; a kernel running a cell that never ends must
    still notice, and stop, when that launcher is SIGKILLed."""
    launcher = subprocess.Popen(
        [sys.executable, "-c", KERNEL_MANAGER_LAUNCHER, KERNEL_NAME],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(JUPYTER_PATH=jupyter_path),
    )
    kernel_pid = 0
    try:
        kernel_pid = int(_read_line(launcher))
        launcher.kill()
        launcher.wait(TIMEOUT)
        _wait_for_exit(kernel_pid, "KernelManager launcher killed")
    finally:
        _end(launcher)
        if kernel_pid:
            _kill_if_running(kernel_pid)


#: Starts a kernel with plain subprocess (argv[1]: connection file, argv[2]: the value of
#: JPY_PARENT_PID, or "" for none), prints its pid once it answers heartbeats, sleeps.
SUBPROCESS_LAUNCHER = """
import json, os, subprocess, sys, time
import zmq
env = dict(os.environ)
env.pop("JPY_PARENT_PID", None)
if sys.argv[2]:
    env["JPY_PARENT_PID"] = sys.argv[2]
kernel = subprocess.Popen([sys.executable, "-m", "kernelwire.kernel", "-f", sys.argv[1]], env=env)
info = json.load(open(sys.argv[1]))
req = zmq.Context().socket(zmq.REQ)
req.connect(f"tcp://{info['ip']}:{info['hb_port']}")
req.send(b"ping")
assert req.poll(60_000), "the kernel does not answer heartbeats"
print(kernel.pid, flush=True)
time.sleep(600)
"""


def _start_with_subprocess(
    tmp_path: Path, jpy_parent_pid: str
) -> tuple[subprocess.Popen[str], int]:
    """A launcher script and the pid of the kernel it started (up and serving)."""
    path, _info = write_connection_file(tmp_path / "connection.json")
    launcher = subprocess.Popen(
        [sys.executable, "-c", SUBPROCESS_LAUNCHER, path, jpy_parent_pid],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        return launcher, int(_read_line(launcher))
    except BaseException:
        _end(launcher)
        raise


def test_a_kernel_exits_when_a_launcher_without_jpy_parent_pid_is_killed(tmp_path: Path) -> None:
    """Not every launcher follows Jupyter's convention: the kernel's parent at start is
    watched anyway."""
    launcher, kernel_pid = _start_with_subprocess(tmp_path, "")
    try:
        launcher.kill()
        launcher.wait(TIMEOUT)
        _wait_for_exit(kernel_pid, "plain launcher killed")
    finally:
        _end(launcher)
        _kill_if_running(kernel_pid)


def test_a_jpy_parent_pid_naming_another_process_does_not_stop_the_kernel(
    tmp_path: Path,
) -> None:
    """JPY_PARENT_PID inherited from an ancestor (here: this test process, which is alive)
    names a process other than the kernel's parent: the kernel keeps serving, and still
    ends when its real parent is killed."""
    launcher, kernel_pid = _start_with_subprocess(tmp_path, str(os.getpid()))
    try:
        with BlockingClient(str(tmp_path / "connection.json")) as client:
            client.wait_for_ready(TIMEOUT)
            # Long enough for several parent checks: a kernel that wrongly thinks its
            # launcher is gone stops during it and cannot answer the next request.
            slept = client.execute(f"import time; time.sleep({3 * WATCH_INTERVAL})")
            assert slept.status == "ok"
            assert client.execute("1 + 1", timeout=TIMEOUT).status == "ok"
        launcher.kill()
        launcher.wait(TIMEOUT)
        _wait_for_exit(kernel_pid, "real parent killed")
    finally:
        _end(launcher)
        _kill_if_running(kernel_pid)


def _kernelwire_run(code: str, tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """``kernelwire run CODE`` in the background; CODE prints the kernel's pid first."""
    run = subprocess.Popen(
        [*KERNELWIRE, "run", "import os\nprint(os.getpid(), flush=True)\n" + code],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(TMPDIR=str(tmp_path)),
    )
    try:
        return run, int(_read_line(run))
    except BaseException:
        _end(run)
        raise


ENDLESS = "while True:\n    pass\n"
#: A cell that swallows every interrupt: only ending the process stops it.
STUBBORN = (
    "import time\n"
    "while True:\n"
    "    try:\n"
    "        time.sleep(0.01)\n"
    "    except KeyboardInterrupt:\n"
    "        pass\n"
)
#: A cell that leaves a non-daemon thread running for ever, then loops.
LEAVES_A_THREAD = (
    "import threading, time\n"
    "threading.Thread(target=lambda: [time.sleep(0.05) for _ in iter(int, 1)]).start()\n" + ENDLESS
)


@pytest.mark.parametrize(
    "code", [ENDLESS, STUBBORN, LEAVES_A_THREAD], ids=["endless", "stubborn", "thread"]
)
def test_the_kernel_of_a_killed_kernelwire_run_exits(tmp_path: Path, code: str) -> None:
    """SIGKILL gives ``kernelwire run`` no chance to clean up: its kernel must end on its
    own, even when the cell ignores interrupts or left a thread running."""
    run, kernel_pid = _kernelwire_run(code, tmp_path)
    try:
        run.kill()
        run.wait(TIMEOUT)
        _wait_for_exit(kernel_pid, "kernelwire run killed")
    finally:
        _end(run)
        _kill_if_running(kernel_pid)


def test_sighup_makes_kernelwire_run_shut_its_kernel_down(tmp_path: Path) -> None:
    """A closed terminal (SIGHUP) cleans up like Ctrl-C: kernel stopped, file removed."""
    run, kernel_pid = _kernelwire_run(ENDLESS, tmp_path)
    try:
        assert [name for name in os.listdir(tmp_path) if name.endswith(".json")]
        run.send_signal(signal.SIGHUP)
        assert run.wait(TIMEOUT) == 128 + signal.SIGHUP  # stopped by a signal: 128 + N
        _wait_for_exit(kernel_pid, "kernelwire run hung up")
        assert not [name for name in os.listdir(tmp_path) if name.endswith(".json")]
    finally:
        _end(run)
        _kill_if_running(kernel_pid)


# ------------------------------------------------------------------ extra command-line arguments


def test_jupyter_run_with_our_kernelspec(jupyter_path: str, tmp_path: Path) -> None:
    """``jupyter run --kernel K FILE`` (its app, run by module) passes FILE on to the
    kernel's command line too: the kernel warns that it ignores it, and runs the code
    jupyter run sends."""
    script = tmp_path / "script.py"
    script.write_text("print('ran', 6 * 7)\n")
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_client.runapp", "--kernel", KERNEL_NAME, str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        env=_env(JUPYTER_PATH=jupyter_path),
    )
    assert done.returncode == 0, done.stderr
    assert "ran 42" in done.stdout
    warning = next(line for line in done.stderr.splitlines() if "ignoring arguments" in line)
    assert str(script) in warning


# ------------------------------------------------------------------ connection files


def test_kernelwire_kernel_uses_an_existing_connection_file_as_it_is(tmp_path: Path) -> None:
    path, info = write_connection_file(tmp_path / "mine.json")
    before = Path(path).read_bytes()
    server = subprocess.Popen(
        [*KERNELWIRE, "kernel", "--connection-file", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert _read_line(server) == path
        assert Path(path).read_bytes() == before  # not rewritten
        with BlockingClient(info) as client:  # the file's own ports and key serve
            client.wait_for_ready(TIMEOUT)
            assert client.execute("6 * 7", timeout=TIMEOUT).status == "ok"
            client.shutdown(timeout=TIMEOUT)
        assert server.wait(TIMEOUT) == 0
        assert Path(path).read_bytes() == before  # still there, unchanged
    finally:
        _end(server)


def test_kernelwire_kernel_removes_a_connection_file_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    server = subprocess.Popen(
        [*KERNELWIRE, "kernel", "--connection-file", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert _read_line(server) == str(path)
        info: dict[str, Any] = json.loads(path.read_text())
        with BlockingClient(info) as client:
            client.wait_for_ready(TIMEOUT)
            client.shutdown(timeout=TIMEOUT)
        assert server.wait(TIMEOUT) == 0
        assert not path.exists()
    finally:
        _end(server)
