"""Running the checks against a kernel: start it (or attach), check, clean up."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass

from ..client import KernelProcess, start_kernel
from ..connect import read_connection_file
from ..kernelspec import KernelSpec, get_kernel_spec
from . import conformance, netstat, security
from .context import CheckContext, exit_line
from .model import FAIL, CheckReport
from .peer import Peer
from .snippets import load_snippets
from .validate import message_validator


class KernelUnavailable(RuntimeError):
    """The kernel could not be started or never answered kernel_info."""


@dataclass
class CheckOptions:
    #: An installed kernelspec to start (exactly one of kernel_name and existing).
    kernel_name: str | None = None
    #: A running kernel's connection file.
    existing: str | None = None
    #: Bound on each wait for a reply.
    timeout: float = 10.0
    startup_timeout: float = 60.0
    #: A JSON file of snippets for languages (see kernelwire.check.snippets).
    snippets_file: str | None = None


Check = tuple[Callable[[CheckContext], None], tuple[str, ...]]
#: Checks that judge what was received during the run: they run even if the kernel died.
AFTER_THE_FACT = (conformance.check_framing, conformance.check_parents_and_validity)


def _checks(ctx: CheckContext) -> list[Check]:
    """The checks in the order they run: the gentle ones first, the hostile ones after,
    the interrupt late (a failed one leaves the kernel busy), shutdown last."""
    execute_names = ("execute_ok", "stream", "execute_result", "execute_error", "stdin")
    checks: list[Check] = [
        (conformance.check_heartbeat, ("conformance.heartbeat",)),
        (conformance.check_iopub_welcome, ("conformance.iopub_welcome",)),
        (conformance.check_execute, tuple(f"conformance.{n}" for n in execute_names)),
        (conformance.check_complete, ("conformance.complete",)),
        (conformance.check_inspect, ("conformance.inspect",)),
        (conformance.check_is_complete, ("conformance.is_complete",)),
        (conformance.check_history_and_comms, ("conformance.history", "conformance.comm_info")),
        (conformance.check_subshells, ("conformance.subshells",)),
        (conformance.check_handshake_and_curve, ("conformance.handshake", "conformance.curve")),
        (conformance.check_interrupt, ("conformance.interrupt",)),
        (conformance.check_framing, ("conformance.status_framing",)),
        (security.check_connection_file, ("security.connection_file",)),
        (security.check_bind_address, ("security.bind_address",)),
        (security.check_unsigned, ("security.unsigned",)),
        (security.check_bad_signature, ("security.bad_signature",)),
        (security.check_other_scheme, ("security.other_scheme",)),
        (security.check_replay, ("security.replay",)),
        (security.check_reflection, ("security.reflection",)),
        (security.check_oversized, ("security.oversized",)),
        (security.check_subscription_flood, ("security.subscription_flood",)),
        (security.check_malformed, ("security.malformed",)),
        # Last of the hostile ones: a validly signed message nested deep kills some kernels.
        (security.check_malformed_signed, ("security.malformed_signed",)),
        (
            conformance.check_parents_and_validity,
            ("conformance.parent_headers", "conformance.messages_valid"),
        ),
    ]
    if ctx.kernel is not None:  # a kernel someone else runs is not ours to shut down
        checks.append((conformance.check_shutdown, ("conformance.shutdown",)))
    return checks


def _start(options: CheckOptions) -> tuple[KernelProcess | None, KernelSpec | None]:
    if options.kernel_name is None:
        return None, None
    spec = get_kernel_spec(options.kernel_name)
    kernel = start_kernel(
        spec.argv,
        kernel_name=spec.name,
        env=spec.env,
        resource_dir=spec.resource_dir,
        handshake=spec.supports_handshake,
        startup_timeout=options.startup_timeout,
    )
    return kernel, spec


def _pid_of(info: dict[str, object]) -> int | None:
    """A running kernel's pid: the owner of the socket listening on its shell port."""
    for entry in netstat.listeners() or []:
        if entry.port == info.get("shell_port"):
            return netstat.owner_of(entry.inode)
    return None


def run_checks(options: CheckOptions) -> CheckReport:
    """Run every check; KernelUnavailable when there is no kernel to check.

    Raises what starting the kernel raises (NoSuchKernel, KernelSpecError,
    KernelStartError) and ConnectionFileError for an unusable ``existing`` file.
    """
    if (options.kernel_name is None) == (options.existing is None):
        raise ValueError("give exactly one of kernel_name and existing")
    snippets = load_snippets(options.snippets_file)
    validator, validator_name = message_validator()
    info = read_connection_file(options.existing) if options.existing else None
    kernel, spec = _start(options)
    if kernel is not None:
        info = kernel.info
    assert info is not None
    peer = Peer(info, validator, options.timeout)
    ctx = CheckContext(
        peer=peer,
        report=CheckReport(),
        info=info,
        connection_file=kernel.connection_file if kernel else str(options.existing),
        kernel=kernel,
        spec=spec,
        pid=kernel.pid if kernel else None,
        wrote_connection_file=kernel is not None,
        handshake_used=spec is not None and spec.supports_handshake,
    )
    peer.alive = ctx.alive
    try:
        ready = peer.wait_ready(options.startup_timeout)
        if ready is None or ready.reply is None:
            detail = kernel.describe_exit() if kernel and not kernel.is_running() else ""
            raise KernelUnavailable(
                f"no kernel_info_reply within {options.startup_timeout}s {detail}".strip()
            )
        ctx.kernel_info = ready.content
        if ctx.pid is None:  # only now: a kernel just launched may not have bound its ports
            ctx.pid = _pid_of(info)
        ctx.validator_name = validator_name
        ctx.snippets = snippets.get(ctx.language)
        language_info = ctx.kernel_info.get("language_info") or {}
        ctx.report.kernel = {
            "implementation": ctx.kernel_info.get("implementation"),
            "implementation_version": ctx.kernel_info.get("implementation_version"),
            "protocol_version": ctx.kernel_info.get("protocol_version"),
            "language": language_info.get("name") if isinstance(language_info, dict) else None,
            "kernelspec": spec.name if spec else None,
            "connection_file": None if kernel else ctx.connection_file,
            "validation": validator_name,
        }
        conformance.check_kernel_info(ctx, ready)
        last: tuple[str, ...] = ("conformance.kernel_info",)
        for check, names in _checks(ctx):
            if check not in AFTER_THE_FACT and ctx.kernel is not None:
                trouble = _trouble(ctx)
                if trouble:
                    _restart(ctx, options, last, trouble)
            _run_one(ctx, check, names)
            if check not in AFTER_THE_FACT:
                last = names
        ctx.report.kernel["restarts"] = ctx.restarts
        return ctx.report
    finally:
        peer.close()
        if ctx.kernel is not None:
            ctx.kernel.cleanup()
        shutil.rmtree(ctx.scratch, ignore_errors=True)


def _trouble(ctx: CheckContext) -> str:
    """Why the kernel we started cannot go on ('' when it can): it died, or its shell
    stopped answering."""
    assert ctx.kernel is not None
    if not ctx.kernel.is_running():
        return exit_line(ctx.kernel)
    if ctx.deaf:
        return "it stopped answering"
    probe = ctx.peer.request("shell", "kernel_info_request", {}, framed=False)
    return "" if probe.reply is not None else "its shell stopped answering kernel_info"


def _restart(ctx: CheckContext, options: CheckOptions, during: tuple[str, ...], died: str) -> None:
    """Start the kernel again after it died or went deaf, so one crash does not hide every
    later finding; the death is in the report (``kernel.restarts``) and the table's footer."""
    assert ctx.kernel is not None
    ctx.kernel.cleanup()
    try:
        kernel, _ = _start(options)
    except Exception as exc:  # then the checks that follow report "not run"
        ctx.restarts.append(f"{died} during {', '.join(during)}; restart failed: {exc}")
        return
    assert kernel is not None
    ctx.kernel, ctx.info, ctx.pid, ctx.deaf = kernel, kernel.info, kernel.pid, False
    ctx.connection_file = kernel.connection_file
    ctx.peer.connect(kernel.info)
    ready = ctx.peer.wait_ready(options.startup_timeout)
    state = "restarted" if ready is not None else "restarted but never answered"
    ctx.restarts.append(f"{died} during {', '.join(during)}; {state}")


def _run_one(
    ctx: CheckContext, check: Callable[[CheckContext], None], names: tuple[str, ...]
) -> None:
    """Run one check function; whatever it did not report (it raised, or the kernel had
    died before it ran) is reported as failed, with the reason."""
    before = {result.name for result in ctx.report.results}
    reason = ""
    if not ctx.alive() and check not in AFTER_THE_FACT:
        assert ctx.kernel is not None
        reason = f"not run: {exit_line(ctx.kernel)}"
    else:
        try:
            check(ctx)
        except Exception as exc:  # a checker bug or a kernel answer it did not foresee
            reason = f"the check raised {type(exc).__name__}: {exc}"
    for name in names:
        if name not in before and not ctx.report.has(name):
            ctx.report.add(name, FAIL, reason or "the check reported nothing")
