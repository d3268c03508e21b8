"""Security checks: does the kernel refuse what a peer without the key (or replaying what
it saw) sends, survive hostile frames, and keep its sockets where the file says?

"Refused" means no trace of processing: no reply, nothing on IOPub with the message as
parent, and (when the language has snippets) no side effect: a marker file the code would
create stays absent. A valid kernel_info_request sent after it on the same channel is the
barrier: once it is answered, an in-order kernel has dealt with the message before it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import time
import uuid
from collections.abc import Callable
from typing import Any

from . import netstat
from .context import CheckContext, execute_content, exit_line
from .peer import DELIM, packed_parts, request_header
from .zmtp import RawSubscriber

MiB = 1024 * 1024
#: Size of each oversized frame: big enough to hurt a kernel that buffers without bound,
#: small enough to send in well under a second over loopback.
OVERSIZED = 64 * MiB
#: Subscriptions in the IOPub flood (distinct topics, one ZMTP connection).
FLOOD_TOPICS = 10_000
#: Extra seconds to collect stray output after the barrier was answered.
SETTLE = 0.5


def _rss_change(before: int | None, after: int | None) -> str:
    """``"; RSS a -> b MiB"`` from two readings in KiB, or ``""`` when either is missing."""
    if before is None or after is None:
        return ""
    return f"; RSS {before // 1024} -> {after // 1024} MiB"


def _rss_kb(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _probe_request(ctx: CheckContext) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(header, content, marker path) of a request with a visible side effect when the
    language has snippets (an execute that creates a marker file), else a kernel_info."""
    marker = ctx.marker()
    code = ctx.code("touch", path=marker)
    if code is None:
        return request_header("kernel_info_request", ctx.peer.session_id), {}, None
    return request_header("execute_request", ctx.peer.session_id), execute_content(code), marker


def _barrier(ctx: CheckContext, channel: str = "shell") -> bool:
    """A valid kernel_info on ``channel`` answered: what was sent before it is dealt with."""
    answered = ctx.peer.request(channel, "kernel_info_request", {}).reply is not None
    ctx.deaf = ctx.deaf or not answered
    ctx.peer.quiet(SETTLE)
    return answered


def _traces(ctx: CheckContext, msg_id: str, marker: str | None) -> list[str]:
    """What shows that the message ``msg_id`` was processed."""
    found = []
    if ctx.peer.reply_to(msg_id) is not None:
        found.append("it was answered")
    published = [m["header"].get("msg_type") for m in ctx.peer.outputs.get(msg_id, [])]
    if published:
        found.append(f"IOPub published {', '.join(sorted(set(published)))} for it")
    if marker is not None and os.path.exists(marker):
        found.append("its code ran (the marker file exists)")
    return found


def _hexdigest(key: bytes, digest: Any, parts: list[bytes]) -> bytes:
    mac = hmac.new(key, digestmod=digest)
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode()


def _send_probe(
    ctx: CheckContext, sign: Callable[[list[bytes]], bytes]
) -> tuple[dict[str, Any], str | None, str]:
    """Send a probe request signed by ``sign``; (its header, marker path, what it is)."""
    header, content, marker = _probe_request(ctx)
    parts = packed_parts(header, content)
    ctx.peer.probe_ids.add(header["msg_id"])
    ctx.peer.send_frames("shell", [DELIM, sign(parts), *parts])
    article = "an" if header["msg_type"][0] in "aeiou" else "a"
    return header, marker, f"{article} {header['msg_type']}"


def check_unsigned(ctx: CheckContext) -> None:
    header, marker, kind = _send_probe(ctx, lambda parts: b"")
    _judge(ctx, "security.unsigned", f"{kind} with no signature", header, marker)


def check_bad_signature(ctx: CheckContext) -> None:
    wrong_key = uuid.uuid4().hex.encode()
    header, marker, kind = _send_probe(
        ctx, lambda parts: _hexdigest(wrong_key, hashlib.sha256, parts)
    )
    _judge(ctx, "security.bad_signature", f"{kind} signed with another key", header, marker)


def check_other_scheme(ctx: CheckContext) -> None:
    key = ctx.info["key"].encode()
    scheme = ctx.info.get("signature_scheme", "hmac-sha256")
    other, digest = (
        ("hmac-sha512", hashlib.sha512)
        if scheme != "hmac-sha512"
        else ("hmac-sha256", hashlib.sha256)
    )
    header, marker, kind = _send_probe(ctx, lambda parts: _hexdigest(key, digest, parts))
    what = f"{kind} signed with the right key but {other} (the file says {scheme})"
    _judge(ctx, "security.other_scheme", what, header, marker)


def _judge(
    ctx: CheckContext, name: str, what: str, header: dict[str, Any], marker: str | None
) -> None:
    if not _barrier(ctx):
        ctx.failed(name, f"after {what}, the kernel stopped answering kernel_info")
        return
    traces = _traces(ctx, header["msg_id"], marker)
    effect = "its code did not run, " if marker else ""
    ctx.verdict(
        name,
        [f"accepted {what}: {'; '.join(traces)}"] if traces else [],
        f"{what} refused: {effect}no reply, nothing on IOPub",
    )


def check_replay(ctx: CheckContext) -> None:
    """The same signed frames twice: the second copy must not run."""
    name = "security.replay"
    marker = ctx.marker()
    code = ctx.code("append", path=marker)
    header = request_header(
        "execute_request" if code else "kernel_info_request", ctx.peer.session_id
    )
    parts = packed_parts(header, execute_content(code) if code else {})
    frames = [DELIM, ctx.peer.session.sign(parts), *parts]
    peer = ctx.peer
    peer.probe_ids.add(header["msg_id"])
    peer.send_frames("shell", frames)
    if not peer.wait(lambda: peer.reply_to(header["msg_id"]) is not None, peer.timeout):
        ctx.failed(name, "the original (validly signed) message was not answered")
        return
    peer.send_frames("shell", frames)
    if not _barrier(ctx):
        ctx.failed(name, "after the replay, the kernel stopped answering kernel_info")
        return
    problems = []
    replies = [m for c, m in peer.replies.get(header["msg_id"], []) if c != "stdin"]
    if len(replies) > 1:
        problems.append("the replay was answered")
    if _busy_count(ctx, header["msg_id"]) > 1:  # counted at the end: a late busy is no replay
        problems.append("IOPub showed busy for the replay")
    if code is not None:
        runs = 0
        if os.path.exists(marker):
            with open(marker) as f:
                runs = len(f.read().splitlines())
        if runs != 1:
            problems.append(f"the code ran {runs} times")
    ctx.verdict(
        name,
        [f"accepted a replayed message: {'; '.join(problems)}"] if problems else [],
        "the second copy of a signed message was refused"
        + (" (its code ran once)" if code else ""),
    )


def _busy_count(ctx: CheckContext, msg_id: str) -> int:
    return sum(
        1 for m in ctx.peer.outputs.get(msg_id, []) if m["content"].get("execution_state") == "busy"
    )


def check_reflection(ctx: CheckContext) -> None:
    """The kernel's own IOPub messages, signed by it, sent back to its shell."""
    name = "security.reflection"
    peer = ctx.peer
    exchange = peer.request("shell", "kernel_info_request", {})
    own = {msg["header"].get("msg_id") for msg in exchange.outputs}
    reflected = [frames for msg_id, frames in peer.raw_iopub.items() if msg_id in own]
    if not reflected:
        reflected = list(peer.raw_iopub.values())[-4:]
    if not reflected:
        ctx.unsupported(name, "the kernel published nothing to reflect")
        return
    kinds: dict[str, str] = {}  # msg_id -> msg_type of each reflected message
    for frames in reflected:
        rest = frames[frames.index(DELIM) :]
        reflected_header = json.loads(rest[2])
        state = json.loads(rest[5]).get("execution_state", "")
        kinds[reflected_header["msg_id"]] = f"{reflected_header['msg_type']} {state}".strip()
        peer.probe_ids.add(reflected_header["msg_id"])
        peer.send_frames("shell", rest)
    if not _barrier(ctx):
        ctx.failed(name, "after the reflection, the kernel stopped answering kernel_info")
        return
    accepted = {
        kind.strip(): "; ".join(traces)
        for msg_id, kind in kinds.items()
        if (traces := _traces(ctx, msg_id, None))
    }
    shown = ", ".join(f"its {kind}: {traces}" for kind, traces in accepted.items())
    ctx.verdict(
        name,
        [
            f"processed {len(accepted)} of {len(kinds)} of its own IOPub messages sent to "
            f"shell ({shown})"
        ]
        if accepted
        else [],
        f"{len(kinds)} of its own IOPub messages ({', '.join(sorted(set(kinds.values())))}) "
        "sent to shell were ignored",
    )


def malformed_frames() -> list[tuple[str, list[bytes]]]:
    """Frames anyone who can reach the port can send: no key needed."""
    return [
        ("one garbage frame", [b"\x00garbage"]),
        ("only the delimiter", [DELIM]),
        ("too few frames", [DELIM, b"sig", b"{}"]),
        ("no delimiter", [b"x"] * 6),
        ("bad signature, parts not JSON", [DELIM, b"0" * 64, b"\xff", b"[", b"1", b"{"]),
    ]


def malformed_signed(ctx: CheckContext) -> list[tuple[str, list[bytes]]]:
    """Validly signed messages with broken parts: what a buggy client holding the key sends."""
    session = ctx.peer.session
    header = request_header("kernel_info_request", ctx.peer.session_id)
    ctx.peer.probe_ids.add(header["msg_id"])
    good = packed_parts(header, {})

    def signed(*parts: bytes) -> list[bytes]:
        return [DELIM, session.sign(list(parts)), *parts]

    def with_header(**fields: Any) -> bytes:
        return json.dumps({**header, **fields}).encode()

    deep = b'{"n":' * 100_000 + b"1" + b"}" * 100_000
    return [
        ("header not JSON", signed(b"\xff\xfe not json", *good[1:])),
        ("header a list", signed(b"[1, 2]", *good[1:])),
        ("msg_type a number", signed(with_header(msg_type=7), *good[1:])),
        (
            "execute_request with code a number",
            signed(with_header(msg_type="execute_request"), good[1], good[2], b'{"code": 1}'),
        ),
        ("content nested 100,000 deep", signed(*good[:3], deep)),
    ]


def _survives(ctx: CheckContext) -> list[str]:
    """What no longer works: the process, shell and control kernel_info, the heartbeat."""
    if not ctx.alive():
        assert ctx.kernel is not None
        return [f"the kernel died: {exit_line(ctx.kernel)}"]
    problems = []
    for channel in ("shell", "control"):
        if ctx.peer.request(channel, "kernel_info_request", {}).reply is None:
            ctx.deaf = True
            problems.append(f"{channel} stopped answering kernel_info")
    if not ctx.peer.heartbeat(ctx.peer.timeout):
        problems.append("the heartbeat stopped echoing")
    return problems


def _send_malformed(ctx: CheckContext, name: str, cases: list[tuple[str, list[bytes]]]) -> None:
    """Each case on shell and control, then a kernel_info on each: the first case after
    which the kernel stops answering is named."""
    ctx.peer.malformed_sent = True
    for case, frames in cases:
        for channel in ("shell", "control"):
            ctx.peer.send_frames(channel, frames)
            if (
                not ctx.alive()
                or ctx.peer.request(channel, "kernel_info_request", {}).reply is None
            ):
                problems = _survives(ctx)
                ctx.failed(name, f"after {case} on {channel}: {'; '.join(problems) or 'slow'}")
                return
    ctx.peer.quiet(SETTLE)
    problems = _survives(ctx)
    sent = ", ".join(case for case, _ in cases)
    ctx.verdict(name, problems, f"still answers after {sent} on shell and control")


def check_malformed(ctx: CheckContext) -> None:
    _send_malformed(ctx, "security.malformed", malformed_frames())


def check_malformed_signed(ctx: CheckContext) -> None:
    _send_malformed(ctx, "security.malformed_signed", malformed_signed(ctx))


def check_oversized(ctx: CheckContext) -> None:
    rss_before = _rss_kb(ctx.pid)
    big = b"x" * OVERSIZED
    header = request_header("execute_request", ctx.peer.session_id)
    parts = [json.dumps(header).encode(), b"{}", b"{}", big]
    started = time.monotonic()
    for channel in ("shell", "control", "stdin"):
        ctx.peer.send_frames(channel, [DELIM, b"0" * 64, *parts])
    problems = _survives(ctx)
    took = time.monotonic() - started
    memory = _rss_change(rss_before, _rss_kb(ctx.pid))
    ctx.verdict(
        "security.oversized",
        problems,
        f"a {OVERSIZED // MiB} MiB wrongly signed message on shell, control and stdin; "
        f"answering again after {took:.1f}s{memory}",
    )


def check_subscription_flood(ctx: CheckContext) -> None:
    name = "security.subscription_flood"
    if ctx.info.get("transport", "tcp") != "tcp":
        ctx.unsupported(name, "the flood speaks ZMTP over tcp only")
        return
    rss_before = _rss_kb(ctx.pid)
    url = f"tcp://{ctx.info['ip']}:{ctx.info['iopub_port']}"
    try:
        subscriber = RawSubscriber(url, ctx.peer.timeout)
    except OSError as exc:
        ctx.failed(name, f"cannot connect to IOPub: {exc}")
        return
    subscribed = 0
    try:
        for subscribed in range(FLOOD_TOPICS):
            subscriber.subscribe(b"kw-flood-%d" % subscribed)
        subscriber.receive(SETTLE)
        flood = f"{FLOOD_TOPICS:,} subscriptions on one connection"
    except OSError as exc:  # the kernel cut the flooding connection: a fine defence
        flood = f"the kernel closed the connection after {subscribed:,} subscriptions ({exc})"
    try:
        problems = _survives(ctx)
        if ctx.peer.idle_grace() > 1:  # a kernel that publishes status: it must still reach us
            sent = ctx.peer.send("shell", "kernel_info_request", {})
            # Bounded by the full timeout: the welcomes of the flood may be queued before it.
            if not ctx.peer.wait(lambda: ctx.peer.is_idle_after(sent.msg_id), ctx.peer.timeout):
                problems.append("our subscriber stopped receiving IOPub")
    finally:
        subscriber.close()
    memory = _rss_change(rss_before, _rss_kb(ctx.pid))
    ctx.verdict(
        name,
        problems,
        f"{flood}; still answers and publishes{memory}",
    )


def check_connection_file(ctx: CheckContext) -> None:
    name = "security.connection_file"
    if ctx.wrote_connection_file:
        ctx.unsupported(
            name,
            "the checker wrote it (0600); check a file the kernel or its "
            "launcher wrote with --existing",
        )
        return
    try:
        mode = stat.S_IMODE(os.stat(ctx.connection_file).st_mode)
    except OSError as exc:
        ctx.failed(name, f"cannot stat {ctx.connection_file}: {exc}")
        return
    if mode & 0o077:
        ctx.failed(name, f"mode {mode:04o}: group or others may read the key")
    else:
        ctx.passed(name, f"mode {mode:04o}, owner only")


def check_bind_address(ctx: CheckContext) -> None:
    name = "security.bind_address"
    if ctx.info.get("transport", "tcp") != "tcp":
        ctx.unsupported(name, "ipc transport: no network sockets")
        return
    found = netstat.listeners()
    if found is None:
        ctx.unsupported(name, "/proc/net/tcp is not readable here")
        return
    wanted = str(ctx.info["ip"])
    problems = []
    for field in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        port = int(ctx.info[field])
        bound = [entry.ip for entry in found if entry.port == port]
        if not bound:
            problems.append(f"{field} {port}: nothing listens")
        elif wanted not in ("0.0.0.0", "*", "::") and not all(
            netstat.same_address(ip, wanted) for ip in bound
        ):
            problems.append(f"{field} {port} listens on {', '.join(bound)}")
    extra = ""
    if ctx.pid is not None:
        inodes = netstat.socket_inodes(ctx.pid)
        ports = {int(ctx.info[f]) for f in ctx.info if f.endswith("_port")}
        others = [entry for entry in found if entry.inode in inodes and entry.port not in ports]
        if wanted not in ("0.0.0.0", "*", "::"):
            problems += [
                f"also listens on {e.ip}:{e.port}"
                for e in others
                if not netstat.same_address(e.ip, wanted)
            ]
        listed = ", ".join(str(entry.port) for entry in others)
        extra = f"; pid {ctx.pid} also listens on port {listed}, same address" if others else ""
    ctx.verdict(name, problems, f"all five ports listen on {wanted} only{extra}")
