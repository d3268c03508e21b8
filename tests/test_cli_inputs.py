"""What ``kernelwire run`` reads and writes: --version, code from stdin, output its stdout
cannot encode, --save-outputs, and connection files given with --existing."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

import kernelwire as kernelwire_package
from kernelwire.connect import ConnectionFileError, read_connection_file, write_connection_file
from kernelwire.kernelspec import KernelSpecError, load_kernel_spec
from test_cli import kernelwire, leftovers

PLOTLY = {"data": [{"type": "bar", "y": [1, 3, 2]}], "layout": {"title": "é"}}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An environment whose Jupyter path holds 'kw-ipy' (ipykernel, for IPython's display)
    and whose temporary directory is ours, so leftover connection files would show."""
    root = tmp_path_factory.mktemp("cli-inputs")
    spec = root / "jupyter" / "kernels" / "kw-ipy"
    spec.mkdir(parents=True)
    argv = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "ipykernel"}))
    tmp = root / "tmp"
    tmp.mkdir()
    return {**os.environ, "JUPYTER_PATH": str(root / "jupyter"), "TMPDIR": str(tmp)}


def test_version(env):
    result = kernelwire("--version", env=env)
    assert result.returncode == 0
    assert result.stdout == f"kernelwire {kernelwire_package.__version__}\n"


@pytest.mark.parametrize("args", [("-f", "-"), ()], ids=["-f -", "no CODE"])
def test_code_from_stdin(env, args):
    result = kernelwire("run", *args, env=env, stdin="x = 6\nprint(x * 7)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"


def test_no_code_and_stdin_a_terminal_is_a_usage_error(env):
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "kernelwire", "run"],
            stdin=terminal,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2
    assert "give CODE or -f FILE (or pipe the code to stdin)" in result.stderr


def test_code_on_stdin_that_is_not_utf8_is_a_usage_error(env):
    with subprocess.Popen(
        [sys.executable, "-m", "kernelwire", "run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        stdout, stderr = process.communicate(b"print('\xff')\n", timeout=60)
    assert process.returncode == 2 and stdout == b"", stderr
    assert b"cannot read the code from stdin" in stderr and b"Traceback" not in stderr


@pytest.mark.parametrize(
    ("encoding", "code", "stdout", "stderr"),
    [
        (None, "print('\\ud800 and é')", "\\ud800 and é\n", ""),
        ("ascii", "print('é')", "\\xe9\n", ""),
        ("ascii", "import sys; print('€', file=sys.stderr)", "", "\\u20ac\n"),
        ("ascii", "'é'", "'\\xe9'\n", ""),
    ],
    ids=["lone-surrogate", "ascii-stdout", "ascii-stderr", "ascii-result"],
)
def test_output_our_stdout_cannot_encode_is_escaped(env, encoding, code, stdout, stderr):
    run_env = {**env, "PYTHONIOENCODING": encoding} if encoding else env
    result = kernelwire("run", code, env=run_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == stdout
    assert result.stderr == stderr


def test_save_outputs_writes_json_types_as_json(env, tmp_path):
    saved = tmp_path / "new" / "outputs"  # made, parents too
    code = (
        "from IPython.display import display\n"
        f"display({{'application/vnd.plotly.v1+json': {PLOTLY!r}, 'text/plain': 'a plot'}},"
        " raw=True)\n"
        "display({'application/vnd.custom+json': [1, 2]}, raw=True)"
    )
    result = kernelwire("run", "--kernel", "kw-ipy", "--save-outputs", str(saved), code, env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(saved)) == ["output-1.json", "output-2.json"]
    assert json.loads((saved / "output-1.json").read_text()) == PLOTLY
    assert json.loads((saved / "output-2.json").read_text()) == [1, 2]
    assert f"saved to {saved}/output-1.json]" in result.stdout


def test_save_outputs_never_mixes_two_runs(env, tmp_path):
    saved = tmp_path / "outputs"
    code = "from IPython.display import display\ndisplay({'text/html': '<b>%s</b>'}, raw=True)"
    first = kernelwire("run", "--kernel", "kw-ipy", "--save-outputs", str(saved), code % 1, env=env)
    assert first.returncode == 0, first.stderr
    second = kernelwire("run", "--save-outputs", str(saved), code % 2, env=env)
    assert second.returncode == 2
    assert "the directory is not empty" in second.stderr.splitlines()[-1]
    assert os.listdir(saved) == ["output-1.html"]
    assert (saved / "output-1.html").read_text() == "<b>1</b>"


@pytest.mark.parametrize(
    ("where", "why"),
    [("file", "not a directory"), ("file/sub", "cannot write files there: Not a directory")],
    ids=["a-file", "under-a-file"],
)
def test_unusable_save_outputs_dir_exits_2_before_the_code_runs(env, tmp_path, where, why):
    (tmp_path / "file").write_text("")
    target = tmp_path / where
    marker = tmp_path / "the code ran"
    code = f"open({str(marker)!r}, 'w').close()"
    result = kernelwire("run", "--save-outputs", str(target), code, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"kernelwire run: error: --save-outputs {target}: {why}"
    )
    assert not marker.exists()
    assert leftovers(env) == []


def test_existing_with_an_empty_key_warns_that_signing_is_off(env, tmp_path):
    path, _ = write_connection_file(str(tmp_path / "unsigned.json"), key="")
    kernel = subprocess.Popen(
        [sys.executable, "-m", "kernelwire.kernel", "-f", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        result = kernelwire("run", "--existing", path, "print(6 * 7)", env=env)
    finally:
        kernel.kill()
        kernel.wait()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"
    assert result.stderr.startswith(f"kernelwire run: warning: {path} has an empty key")
    assert "not signed" in result.stderr


@pytest.mark.parametrize("text", ['{"a":' * 100_000, "[" * 100_000], ids=["objects", "lists"])
def test_a_deeply_nested_connection_file_is_a_connection_file_error(env, tmp_path, text):
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(ConnectionFileError, match="nested too deeply") as caught:
        read_connection_file(path)
    assert str(path) in str(caught.value)
    result = kernelwire("run", "--existing", str(path), "1", env=env)
    assert result.returncode == 2
    assert result.stderr == (
        f"kernelwire run: error: connection file {str(path)!r}: not a connection file: "
        "nested too deeply\n"
    )


def test_a_deeply_nested_kernelspec_is_a_kernelspec_error(tmp_path):
    (tmp_path / "kernel.json").write_text('{"a":' * 100_000)
    with pytest.raises(KernelSpecError, match="cannot read"):
        load_kernel_spec("deep", str(tmp_path))
