"""``kernelwire --help`` starts fast: it imports only what parsing the command line needs
(no zmq, asyncio or traitlets), and the lazily loaded client names still all resolve."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("zmq", "asyncio", "traitlets", "kernelwire.session", "kernelwire.client.blocking")


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_help_imports_no_zmq_asyncio_or_traitlets() -> None:
    code = (
        "import contextlib, io\n"
        "from kernelwire.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['run', '--help'])"
    )
    loaded = _modules_after(code)
    assert "kernelwire.cli" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_help_through_the_module_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kernelwire", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: kernelwire" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_every_client_name_resolves() -> None:
    import kernelwire.client as client

    for name in client.__all__:
        assert getattr(client, name) is not None, name
    assert set(client.__all__) <= set(dir(client))
    from kernelwire.client import AsyncClient, BlockingClient

    assert BlockingClient.__module__ == "kernelwire.client.blocking"
    assert AsyncClient.__module__ == "kernelwire.client.aio"


def test_client_sockets_retry_a_kernel_still_starting_soon() -> None:
    """``kernelwire run`` connects before the kernel it started has bound its ports; the
    client retries after 10 ms, backing off to libzmq's usual 100 ms, instead of waiting
    100 ms from the first failed attempt (that alone was a third of the start-up)."""

    from kernelwire.client import BlockingClient
    from kernelwire.connect import write_connection_file

    path, info = write_connection_file()
    try:
        with BlockingClient(info) as client:
            for socket in (client.shell, client.control, client.stdin, client.iopub, client.hb):
                assert socket.reconnect_ivl == 10
                assert socket.reconnect_ivl_max == 100
    finally:
        os.unlink(path)
