"""A wrapper kernel that asks the person at the frontend questions (``raw_input``).

Each line of a cell is a command:

- ``ask QUESTION`` shows QUESTION in the frontend and waits for the answer, which becomes
  the cell's result;
- ``secret QUESTION`` asks the same way without showing what is typed (``getpass``), and
  only says how long the answer was;
- ``say TEXT`` prints TEXT.

A frontend that cannot answer (``allow_stdin: false``) gets an error, as does an unknown
command. Jupyter starts it from a kernelspec whose argv is
``["python", "/path/to/prompt_kernel.py", "-f", "{connection_file}"]``.
"""

from __future__ import annotations

from typing import Any

from kernelwire.kernel import KernelBase, StdinNotImplementedError


class PromptKernel(KernelBase):
    implementation = "prompt"
    implementation_version = "1.0"
    language_info = {
        "name": "prompt",
        "mimetype": "text/plain",
        "file_extension": ".txt",
    }
    banner = "Prompt kernel: ask QUESTION, secret QUESTION or say TEXT"

    def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        answers = []
        try:
            for line in code.splitlines():
                command, _, text = line.strip().partition(" ")
                if command == "ask":
                    answers.append(self.raw_input(text + " "))
                elif command == "secret":
                    answers.append(f"({len(self.getpass(text + ' '))} characters)")
                elif command == "say":
                    self.send_response(
                        self.iopub_socket, "stream", {"name": "stdout", "text": text + "\n"}
                    )
                elif command:
                    raise ValueError(f"unknown command {command!r}: use ask, secret or say")
        except (ValueError, EOFError, StdinNotImplementedError) as exc:
            error = {"ename": type(exc).__name__, "evalue": str(exc), "traceback": [str(exc)]}
            self.send_response(self.iopub_socket, "error", error)
            return {"status": "error", "execution_count": self.execution_count, **error}
        if answers and not silent:
            result = {
                "execution_count": self.execution_count,
                "data": {"text/plain": "\n".join(answers)},
                "metadata": {},
            }
            self.send_response(self.iopub_socket, "execute_result", result)
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }


if __name__ == "__main__":
    PromptKernel.launch()
