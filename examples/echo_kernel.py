"""A wrapper kernel that repeats each cell back as its output.

Written with the hooks of ipykernel's wrapper kernels, on kernelwire's KernelBase. Jupyter
starts it from a kernelspec whose argv is
``["python", "/path/to/echo_kernel.py", "-f", "{connection_file}"]``.
"""

from __future__ import annotations

from typing import Any

from kernelwire.kernel import KernelBase


class EchoKernel(KernelBase):
    implementation = "echo"
    implementation_version = "1.0"
    language_info = {
        "name": "echo",
        "mimetype": "text/plain",
        "file_extension": ".txt",
    }
    banner = "Echo kernel: every cell comes back as it was typed"

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        if not silent:
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": code})
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }

    def do_is_complete(self, code: str) -> dict[str, Any]:
        # A line ending in a backslash continues on the next one, as in a shell.
        if code.endswith("\\"):
            return {"status": "incomplete", "indent": ""}
        return {"status": "complete"}


if __name__ == "__main__":
    EchoKernel.launch()
