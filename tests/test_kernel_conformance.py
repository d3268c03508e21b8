"""jupyter_kernel_test's protocol conformance suite against the kernelwire reference kernel.

The kernel runs as a real process started by jupyter_client's KernelManager from a
kernelspec installed (with ``python -m kernelwire.kernel install --prefix``) into a
temporary Jupyter data dir. Every test of jupyter_kernel_test 0.7 has a sample here, so
none skips for lack of one.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import Any, ClassVar

import jupyter_kernel_test as jkt

from helpers import install_reference_kernelspec, jupyter_path

KERNEL_NAME = "kernelwire-conformance"


class _InstalledKernelspec:
    """Mixin for the jupyter_kernel_test classes: install the kernelspec in a temporary
    dir, visible through JUPYTER_PATH only while the KernelManager looks it up, and
    remove it once the class is done."""

    data_dir = ""

    @classmethod
    def setUpClass(cls) -> None:
        cls.data_dir = tempfile.mkdtemp(prefix="kernelwire-spec-")
        with jupyter_path(install_reference_kernelspec(cls.data_dir, KERNEL_NAME)):
            super().setUpClass()  # type: ignore[misc]

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()  # type: ignore[misc]
        shutil.rmtree(cls.data_dir, ignore_errors=True)


class KernelwireKernelTests(_InstalledKernelspec, jkt.KernelTests):
    kernel_name = KERNEL_NAME
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('oops', file=sys.stderr)"

    completion_samples: ClassVar[list[dict[str, Any]]] = [
        {"text": "zi", "matches": {"zip"}},
        {"text": "impo", "matches": {"import"}},
        {"text": "int.from_b", "matches": {"from_bytes"}},
    ]
    complete_code_samples: ClassVar[list[str]] = [
        "1",
        "print('hello, world')",
        "def f(x):\n    return x * 2\n\n",
    ]
    incomplete_code_samples: ClassVar[list[str]] = [
        "print('''hello",
        "def f(x):",
        "for i in range(3):\n    print(i)",
        "x = [1,\n2",
    ]
    invalid_code_samples: ClassVar[list[str]] = ["import = 7q", "x = )", "  x = 1"]

    code_page_something = "print?"
    code_generate_error = "raise ValueError('boom')"

    code_execute_result: ClassVar[list[dict[str, str]]] = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n * n for n in range(4)]", "result": "[0, 1, 4, 9]"},
        {
            "code": "type('H', (), {'_repr_html_': lambda self: '<b>hi</b>'})()",
            "mime": "text/html",
            "result": "<b>hi</b>",
        },
    ]
    code_display_data: ClassVar[list[dict[str, str]]] = [
        {"code": "display({'a': 1})", "mime": "text/plain"},
        {
            "code": "display(type('M', (), {'_repr_markdown_': lambda self: '*x*'})())",
            "mime": "text/markdown",
        },
        {
            "code": "display(type('P', (), {'_repr_png_': lambda self: b'\\x89PNG'})())",
            "mime": "image/png",
        },
    ]
    code_history_pattern = "1?2*"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "zip"
    code_clear_output = "clear_output()"


class KernelwireIopubWelcomeTests(_InstalledKernelspec, jkt.IopubWelcomeTests):
    kernel_name = KERNEL_NAME
    support_iopub_welcome = True
