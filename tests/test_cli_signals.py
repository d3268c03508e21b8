"""``kernelwire run`` stopped early: by signals, ``--timeout``, a killed kernel launcher or a
closed output pipe. Whatever stops it, the kernel it started is gone afterwards, stderr says
so in one line (no kernel-internal traceback), and the exit status is the documented one.
Real signals to a real subprocess; the kernel's pid comes from the cell itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from test_cli import kernelwire, kill_and_close, leftovers, start_kernelwire

REFERENCE = ()  # no --kernel: kernelwire's reference kernel
IPYKERNEL = ("--kernel", "kw-ipy")
KERNELS = pytest.mark.parametrize("kernel", [REFERENCE, IPYKERNEL], ids=["reference", "ipykernel"])


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An environment whose Jupyter path holds 'kw-ipy' (ipykernel) and 'kw-launcher' (a
    launcher script that starts the reference kernel as its child and waits for it), and
    whose temporary directory is ours, so leftover connection files would show."""
    root = tmp_path_factory.mktemp("cli-signals")
    kernels = root / "jupyter" / "kernels"
    specs = {
        "kw-ipy": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "kw-launcher": ["python", "{resource_dir}/launch.py", "{connection_file}"],
    }
    for name, argv in specs.items():
        (kernels / name).mkdir(parents=True)
        spec = {"argv": argv, "display_name": name, "language": "python"}
        (kernels / name / "kernel.json").write_text(json.dumps(spec))
    (kernels / "kw-launcher" / "launch.py").write_text(
        "import subprocess, sys\n"
        "kernel = [sys.executable, '-m', 'kernelwire.kernel', '-f', sys.argv[1]]\n"
        "sys.exit(subprocess.call(kernel))\n"
    )
    tmp = root / "tmp"
    tmp.mkdir()
    return {**os.environ, "JUPYTER_PATH": str(root / "jupyter"), "TMPDIR": str(tmp)}


def sleeping_cell(marker):
    """A cell that prints its kernel's pid and its parent's, then sleeps; if interrupted,
    it creates ``marker`` first (the code was interrupted, not just killed)."""
    return (
        "import os, time\n"
        "try:\n"  # an interrupt right after the print is one the cell sees
        "    print(os.getpid(), os.getppid(), flush=True)\n"
        "    time.sleep(120)\n"
        "except KeyboardInterrupt:\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    raise\n"
    )


def read_pids(run):
    """The kernel's pid and its parent's, as the sleeping cell printed them."""
    line = run.stdout.readline()
    assert line, f"the run printed no pid; stderr: {run.stderr.read()}"
    kernel_pid, parent_pid = map(int, line.split())
    return kernel_pid, parent_pid


def is_gone(pid):
    """Whether ``pid`` has exited (a zombie nobody reaps counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_gone(pid, timeout=30.0):
    """Whether ``pid`` exits within ``timeout`` seconds (a bound, not a measure)."""
    deadline = time.monotonic() + timeout
    while not is_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return is_gone(pid)


def kill_leftover(pid):
    """Kill a kernel a failed test left behind, so that it does not outlive the test."""
    if not is_gone(pid):
        os.kill(pid, signal.SIGKILL)


@KERNELS
@pytest.mark.parametrize(
    ("signum", "said"),
    [
        (signal.SIGHUP, "stopped by SIGHUP"),
        (signal.SIGTERM, "stopped by SIGTERM"),
        (signal.SIGINT, "interrupted"),
    ],
    ids=["SIGHUP", "SIGTERM", "SIGINT"],
)
def test_a_stop_signal_shuts_the_started_kernel_down(env, tmp_path, kernel, signum, said):
    marker = tmp_path / "interrupted"
    stop_a_run(env, kernel, sleeping_cell(marker), marker, signum, said)


def stop_a_run(env, kernel, cell, marker, signum, said):
    """Run ``cell`` (one that prints its pids, then creates ``marker`` when interrupted),
    stop the run with ``signum``: it says ``said`` in one line and exits 128 + signum, the
    cell was interrupted, and nothing is left of the kernel."""
    run = start_kernelwire("run", *kernel, cell, env=env)
    kernel_pid = None
    try:
        kernel_pid, _ = read_pids(run)
        run.send_signal(signum)
        assert run.wait(60) == 128 + signum
        # One line from us; not the KeyboardInterrupt traceback the kernel sends back.
        assert run.stderr.read() == f"kernelwire run: {said}\n"
        assert marker.exists()  # the code was interrupted before the kernel was shut down
        assert wait_gone(kernel_pid)
        assert leftovers(env) == []
    finally:
        kill_and_close(run)
        if kernel_pid is not None:
            kill_leftover(kernel_pid)


def first_sigint_ignored_cell(marker):
    """The sleeping cell, with a SIGINT handler that ignores the first signal: what a kernel
    shows whose process handed the SIGINT to a thread that never passes it on."""
    return (
        "import signal\n"
        "ignored = []\n"
        "def ignore_the_first(signum, frame):\n"
        "    if not ignored:\n"
        "        ignored.append(signum)\n"
        "        return\n"
        "    raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGINT, ignore_the_first)\n"
    ) + sleeping_cell(marker)


@KERNELS
def test_an_interrupt_the_kernel_missed_is_sent_again(env, tmp_path, kernel):
    """Regression: ``kernelwire run`` sent one SIGINT and then shutdown_request at once; a
    kernel that missed the signal was shut down with the cell still running (seen once with
    ipykernel in CI). Now SIGINT goes again until the cell has ended."""
    marker = tmp_path / "interrupted"  # by the second SIGINT
    cell = first_sigint_ignored_cell(marker)
    stop_a_run(env, kernel, cell, marker, signal.SIGTERM, "stopped by SIGTERM")


@KERNELS
def test_a_timeout_says_one_line_and_interrupts_then_stops_the_kernel(env, tmp_path, kernel):
    marker = tmp_path / "interrupted"
    run = start_kernelwire("run", *kernel, "--timeout", "8", sleeping_cell(marker), env=env)
    kernel_pid = None
    try:
        kernel_pid, _ = read_pids(run)
        assert run.wait(60) == 3
        stderr = run.stderr.read()
        assert stderr.startswith("kernelwire run: error: no execute_reply and idle status")
        assert stderr.count("\n") == 1 and "KeyboardInterrupt" not in stderr
        assert marker.exists()
        assert wait_gone(kernel_pid)
        assert leftovers(env) == []
    finally:
        kill_and_close(run)
        if kernel_pid is not None:
            kill_leftover(kernel_pid)


def test_a_killed_launcher_does_not_leave_the_kernel_it_started(env, tmp_path):
    run = start_kernelwire("run", "--kernel", "kw-launcher", sleeping_cell(tmp_path / "m"), env=env)
    kernel_pid = None
    try:
        kernel_pid, launcher_pid = read_pids(run)
        assert launcher_pid != run.pid  # the kernel's parent is the launcher, not us
        os.kill(launcher_pid, signal.SIGKILL)
        assert run.wait(60) == 3
        assert f"kernel process {launcher_pid} was killed by signal 9" in run.stderr.read()
        assert wait_gone(kernel_pid)  # the launcher's child, left to us: killed with its group
        assert leftovers(env) == []
    finally:
        kill_and_close(run)
        if kernel_pid is not None:
            kill_leftover(kernel_pid)


@pytest.mark.parametrize("both", [False, True], ids=["stdout", "stdout-and-stderr"])
def test_a_closed_output_pipe_exits_141_quietly(env, tmp_path, both):
    """``kernelwire run ... | head -1`` (and ``2>&1 | head -1``): like a Unix tool killed by
    SIGPIPE, exit status 141, without a traceback or 'Exception ignored' noise."""
    cell = "import os\nprint(os.getpid(), flush=True)\nfor i in range(100000): print(i)"
    read_end, write_end = os.pipe()
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "w") as stderr_file:
        run = subprocess.Popen(
            [sys.executable, "-m", "kernelwire", "run", cell],
            stdout=write_end,
            stderr=write_end if both else stderr_file,
            env=env,
        )
    os.close(write_end)
    kernel_pid = None
    try:
        with os.fdopen(read_end) as reader:  # read one line, then close: what head -1 does
            kernel_pid = int(reader.readline())
        assert run.wait(60) == 141
        assert stderr_path.read_text() == ""
        assert wait_gone(kernel_pid)
        assert leftovers(env) == []
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        if kernel_pid is not None:
            kill_leftover(kernel_pid)


def test_bad_arguments_exit_2_before_any_kernel_starts(env, tmp_path):
    malformed = tmp_path / "malformed.json"
    malformed.write_text(json.dumps({"ip": "127.0.0.1", "key": "k", "shell_port": "x"}))
    cases = [
        (("--kernel", "doesnotexist", "1"), "no kernelspec named 'doesnotexist'"),
        (("--timeout", "-1", "1"), "expected a positive number of seconds, got '-1'"),
        (("--timeout", "nan", "1"), "expected a positive number of seconds, got 'nan'"),
        (("--startup-timeout", "0", "1"), "expected a positive number of seconds, got '0'"),
        (("--existing", str(tmp_path / "absent.json"), "1"), "cannot read it"),
        (("--existing", str(malformed), "1"), "'shell_port' must be an integer"),
        (("--signature-scheme", "hmac-nope", "1"), "hmac-nope"),
        (("-f", str(tmp_path / "absent.py"), "1"), "give CODE or -f FILE, not both"),
        (("-f", str(tmp_path / "absent.py")), "cannot read"),
    ]
    for args, complaint in cases:
        result = kernelwire("run", *args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        last_line = result.stderr.splitlines()[-1]
        assert last_line.startswith("kernelwire run: error: ") and complaint in last_line, args
        assert "Traceback" not in result.stderr
        assert leftovers(env) == []


def test_kernel_trouble_exits_3(env, tmp_path):
    spec = tmp_path / "jupyter" / "kernels" / "kw-missing"
    spec.mkdir(parents=True)
    argv = [str(tmp_path / "no-such-kernel-program"), "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "missing"}))
    paths = os.pathsep.join([str(tmp_path / "jupyter"), env["JUPYTER_PATH"]])
    result = kernelwire("run", "--kernel", "kw-missing", "1", env={**env, "JUPYTER_PATH": paths})
    assert result.returncode == 3
    assert result.stderr.startswith("kernelwire run: error: cannot start kernel")
    assert leftovers(env) == []
