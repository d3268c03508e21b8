"""Conformance checks: does the kernel answer every request as the messaging spec says?"""

from __future__ import annotations

import os
import signal
import time
import uuid
from typing import Any

from .context import CheckContext, execute_content, exit_line
from .peer import Exchange

NO_CODE = "no snippets for language {language!r} (give them with --snippets FILE)"


def _no_reply(exchange: Exchange, ctx: CheckContext) -> str:
    return f"no {exchange.sent.msg_type.replace('_request', '_reply')} within {ctx.peer.timeout}s"


def _text(msgs: list[dict[str, Any]]) -> str:
    return "".join(str(msg["content"].get("text", "")) for msg in msgs)


def check_kernel_info(ctx: CheckContext, exchange: Exchange | None) -> None:
    """kernel_info on shell (the exchange that found the kernel ready) and on control."""
    name = "conformance.kernel_info"
    if exchange is None or exchange.reply is None:
        ctx.failed(name, f"no kernel_info_reply on shell within {ctx.peer.timeout}s")
        return
    content = exchange.content
    problems = [
        f"{field} missing"
        for field in ("protocol_version", "implementation")
        if not isinstance(content.get(field), str)
    ]
    language_info = content.get("language_info")
    if not isinstance(language_info, dict) or not isinstance(language_info.get("name"), str):
        problems.append("language_info.name missing")
    if content.get("status", "ok") != "ok":
        problems.append(f"status {content.get('status')!r}")
    control = ctx.peer.request("control", "kernel_info_request", {})
    if control.reply is None:
        problems.append("no kernel_info_reply on control")
    ctx.verdict(
        name,
        problems,
        f"{content.get('implementation')} {content.get('implementation_version')}, protocol "
        f"{content.get('protocol_version')}, language {ctx.language}; control answers too",
    )


def check_heartbeat(ctx: CheckContext) -> None:
    if ctx.peer.heartbeat(ctx.peer.timeout):
        ctx.passed("conformance.heartbeat", "echoes a ping")
    else:
        ctx.failed("conformance.heartbeat", f"no echo within {ctx.peer.timeout}s")


def check_iopub_welcome(ctx: CheckContext) -> None:
    name = "conformance.iopub_welcome"
    welcome = ctx.peer.welcome
    if welcome is None:
        ctx.unsupported(name, "no iopub_welcome received on subscribing (protocol 5.5, JEP 65)")
        return
    problems = []
    if welcome["content"].get("subscription") != "":
        problems.append(f"subscription {welcome['content'].get('subscription')!r}, expected ''")
    if welcome.get("parent_header"):
        problems.append("has a parent header")
    ctx.verdict(name, problems, "welcomed our subscription to every topic")


def _execute(
    ctx: CheckContext, snippet: str, allow_stdin: bool = False, **values: str
) -> Exchange | None:
    code = ctx.code(snippet, **values)
    if code is None:
        return None
    return ctx.peer.request("shell", "execute_request", execute_content(code, allow_stdin))


def check_execute(ctx: CheckContext) -> None:
    """execute ok, stream, execute_result, error."""
    if ctx.snippets is None:
        for name in ("execute_ok", "stream", "execute_result", "execute_error", "stdin"):
            ctx.unsupported(f"conformance.{name}", NO_CODE.format(language=ctx.language))
        return
    _execute_checks(ctx)
    for name in ("execute_ok", "stream", "execute_result", "execute_error"):
        if not ctx.report.has(f"conformance.{name}"):  # its snippet is missing
            ctx.unsupported(f"conformance.{name}", NO_CODE.format(language=ctx.language))
    check_stdin(ctx, f"kw-check-{uuid.uuid4().hex[:8]}")


def _execute_checks(ctx: CheckContext) -> None:
    ok = _execute(ctx, "ok")
    if ok is not None:
        problems = []
        if ok.reply is None:
            problems.append(_no_reply(ok, ctx))
        else:
            if ok.content.get("status") != "ok":
                problems.append(f"status {ok.content.get('status')!r}")
            if not isinstance(ok.content.get("execution_count"), int):
                problems.append("execution_count is not an integer")
            if not ok.of_type("execute_input"):
                problems.append("no execute_input on IOPub")
        ctx.verdict(
            "conformance.execute_ok",
            problems,
            f"status ok, execution_count {ok.content.get('execution_count')}, "
            "execute_input published",
        )

    token = f"kw-check-{uuid.uuid4().hex[:8]}"
    stream = _execute(ctx, "stream", token=token)
    if stream is not None:
        text = _text([m for m in stream.of_type("stream") if m["content"].get("name") == "stdout"])
        problems = (
            []
            if token in text
            else [f"stdout stream did not carry the printed token (got {text[:60]!r})"]
        )
        if stream.reply is None:
            problems.append(_no_reply(stream, ctx))
        ctx.verdict("conformance.stream", problems, "printed text came as a stdout stream")

    result = _execute(ctx, "result")
    if result is not None:
        results = result.of_type("execute_result")
        problems = []
        if not results:
            problems.append("no execute_result on IOPub")
        else:
            content = results[0]["content"]
            if "42" not in str(content.get("data", {}).get("text/plain")):
                problems.append(
                    f"text/plain {content.get('data', {}).get('text/plain')!r}, expected '42'"
                )
            if content.get("execution_count") != result.content.get("execution_count"):
                problems.append("execution_count differs from the reply's")
        ctx.verdict(
            "conformance.execute_result",
            problems,
            "execute_result 42 with the reply's execution_count",
        )

    error = _execute(ctx, "error", token=token)
    if error is not None:
        problems = []
        if error.reply is None:
            problems.append(_no_reply(error, ctx))
        else:
            content = error.content
            if content.get("status") != "error":
                problems.append(f"reply status {content.get('status')!r}, expected 'error'")
            problems += [
                f"reply {field} missing"
                for field in ("ename", "evalue", "traceback")
                if field not in content
            ]
            if not isinstance(content.get("traceback", []), list):
                problems.append("reply traceback is not a list")
        published = error.of_type("error")
        if not published:
            problems.append("no error message on IOPub")
        elif token not in str(published[0]["content"].get("evalue")) + str(
            published[0]["content"].get("traceback")
        ):
            problems.append("the IOPub error does not carry the raised message")
        ctx.verdict(
            "conformance.execute_error",
            problems,
            f"reply status error, ename {error.content.get('ename')!r}; error published",
        )


def check_stdin(ctx: CheckContext, token: str) -> None:
    name = "conformance.stdin"
    value = f"answer-{uuid.uuid4().hex[:6]}"
    prompts: list[str] = []

    def answer(msg: dict[str, Any]) -> str | None:
        prompts.append(str(msg["content"].get("prompt")))
        return value

    ctx.peer.answer_input = answer
    try:
        exchange = _execute(ctx, "input", allow_stdin=True, token=token)
    finally:
        ctx.peer.answer_input = lambda msg: None
    if exchange is None:
        ctx.unsupported(name, NO_CODE.format(language=ctx.language))
        return
    problems = []
    if not prompts:
        problems.append("no input_request on stdin")
    elif token not in prompts[0]:
        problems.append(f"input_request prompt {prompts[0]!r} lacks the prompt given")
    if value not in _text(exchange.of_type("stream")):
        problems.append("the answer given was not printed back")
    if exchange.reply is None or exchange.content.get("status") != "ok":
        problems.append(f"execute_reply status {exchange.content.get('status')!r}")
    ctx.verdict(name, problems, "input_request answered with input_reply; the value came back")


#: Times an empty complete_reply is asked for, and the pause between two asks (seconds).
COMPLETE_ATTEMPTS, COMPLETE_RETRY_PAUSE = 3, 0.5


def check_complete(ctx: CheckContext) -> None:
    """complete_request: the reply's shape always, a match when the snippets name one."""
    name = "conformance.complete"
    code = ctx.code("complete")
    if code is None:
        ctx.unsupported(name, NO_CODE.format(language=ctx.language))
        return
    want = (ctx.snippets or {}).get("complete_match")
    for attempt in range(COMPLETE_ATTEMPTS):
        exchange = ctx.peer.request(
            "shell", "complete_request", {"code": code, "cursor_pos": len(code)}
        )
        content = exchange.content
        # No match at all, where one is due, is asked again: completers may give up on a
        # time budget (ipykernel and xeus-python each once did on a loaded CI machine).
        if not (want and exchange.reply and content.get("matches") == []):
            break
        if attempt + 1 < COMPLETE_ATTEMPTS:
            time.sleep(COMPLETE_RETRY_PAUSE)
    problems = [] if exchange.reply else [_no_reply(exchange, ctx)]
    matches = content.get("matches")
    if exchange.reply and not isinstance(matches, list):
        problems.append("matches is not a list")
    if want and isinstance(matches, list) and not any(want in str(m) for m in matches):
        asked = f", asked {COMPLETE_ATTEMPTS} times" if matches == [] else ""
        problems.append(f"no match offers {want!r} (matches: {matches[:5]}{asked})")
    for field in ("cursor_start", "cursor_end"):
        if exchange.reply and not isinstance(content.get(field), int):
            problems.append(f"{field} is not an integer")
    ctx.verdict(
        name,
        problems,
        f"{len(matches or [])} match{'' if len(matches or []) == 1 else 'es'}, cursor "
        f"{content.get('cursor_start')}..{content.get('cursor_end')}",
    )


def check_inspect(ctx: CheckContext) -> None:
    """inspect_request on code the snippets say has something to find."""
    name = "conformance.inspect"
    code = ctx.code("inspect")
    if code is None:
        ctx.unsupported(name, NO_CODE.format(language=ctx.language))
        return
    exchange = ctx.peer.request(
        "shell", "inspect_request", {"code": code, "cursor_pos": len(code), "detail_level": 0}
    )
    content = exchange.content
    problems = [] if exchange.reply else [_no_reply(exchange, ctx)]
    if exchange.reply and content.get("found") is not True:
        problems.append(f"found is {content.get('found')!r}")
    if exchange.reply and not isinstance(content.get("data"), dict):
        problems.append("data is not an object")
    ctx.verdict(name, problems, f"found: {', '.join(content.get('data') or {})}")


def check_is_complete(ctx: CheckContext) -> None:
    """is_complete_request tells the snippets' incomplete and complete code apart."""
    name = "conformance.is_complete"
    incomplete, complete = ctx.code("incomplete"), ctx.code("complete_code")
    if incomplete is None or complete is None:
        ctx.unsupported(name, NO_CODE.format(language=ctx.language))
        return
    problems = []
    for code, want in ((incomplete, "incomplete"), (complete, "complete")):
        exchange = ctx.peer.request("shell", "is_complete_request", {"code": code})
        if exchange.reply is None:
            problems.append(_no_reply(exchange, ctx))
        elif exchange.content.get("status") != want:
            problems.append(
                f"{code!r}: status {exchange.content.get('status')!r}, expected {want!r}"
            )
    ctx.verdict(name, problems, "incomplete and complete code told apart")


def check_history_and_comms(ctx: CheckContext) -> None:
    exchange = ctx.peer.request(
        "shell",
        "history_request",
        {"output": False, "raw": True, "hist_access_type": "tail", "n": 10},
    )
    problems = [] if exchange.reply else [_no_reply(exchange, ctx)]
    history = exchange.content.get("history")
    if exchange.reply and not isinstance(history, list):
        problems.append("history is not a list")
    ctx.verdict("conformance.history", problems, f"tail: {len(history or [])} entries")

    exchange = ctx.peer.request("shell", "comm_info_request", {})
    problems = [] if exchange.reply else [_no_reply(exchange, ctx)]
    comms = exchange.content.get("comms")
    if exchange.reply and not isinstance(comms, dict):
        problems.append("comms is not an object")
    ctx.verdict("conformance.comm_info", problems, f"{len(comms or {})} comms open")


def check_interrupt(ctx: CheckContext) -> None:
    """A long-running cell is interrupted the way the kernelspec says."""
    name = "conformance.interrupt"
    token = f"kw-sleeping-{uuid.uuid4().hex[:8]}"
    code = ctx.code("sleep", token=token)
    if code is None:
        ctx.unsupported(name, NO_CODE.format(language=ctx.language))
        return
    mode = ctx.interrupt_mode
    if mode == "signal" and ctx.pid is None:
        ctx.unsupported(name, "interrupt_mode signal, but the kernel's pid is unknown")
        return
    peer = ctx.peer
    sent = peer.send("shell", "execute_request", execute_content(code))
    # An interrupt must land in the cell's code: one during the kernel's own set-up of the
    # cell proves less (and ipykernel may then run the cell on). A snippet that prints its
    # token says it is there; for one that does not, execute_input and a moment must do.
    announces = token in code

    def running() -> bool:
        outputs = peer.outputs.get(sent.msg_id, [])
        if announces:
            return token in _text([m for m in outputs if m["header"].get("msg_type") == "stream"])
        return any(m["header"].get("msg_type") == "execute_input" for m in outputs)

    if not peer.wait(running, peer.timeout):
        ctx.failed(name, f"the long-running cell did not start within {peer.timeout}s")
        return
    if not announces:
        time.sleep(0.3)
    begin = time.monotonic()
    problems = []
    if mode == "signal":
        assert ctx.pid is not None
        os.kill(ctx.pid, signal.SIGINT)
        how = "SIGINT"
    else:
        interrupt = peer.request("control", "interrupt_request", {})
        how = "interrupt_request"
        if interrupt.reply is None:
            problems.append("no interrupt_reply on control")
        elif interrupt.content.get("status") != "ok":
            problems.append(f"interrupt_reply status {interrupt.content.get('status')!r}")
    peer.wait(lambda: peer.reply_to(sent.msg_id) is not None, peer.timeout)
    reply = peer.reply_to(sent.msg_id)
    took = time.monotonic() - begin
    if not ctx.alive():
        assert ctx.kernel is not None
        problems.append(f"the kernel did not survive {how}: {exit_line(ctx.kernel)}")
    elif reply is None:
        problems.append(f"the cell still ran {peer.timeout}s after the interrupt")
    elif reply["content"].get("status") not in ("error", "abort"):
        problems.append(f"execute_reply status {reply['content'].get('status')!r}, expected error")
    peer.wait(lambda: peer.is_idle_after(sent.msg_id), peer.idle_grace())
    ended = reply["content"] if reply else {}
    outcome = ended.get("ename") or f"status {ended.get('status')}"
    ctx.verdict(
        name, problems, f"{how} (interrupt_mode {mode}) ended the cell after {took:.1f}s: {outcome}"
    )


def check_subshells(ctx: CheckContext) -> None:
    name = "conformance.subshells"
    features = ctx.kernel_info.get("supported_features") or []
    if "kernel subshells" not in features:
        ctx.unsupported(name, "kernel_info supported_features does not list 'kernel subshells'")
        return
    peer = ctx.peer
    problems: list[str] = []
    created = peer.request("control", "create_subshell_request", {})
    subshell_id = created.content.get("subshell_id")
    if not isinstance(subshell_id, str):
        ctx.failed(name, f"create_subshell_reply: subshell_id {subshell_id!r}")
        return
    listed = peer.request("control", "list_subshell_request", {})
    if subshell_id not in (listed.content.get("subshell_id") or []):
        problems.append(f"list_subshell_reply lacks the new subshell: {listed.content}")
    code = ctx.code("stream", token=f"kw-subshell-{subshell_id}")
    if code is not None:
        ran = peer.request(
            "shell", "execute_request", execute_content(code), subshell_id=subshell_id
        )
        if ran.content.get("status") != "ok":
            problems.append(f"execute in the subshell: {ran.content.get('status', 'no reply')}")
        elif subshell_id not in _text(ran.of_type("stream")):
            problems.append("the subshell's output did not come back")
    deleted = peer.request("control", "delete_subshell_request", {"subshell_id": subshell_id})
    if deleted.content.get("status") != "ok":
        problems.append(f"delete_subshell_reply status {deleted.content.get('status')!r}")
    listed = peer.request("control", "list_subshell_request", {})
    if subshell_id in (listed.content.get("subshell_id") or []):
        problems.append("deleted subshell still listed")
    ctx.verdict(name, problems, "created, listed, ran code in, deleted a subshell")


def check_handshake_and_curve(ctx: CheckContext) -> None:
    name = "conformance.handshake"
    if ctx.spec is None or not ctx.spec.supports_handshake:
        ctx.unsupported(
            name,
            "the kernelspec does not declare kernel_protocol_version 5.6+"
            if ctx.spec
            else "attached to a running kernel (--existing)",
        )
    elif ctx.handshake_used and ctx.kernel_info:
        ctx.passed(name, "registered its ports through the 5.6 handshake, then answered")
    else:
        ctx.failed(name, "declares 5.6 but the handshake start did not give a working kernel")
    name = "conformance.curve"
    encryption = (ctx.spec.metadata.get("supported_encryption") if ctx.spec else None) or []
    if "curve" not in encryption:
        ctx.unsupported(name, "the kernelspec does not offer Curve encryption")
        return
    assert ctx.spec is not None
    problems, evidence = _check_curve(ctx.spec, ctx.peer.timeout)
    ctx.verdict(name, problems, evidence)


def _check_curve(spec: Any, timeout: float) -> tuple[list[str], str]:
    """Start a second kernel of ``spec`` with a CurveZMQ keypair in its connection file: a
    client holding the keys must be answered, and one without them must not be."""
    import zmq

    from ..client import BlockingClient, ClientError, start_kernel
    from ..connect import channel_url, session_from_connection_info

    try:
        kernel = start_kernel(
            spec.argv,
            kernel_name=spec.name,
            env=spec.env,
            resource_dir=spec.resource_dir,
            curve=True,
        )
    except ClientError as exc:
        return [f"could not start it with Curve keys: {exc}"], ""
    problems = []
    silence = min(timeout, 3.0)  # an answer in the clear would come in milliseconds
    try:
        try:
            with BlockingClient(kernel.info, kernel=kernel) as client:
                client.wait_for_ready(timeout=max(timeout, 30.0))
        except ClientError as exc:
            problems.append(f"a client with the connection file's keys got no answer: {exc}")
        plain: Any = zmq.Context.instance().socket(zmq.DEALER)
        plain.linger = 0
        try:
            plain.connect(channel_url(kernel.info, "shell"))
            if answered_without_keys(plain, session_from_connection_info(kernel.info), silence):
                problems.append("a client without the keys was answered: the shell is in the clear")
        finally:
            plain.close()
    finally:
        kernel.cleanup()
    return problems, (
        "started with a Curve keypair: a client with the keys was answered, one without "
        f"them got nothing in {silence:g}s"
    )


def answered_without_keys(plain: Any, session: Any, silence: float) -> bool:
    """Whether ``plain``, a DEALER connected to a Curve kernel's shell without its keys,
    gets an answer to a kernel_info_request within ``silence`` seconds. A DEALER has
    nowhere to queue a message while its refused connection is torn down and not yet made
    again: the send then waits, at most ``silence`` too, and that counts as no answer."""
    import zmq

    plain.sndtimeo = int(silence * 1000)
    try:
        session.send(plain, "kernel_info_request", {})
    except zmq.Again:
        return False
    return bool(plain.poll(int(silence * 1000)))


def check_shutdown(ctx: CheckContext) -> None:
    name = "conformance.shutdown"
    exchange = ctx.peer.request("control", "shutdown_request", {"restart": False}, framed=False)
    problems = [] if exchange.reply else [_no_reply(exchange, ctx)]
    if exchange.reply and exchange.content.get("restart") is not False:
        problems.append(f"restart {exchange.content.get('restart')!r}, expected false")
    exited = ""
    if ctx.kernel is not None:
        if ctx.kernel.wait(ctx.peer.timeout):
            exited = f"; the process exited (code {ctx.kernel.exit_code})"
        else:
            problems.append(f"the process still runs {ctx.peer.timeout}s after shutdown_reply")
    ctx.verdict(name, problems, f"shutdown_reply restart false{exited}")


def check_framing(ctx: CheckContext) -> None:
    """Busy first and idle last on IOPub, with the request as parent, for every request
    answered by then (the conformance requests: the security checks' barriers come later and
    may be disturbed by what the kernel logs about refused messages)."""
    peer = ctx.peer
    answered = [s.msg_id for s in peer.sent if s.framed and peer.reply_to(s.msg_id) is not None]
    if peer.idle_grace() > 1:  # it publishes status: give a late idle (a loaded machine) time
        peer.wait(lambda: all(peer.is_idle_after(msg_id) for msg_id in answered), peer.timeout)
    peer.quiet(0.5)  # outputs after idle count against the framing too
    problems: list[str] = []
    checked = 0
    for sent in peer.sent:
        if not sent.framed or peer.reply_to(sent.msg_id) is None:
            continue
        checked += 1
        states = [
            m["content"].get("execution_state")
            for m in peer.outputs.get(sent.msg_id, [])
            if m["header"].get("msg_type") == "status"
        ]
        kinds = [m["header"].get("msg_type") for m in peer.outputs.get(sent.msg_id, [])]
        if "busy" not in states or "idle" not in states:
            problems.append(f"{sent.channel} {sent.msg_type}: statuses {states or 'none'}")
        elif (
            kinds[0] != "status"
            or peer.outputs[sent.msg_id][0]["content"].get("execution_state") != "busy"
        ):
            problems.append(f"{sent.channel} {sent.msg_type}: {kinds[0]} before busy")
        elif peer.outputs[sent.msg_id][-1]["content"].get("execution_state") != "idle":
            problems.append(f"{sent.channel} {sent.msg_type}: {kinds[-1]} after idle ({kinds})")
    evidence = f"{checked} requests, each framed by busy ... idle with it as parent"
    if problems:
        shown = "; ".join(problems[:4]) + (
            f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
        )
        ctx.failed("conformance.status_framing", f"{len(problems)} of {checked} requests: {shown}")
    else:
        ctx.passed("conformance.status_framing", evidence)


def check_parents_and_validity(ctx: CheckContext) -> None:
    validator_name = ctx.validator_name
    peer = ctx.peer
    ours = {sent.msg_id for sent in peer.sent}
    problems = []
    strays = [parent for parent in peer.replies if parent not in ours | peer.probe_ids]
    if strays:
        problems.append(f"{len(strays)} replies whose parent is no request of ours")
    duplicated = [  # a replayed probe answered twice is security.replay's finding
        parent
        for parent, replies in peer.replies.items()
        if parent not in peer.probe_ids and sum(channel != "stdin" for channel, _ in replies) > 1
    ]
    if duplicated:
        problems.append(f"{len(duplicated)} requests answered more than once")
    if peer.unreadable:
        problems.append(f"{len(peer.unreadable)} unreadable: {peer.unreadable[0]}")
    replied = sum(1 for p in ours if peer.reply_to(p) is not None)
    echoes = len(peer.unreadable_after_malformed)
    ctx.verdict(
        "conformance.parent_headers",
        problems,
        f"{replied} replies, each to the request named in its parent header"
        + (f" ({echoes} unreadable after the malformed messages, not counted)" if echoes else ""),
    )
    if peer.invalid:
        shown = "; ".join(peer.invalid[:3])
        ctx.failed(
            "conformance.messages_valid",
            f"{len(peer.invalid)} problems ({validator_name}): {shown}",
        )
    else:
        echoed = len(peer.invalid_after_malformed)
        ctx.passed(
            "conformance.messages_valid",
            f"{peer.received} messages checked ({validator_name})"
            + (f"; {echoed} answering malformed messages not counted" if echoed else ""),
        )
