"""The ``kernelwire`` command, run as a real subprocess."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time

import pytest

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
PNG = base64.b64encode(PNG_BYTES).decode()
# a run that prints one line, then sleeps until stopped
SLEEPING_RUN = (
    "run",
    "--kernel",
    "kw-ipy",
    "print('sleeping', flush=True); import time; time.sleep(60)",
)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An environment whose Jupyter path holds a kernelspec 'kw-ipy' (ipykernel) and
    whose temporary directory is ours, so leftover connection files would show."""
    root = tmp_path_factory.mktemp("cli")
    spec = root / "jupyter" / "kernels" / "kw-ipy"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "ipykernel for kernelwire tests",
                "language": "python",
                "env": {"KW_SPEC_ENV": "from-the-spec"},
            }
        )
    )
    tmp = root / "tmp"
    tmp.mkdir()
    return {**os.environ, "JUPYTER_PATH": str(root / "jupyter"), "TMPDIR": str(tmp)}


def start_kernelwire(*args, env, stdin=None, stderr=subprocess.PIPE):
    """Start the command with text stdout (and stderr, unless told otherwise) piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "kernelwire", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )


def kernelwire(*args, env, stdin=None, timeout=90):
    """Run the command; on timeout, Ctrl-C it (so it cleans up) before failing."""
    with start_kernelwire(*args, env=env, stdin=subprocess.PIPE) as process:
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=30)
            pytest.fail(f"kernelwire {args} did not finish in {timeout} s: {stderr}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def leftovers(env):
    return sorted(os.listdir(env["TMPDIR"]))


def kill_and_close(process):
    """Kill a background command if it still runs, and close its pipes."""
    if process.poll() is None:
        process.kill()
        process.wait()
    process.stdout.close()
    process.stderr.close()


def interrupt_and_close(server):
    """Ctrl-C a background command, kill it if it does not stop, close its stdout."""
    server.send_signal(signal.SIGINT)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    server.stdout.close()


def test_help_for_each_subcommand(env):
    top = kernelwire("--help", env=env)
    assert top.returncode == 0
    for name in ("run", "kernel", "demo"):
        assert name in top.stdout
    run = kernelwire("run", "--help", env=env)
    assert run.returncode == 0
    for option in ("--existing", "--kernel", "--timeout", "--save-outputs", "-f FILE"):
        assert option in run.stdout
    assert "Exit status" in run.stdout
    kernel = kernelwire("kernel", "--help", env=env)
    assert kernel.returncode == 0 and "connection file" in kernel.stdout


def test_demo_still_works(env):
    demo = kernelwire("demo", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "received and verified" in demo.stdout
    assert "execute_request" in demo.stdout


def test_console_script_entry_point(env):
    script = os.path.join(os.path.dirname(sys.executable), "kernelwire")
    if not os.path.exists(script):
        pytest.fail(f"the kernelwire console script is not installed next to {sys.executable}")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and "usage: kernelwire" in result.stdout


def test_run_with_the_reference_kernel(env):
    result = kernelwire("run", "print(6*7)", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"
    assert leftovers(env) == []


def test_run_streams_every_kind_of_output_and_saves_rich_ones(env, tmp_path):
    code = (
        "import os, sys\n"
        "print('to stdout', os.environ.get('KW_SPEC_ENV'))\n"
        "print('to stderr', file=sys.stderr)\n"
        "from IPython.display import display\n"
        f"display({{'image/png': '{PNG}', 'text/plain': '<a png>'}}, raw=True)\n"
        "display({'text/html': '<b>bold</b>'}, raw=True)\n"
        "'the result'"
    )
    saved = tmp_path / "outputs"
    result = kernelwire("run", "--kernel", "kw-ipy", "--save-outputs", str(saved), code, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "to stdout from-the-spec"
    assert lines[1] == "<a png>"
    assert lines[2] == f"[image/png output, {len(PNG_BYTES)} bytes, saved to {saved}/output-1.png]"
    assert lines[3] == f"[text/html output, 11 bytes, saved to {saved}/output-2.html]"
    assert lines[4] == "'the result'"
    assert result.stderr == "to stderr\n"
    assert (saved / "output-1.png").read_bytes() == PNG_BYTES
    assert (saved / "output-2.html").read_text() == "<b>bold</b>"
    assert leftovers(env) == []


def test_rich_outputs_get_placeholders_without_save_dir(env):
    code = f"from IPython.display import display\ndisplay({{'image/png': '{PNG}'}}, raw=True)"
    result = kernelwire("run", "--kernel", "kw-ipy", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"[image/png output, {len(PNG_BYTES)} bytes]\n"


def test_code_that_raises_exits_1_with_the_traceback(env, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("print('before')\nraise ValueError('bad value')\n")
    result = kernelwire("run", "--kernel", "kw-ipy", "-f", str(script), env=env)
    assert result.returncode == 1
    assert result.stdout == "before\n"
    assert "ValueError: bad value" in result.stderr
    assert "\x1b[" not in result.stderr  # colours stripped when stderr is not a terminal
    assert leftovers(env) == []


def test_input_comes_from_our_stdin(env):
    result = kernelwire("run", "--kernel", "kw-ipy", "print('hi', input())", env=env, stdin="Ada\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("hi Ada\n")


def test_timeout_exits_3_and_still_cleans_up(env):
    result = kernelwire(
        "run", "--kernel", "kw-ipy", "--timeout", "1", "import time; time.sleep(30)", env=env
    )
    assert result.returncode == 3
    assert "no execute_reply and idle status within 1 s" in result.stderr
    assert leftovers(env) == []


def test_usage_and_lookup_errors(env, tmp_path):
    both = kernelwire("run", "--existing", "x.json", "--kernel", "kw-ipy", "1", env=env)
    assert both.returncode == 2 and "exclude each other" in both.stderr
    unknown = kernelwire("run", "--kernel", "no-such-kernel", "1", env=env)
    assert unknown.returncode == 2
    assert "no kernelspec named 'no-such-kernel'" in unknown.stderr
    assert "kw-ipy" in unknown.stderr  # the installed ones are listed
    broken_spec = os.path.join(env["JUPYTER_PATH"], "kernels", "kw-broken")
    os.makedirs(broken_spec, exist_ok=True)
    with open(os.path.join(broken_spec, "kernel.json"), "w") as f:
        json.dump({"argv": "python -m nothing", "display_name": "broken"}, f)
    broken = kernelwire("run", "--kernel", "kw-broken", "1", env=env)
    assert broken.returncode == 3
    assert "'argv' must be a non-empty list of strings" in broken.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ip": "127.0.0.1", "key": "k", "shell_port": "x"}))
    malformed = kernelwire("run", "--existing", str(bad), "1", env=env)
    assert malformed.returncode == 2
    assert "'shell_port' must be an integer" in malformed.stderr and str(bad) in malformed.stderr


def _read_line(stream, deadline):
    line = ""
    while not line and time.monotonic() < deadline:
        line = stream.readline()
    return line.strip()


def _kernel_processes(connection_file):
    """Pids of live processes whose command line names ``connection_file``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if connection_file.encode() in f.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_kernel_command_then_run_existing_then_ctrl_c(env):
    server = start_kernelwire("kernel", "--kernel", "kw-ipy", env=env)
    try:
        path = _read_line(server.stdout, time.monotonic() + 60)
        assert path.endswith(".json") and os.path.exists(path)
        first = kernelwire("run", "--existing", path, "shared = 21", env=env)
        assert first.returncode == 0, first.stderr
        second = kernelwire("run", "--existing", path, "print(shared * 2)", env=env)
        assert second.returncode == 0, second.stderr
        assert second.stdout == "42\n"  # same kernel: --existing did not shut it down
        assert _kernel_processes(path)
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
        assert not os.path.exists(path)
        assert _kernel_processes(path) == []
    finally:
        kill_and_close(server)


def test_ctrl_c_during_run_shuts_the_kernel_down(env):
    run = start_kernelwire(*SLEEPING_RUN, env=env)
    try:
        assert _read_line(run.stdout, time.monotonic() + 60) == "sleeping"
        files = leftovers(env)
        assert len(files) == 1 and files[0].endswith(".json")
        connection_file = os.path.join(env["TMPDIR"], files[0])
        assert _kernel_processes(connection_file)
        run.send_signal(signal.SIGINT)
        assert run.wait(30) == 130
        assert "interrupted" in run.stderr.read()
        assert leftovers(env) == []
        assert _kernel_processes(connection_file) == []
    finally:
        kill_and_close(run)


def test_existing_kernel_is_interrupted_not_shut_down_after_a_timeout(env):
    server = start_kernelwire("kernel", "--kernel", "kw-ipy", env=env, stderr=subprocess.DEVNULL)
    try:
        path = _read_line(server.stdout, time.monotonic() + 60)
        slow = kernelwire(
            "run", "--existing", path, "--timeout", "2", "import time; time.sleep(60)", env=env
        )
        assert slow.returncode == 3 and "within 2 s" in slow.stderr
        after = kernelwire("run", "--existing", path, "--timeout", "20", "print('free')", env=env)
        assert after.returncode == 0 and after.stdout == "free\n", after.stderr
    finally:
        interrupt_and_close(server)


def test_a_killed_run_does_not_leave_its_kernel_running(env):
    run = start_kernelwire(*SLEEPING_RUN, env=env, stderr=subprocess.DEVNULL)
    try:
        assert _read_line(run.stdout, time.monotonic() + 60) == "sleeping"
        (name,) = leftovers(env)
        connection_file = os.path.join(env["TMPDIR"], name)
        run.kill()  # no chance to clean up: the kernel notices its parent is gone
        run.wait()
        deadline = time.monotonic() + 30
        while _kernel_processes(connection_file) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _kernel_processes(connection_file) == []
    finally:
        run.stdout.close()
        for name in leftovers(env):
            os.unlink(os.path.join(env["TMPDIR"], name))


def test_a_wrong_key_fails_fast_against_the_reference_kernel(env, tmp_path):
    server = start_kernelwire("kernel", env=env, stderr=subprocess.DEVNULL)
    try:
        path = _read_line(server.stdout, time.monotonic() + 60)
        with open(path) as f:
            info = json.load(f)
        wrong = tmp_path / "wrong-key.json"
        wrong.write_text(json.dumps({**info, "key": "not-the-key"}))
        result = kernelwire(
            "run", "--existing", str(wrong), "--startup-timeout", "30", "1", env=env
        )
        assert result.returncode == 3
        assert "failed verification" in result.stderr and "InvalidSignature" in result.stderr
        assert info["key"] not in result.stderr and "not-the-key" not in result.stderr
    finally:
        interrupt_and_close(server)
