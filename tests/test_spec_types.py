"""Users' mypy sees kernelwire's typed messages: it is run, as a user would run it, on a
snippet that uses them correctly (no error) and one that gets them wrong (an error on
each wrong line). mypy finds kernelwire as an installed package, which it only analyses
because kernelwire ships ``py.typed``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import kernelwire

GOOD = """
from kernelwire.spec.types import (
    CompleteReplyContent,
    ExecuteRequestContent,
    Header,
    KernelInfoReplyContent,
    Message,
    StatusContent,
)


def matches(reply: CompleteReplyContent) -> list[str]:
    if reply["status"] == "ok":
        return reply["matches"]  # narrowed to CompleteReplyOk
    if reply["status"] == "error":
        return reply["traceback"]
    return []


def features(reply: KernelInfoReplyContent) -> list[str]:
    if reply["status"] != "ok":
        return []
    return reply.get("supported_features", []) + [reply["language_info"]["name"]]


def subshell(msg: Message) -> str | None:
    return msg["header"].get("subshell_id")


request: ExecuteRequestContent = {"code": "1 + 1", "silent": False}
status: StatusContent = {"execution_state": "idle"}
header: Header = {
    "msg_id": "1",
    "msg_type": "status",
    "username": "me",
    "session": "s",
    "date": "2026-11-25T21:00:00Z",
    "version": "5.5",
}
"""

# each line marked "# wrong" must get an error, and no other line
BAD = """
from kernelwire.spec.types import CompleteReplyContent, ExecuteRequestContent, Header
from kernelwire.spec.types import StatusContent

request: ExecuteRequestContent = {"code": 1}  # wrong
status: StatusContent = {"execution_state": "sleeping"}  # wrong
header: Header = {"msg_id": "1", "msg_type": "status"}  # wrong


def matches(reply: CompleteReplyContent) -> list[str]:
    return reply["matches"]  # wrong
"""


def test_mypy_checks_user_code_against_the_typed_messages(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "bad.py").write_text(textwrap.dedent(BAD))
    (tmp_path / "mypy.ini").write_text("[mypy]\n")  # no other configuration applies
    package_root = str(Path(kernelwire.__file__).parent.parent)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--cache-dir",
            str(tmp_path / "cache"),
            "good.py",
            "bad.py",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": package_root},
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = re.findall(r"^(\w+)\.py:(\d+): error: (.*)$", done.stdout, re.MULTILINE)
    wrong_lines = [
        number
        for number, line in enumerate(textwrap.dedent(BAD).splitlines(), 1)
        if line.endswith("# wrong")
    ]
    assert done.returncode == 1, done.stdout + done.stderr
    assert sorted({(name, int(line)) for name, line, _ in errors}) == [
        ("bad", line) for line in wrong_lines
    ], done.stdout
    assert 'TypedDict item "code" has type "str"' in done.stdout
