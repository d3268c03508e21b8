"""The Signer (HMAC over the four signed frames, any hashlib digest) and the replay
history (bounded, evicts the oldest, thread-safe), directly and through the Session."""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Any

import pytest
import zmq
from jupyter_client import session as jc_session

from kernelwire.errors import DuplicateSignature, InvalidSignature, UnsignedMessage
from kernelwire.session import DELIM, Session
from kernelwire.signing import ReplayHistory, Signer, digest_for_scheme

KEY = b"signing-key-0b5e"
PARTS = [b'{"msg_id":"1","msg_type":"t"}', b"{}", b'{"m":1}', b'{"c":"\xc3\xa9"}']
HASHES = sorted(hashlib.algorithms_guaranteed - {"shake_128", "shake_256"})
THREADS = 8
JOIN_TIMEOUT = 60


def reference_hexdigest(key: bytes, name: str, parts: list[Any]) -> bytes:
    mac = hmac.new(key, digestmod=lambda data=b"": hashlib.new(name, data))
    for part in parts:
        mac.update(part)
    return mac.hexdigest().encode("ascii")


@pytest.mark.parametrize("name", HASHES)
@pytest.mark.parametrize(
    "key", [KEY, b"k" * 300, b"\x00\xff binary key"], ids=["short", "long", "binary"]
)
def test_signature_is_the_hmac_of_the_four_parts(name: str, key: bytes) -> None:
    signer = Signer(key, f"hmac-{name}")
    assert signer.enabled
    assert signer.sign(PARTS) == reference_hexdigest(key, name, PARTS)
    assert signer.sign([*PARTS, b"a buffer"]) == signer.sign(PARTS)
    signer.verify(signer.sign(PARTS), PARTS)


@pytest.mark.parametrize("count", range(4))
def test_fewer_parts_sign_like_jupyter_client(count: int) -> None:
    """Regression: Session.sign of fewer than four parts raised IndexError; jupyter_client
    signs whatever parts it is given."""
    reference = jc_session.Session(key=KEY)
    assert Session(key=KEY).sign(PARTS[:count]) == reference.sign(PARTS[:count])


def test_auth_is_the_keyed_template() -> None:
    signer = Signer(KEY, "hmac-sha512")
    assert signer.auth is not None
    mac = signer.auth.copy()
    for part in PARTS:
        mac.update(part)
    assert mac.hexdigest().encode() == signer.sign(PARTS)
    assert signer.digest_mod is hashlib.sha512


def test_bytes_like_parts_sign_like_bytes() -> None:
    signer = Signer(KEY)
    views = [memoryview(p) for p in PARTS[:2]] + [bytearray(PARTS[2]), zmq.Frame(PARTS[3])]
    assert signer.sign(views) == signer.sign(PARTS)


def test_no_key_no_signing_no_verification() -> None:
    signer = Signer(b"")
    assert not signer.enabled
    assert signer.auth is None
    assert signer.sign(PARTS) == b""
    for signature in (b"", b"garbage"):
        signer.verify(signature, PARTS)


def test_verify_errors() -> None:
    signer = Signer(KEY)
    raised = []
    with pytest.raises(UnsignedMessage) as unsigned:
        signer.verify(b"", PARTS)
    raised.append(unsigned.value)
    with pytest.raises(InvalidSignature, match="3 bytes where hmac-sha256 gives 64") as short:
        signer.verify(b"abc", PARTS)
    raised.append(short.value)
    wrong = signer.sign([*PARTS[:3], b"{}"])
    with pytest.raises(InvalidSignature, match="does not match") as mismatch:
        signer.verify(wrong, PARTS)
    raised.append(mismatch.value)
    with pytest.raises(InvalidSignature) as echoed:
        signer.verify(KEY, PARTS)
    raised.append(echoed.value)
    for error in raised:
        assert KEY.decode() not in f"{error} {error!r}"


@pytest.mark.parametrize(
    "scheme", ["sha256", "hmac-", "hmac-nope", "hmac-shake_128", "HMAC-sha256", None, 5]
)
def test_bad_scheme(scheme: Any) -> None:
    with pytest.raises(ValueError, match="signature_scheme"):
        digest_for_scheme(scheme)


def test_scheme_by_hashlib_name_only() -> None:
    """A hash hashlib offers only through ``new`` still signs (if OpenSSL has one)."""
    extra = sorted(hashlib.algorithms_available - hashlib.algorithms_guaranteed - {"md5-sha1"})
    extra = [name for name in extra if hashlib.new(name).digest_size]
    for name in extra:
        assert Signer(KEY, f"hmac-{name}").sign(PARTS) == reference_hexdigest(KEY, name, PARTS)


# ------------------------------------------------------------------ the replay history


def signatures(count: int, prefix: str = "sig") -> list[bytes]:
    return [f"{prefix}-{i:06d}".encode() for i in range(count)]


def test_bounded_like_jupyter_client() -> None:
    reference = jc_session.Session(key=KEY, digest_history_size=100)
    history = ReplayHistory(100)
    for signature in signatures(101):
        reference._add_digest(signature)
        history.check(signature)
    assert len(history) == len(reference.digest_history) == 91


def test_the_oldest_are_evicted() -> None:
    history = ReplayHistory(100)
    added = signatures(101)
    for signature in added:
        history.check(signature)
    assert list(history) == added[10:]
    assert not any(signature in history for signature in added[:10])
    history.check(added[0])  # forgotten, so accepted again (as the newest)
    assert list(history)[-1] == added[0]


def test_size_zero_remembers_nothing() -> None:
    history = ReplayHistory(0)
    for _ in range(3):
        history.check(b"same")
        history.add(b"same")
    assert len(history) == 0


def test_peek_check_does_not_record() -> None:
    history = ReplayHistory(10)
    history.check(b"s", record=False)
    assert len(history) == 0
    history.check(b"s")
    with pytest.raises(DuplicateSignature):
        history.check(b"s", record=False)


def test_resize() -> None:
    history = ReplayHistory(100, signatures(50))
    history.resize(10)
    assert list(history) == signatures(50)[-10:]
    history.resize(1000)
    history.update(signatures(500, "more"))
    assert len(history) == 510
    history.resize(0)
    assert len(history) == 0
    history.check(b"x")
    assert len(history) == 0


def test_copy_is_independent() -> None:
    history = ReplayHistory(10, [b"a"])
    twin = history.copy()
    twin.add(b"b")
    assert list(history) == [b"a"]
    assert list(twin) == [b"a", b"b"]
    assert twin.maxsize == 10


def _run_threads(target: Any) -> None:
    threads = [threading.Thread(target=target) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive()


def test_each_signature_is_accepted_exactly_once_across_threads() -> None:
    history = ReplayHistory(1 << 16)
    shared = signatures(3000)
    accepted: list[int] = []
    barrier = threading.Barrier(THREADS)

    def worker() -> None:
        mine = 0
        barrier.wait(JOIN_TIMEOUT)
        for signature in shared:
            try:
                history.check(signature)
            except DuplicateSignature:
                continue
            mine += 1
        accepted.append(mine)

    _run_threads(worker)
    assert sum(accepted) == len(shared)
    assert len(history) == len(shared)


def test_eviction_under_concurrency_stays_bounded(busy_switching: None) -> None:
    """Regression: eviction read the history through an iterator made one bytecode
    before it was read, so a thread adding in between raised RuntimeError."""
    errors: list[BaseException] = []
    for _ in range(12):
        history = ReplayHistory(64)
        barrier = threading.Barrier(THREADS)

        def worker(history: ReplayHistory = history, barrier: threading.Barrier = barrier) -> None:
            barrier.wait(JOIN_TIMEOUT)
            name = threading.current_thread().name
            try:
                for signature in signatures(1000, name):
                    history.check(signature)
            except BaseException as exc:
                errors.append(exc)

        _run_threads(worker)
        assert errors == []
        assert len(history) <= 64


# ------------------------------------------------------------------ through the Session


def frames_of(session: Session, count: int) -> list[list[bytes]]:
    lists = []
    for i in range(count):
        frames = session.serialize(session.msg("status", {"i": i}))
        lists.append(frames[frames.index(DELIM) + 1 :])
    return lists


def test_session_history_size_is_configurable() -> None:
    session = Session(key=KEY, digest_history_size=100)
    assert session.digest_history.maxsize == 100
    for frames in frames_of(session, 101):
        session.deserialize(frames)
    assert len(session.digest_history) == 91
    session.digest_history_size = 5
    assert len(session.digest_history) == 5


def test_session_with_no_history_accepts_replays() -> None:
    session = Session(key=KEY, digest_history_size=0)
    (frames,) = frames_of(session, 1)
    session.deserialize(frames)
    session.deserialize(frames)
    assert len(session.digest_history) == 0


def test_add_digest_marks_a_signature_as_seen() -> None:
    session = Session(key=KEY)
    (frames,) = frames_of(session, 1)
    session._add_digest(frames[0])
    assert frames[0] in session.digest_history
    with pytest.raises(DuplicateSignature):
        session.deserialize(frames)


def test_session_deserialize_across_threads_accepts_each_message_once() -> None:
    session = Session(key=KEY)
    messages = frames_of(session, 300)
    outcomes: list[tuple[int, int]] = []
    barrier = threading.Barrier(THREADS)

    def worker() -> None:
        ok = duplicate = 0
        barrier.wait(JOIN_TIMEOUT)
        for frames in messages:
            try:
                session.deserialize(frames)
                ok += 1
            except DuplicateSignature:
                duplicate += 1
        outcomes.append((ok, duplicate))

    _run_threads(worker)
    assert sum(ok for ok, _ in outcomes) == len(messages)
    assert sum(dup for _, dup in outcomes) == len(messages) * (THREADS - 1)


def test_history_discard_and_remove_like_a_set() -> None:
    history = ReplayHistory(10, [b"a", b"b"])
    history.discard(b"a")
    history.discard(b"never-seen")
    history.remove(b"b")
    assert len(history) == 0
    with pytest.raises(KeyError):
        history.remove(b"b")
    history.check(b"a")  # forgotten, so accepted again
    assert b"a" in history
