"""Message authentication: the HMAC Signer and the bounded replay history.

The signature is the lowercase hex HMAC of the four packed frames header, parent_header,
metadata and content, exactly as they travel, in that order; buffers are never signed.
An empty key turns signing and verification off.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from .errors import DuplicateSignature, InvalidSignature, UnsignedMessage

#: The signature scheme when none is configured, as in jupyter_client.
DEFAULT_SCHEME = "hmac-sha256"


def digest_for_scheme(scheme: str) -> Any:
    """Return the hashlib constructor named by ``hmac-<name>``; ValueError if there is none."""
    if not isinstance(scheme, str) or not scheme.startswith("hmac-"):
        raise ValueError(f"signature_scheme must have the form 'hmac-<hash>', got {scheme!r}")
    name = scheme[len("hmac-") :]
    try:
        digest_size = hashlib.new(name).digest_size
    except (ValueError, TypeError):
        raise ValueError(f"signature_scheme {scheme!r}: hashlib has no hash {name!r}") from None
    if not digest_size:  # shake_128/shake_256: HMAC needs a fixed-size digest
        raise ValueError(f"signature_scheme {scheme!r}: {name!r} has no fixed digest size")
    constructor = getattr(hashlib, name, None)
    return constructor if constructor is not None else (lambda data=b"": hashlib.new(name, data))


class Signer:
    """Signs and verifies the four signed frames of a message with one key and scheme.

    The keyed template is built once: the hash states after the inner and outer padded
    keys (RFC 2104), so each message costs two state copies and no re-keying. ``auth``
    keeps the equivalent ``hmac.HMAC`` for code that wants jupyter_client's attribute.
    """

    __slots__ = ("_digest_len", "_inner", "_outer", "_template", "digest_mod", "key", "scheme")

    def __init__(self, key: bytes = b"", scheme: str = DEFAULT_SCHEME) -> None:
        #: The HMAC key; empty when signing is off.
        self.key = bytes(key)
        #: The scheme, ``hmac-<hashlib name>``.
        self.scheme = scheme
        #: The hashlib constructor the scheme names.
        self.digest_mod = digest_for_scheme(scheme)
        self._template: hmac.HMAC | None = None
        self._inner: Any = None
        self._outer: Any = None
        self._digest_len = 0
        if self.key:
            self._template = hmac.new(self.key, digestmod=self.digest_mod)
            self._inner, self._outer = _padded_states(self.key, self.digest_mod)
            self._digest_len = 2 * self._template.digest_size

    @property
    def enabled(self) -> bool:
        """True when there is a key: messages are signed and checked."""
        return self._inner is not None

    @property
    def auth(self) -> hmac.HMAC | None:
        """The keyed HMAC template (``Session.auth`` in jupyter_client), or None."""
        return self._template

    def sign(self, parts: Sequence[Any]) -> bytes:
        """The signature (hex ASCII bytes) of the first four ``parts`` (of all, when there
        are fewer); ``b""`` with no key."""
        if self._inner is None:
            return b""
        try:
            return self._hexdigest(parts[0], parts[1], parts[2], parts[3])
        except IndexError:  # fewer parts: sign what there is, as jupyter_client does
            return self._hexdigest(*parts, *(b"",) * (4 - len(parts)))

    def _hexdigest(self, header: Any, parent: Any, metadata: Any, content: Any) -> bytes:
        inner = self._inner.copy()
        inner.update(header)
        inner.update(parent)
        inner.update(metadata)
        inner.update(content)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest().encode()  # type: ignore[no-any-return]

    def verify(self, signature: bytes, parts: Sequence[Any]) -> None:
        """Raise UnsignedMessage or InvalidSignature unless ``signature`` signs ``parts``.

        The comparison is constant-time. The key never appears in an error message.
        """
        if self._inner is None:
            return
        if not signature:
            raise UnsignedMessage("Unsigned Message: the signature frame is empty")
        # sign()'s computation, inlined: this runs for every received message
        inner = self._inner.copy()
        header, parent, metadata, content = parts
        inner.update(header)
        inner.update(parent)
        inner.update(metadata)
        inner.update(content)
        outer = self._outer.copy()
        outer.update(inner.digest())
        if not hmac.compare_digest(signature, outer.hexdigest().encode()):
            if len(signature) != self._digest_len:
                reason = f"{len(signature)} bytes where {self.scheme} gives {self._digest_len}"
            else:
                reason = f"it does not match the message under {self.scheme}"
            raise InvalidSignature(f"Invalid Signature: {reason}")


def _padded_states(key: bytes, digest_mod: Any) -> tuple[Any, Any]:
    """The hash states after absorbing key XOR ipad and key XOR opad (RFC 2104)."""
    block_size = digest_mod().block_size
    if len(key) > block_size:
        key = digest_mod(key).digest()
    key = key.ljust(block_size, b"\0")
    inner = digest_mod(key.translate(_IPAD))
    outer = digest_mod(key.translate(_OPAD))
    return inner, outer


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))

_DUPLICATE = "Duplicate Signature: this message was already received (a replay?)"


class ReplayHistory:
    """The signatures already accepted, to refuse replays; bounded and thread-safe.

    Insertion order is kept (a dict), so eviction drops the OLDEST entries. When an add
    takes the size over ``maxsize``, about a tenth is evicted at once (at least enough to
    get back to ``maxsize``), which matches jupyter_client's counts (size 100: the 101st
    signature leaves 91) at O(1) amortized cost. ``maxsize == 0`` remembers nothing.
    """

    __slots__ = ("_entries", "_lock", "maxsize")

    def __init__(self, maxsize: int = 1 << 16, entries: Iterable[bytes] = ()) -> None:
        #: How many signatures are remembered at most; 0 remembers none.
        self.maxsize = maxsize
        self._entries: dict[bytes, object] = {}
        self._lock = threading.Lock()
        self.update(entries)

    def check(self, signature: bytes, record: bool = True) -> None:
        """Raise DuplicateSignature if ``signature`` was seen; otherwise remember it if
        ``record``. Checking and recording are one atomic step: ``dict.setdefault`` with a
        fresh marker is atomic, so two threads given the same message cannot both pass."""
        if record and self.maxsize:
            marker = object()
            if self._entries.setdefault(signature, marker) is not marker:
                raise DuplicateSignature(_DUPLICATE)
            if len(self._entries) > self.maxsize:
                with self._lock:
                    if len(self._entries) > self.maxsize:
                        self._evict()
        elif signature in self._entries:
            raise DuplicateSignature(_DUPLICATE)

    def add(self, signature: bytes) -> None:
        """Remember ``signature`` (no duplicate check), evicting the oldest when over size."""
        if not self.maxsize:
            return
        self._entries[signature] = None
        if len(self._entries) > self.maxsize:
            with self._lock:
                if len(self._entries) > self.maxsize:
                    self._evict()

    def discard(self, signature: bytes) -> None:
        """Forget ``signature`` if it is remembered (set-like, as jupyter_client's set)."""
        self._entries.pop(signature, None)

    def remove(self, signature: bytes) -> None:
        """Forget ``signature``; KeyError if it is not remembered."""
        del self._entries[signature]

    def update(self, signatures: Iterable[bytes]) -> None:
        """Remember each of ``signatures``, as ``add`` does."""
        for signature in signatures:
            self.add(signature)

    def _evict(self) -> None:
        current = len(self._entries)
        count = max(current // 10, current - self.maxsize)
        if count >= current:
            self._entries.clear()
            return
        try:
            oldest = list(islice(self._entries, count))
        except RuntimeError:
            # another thread added between making the iterator and reading it (a bytecode
            # boundary); list(dict) makes and reads its iterator in one C call
            oldest = list(self._entries)[:count]
        for signature in oldest:
            self._entries.pop(signature, None)

    def resize(self, maxsize: int) -> None:
        """Change the bound; shrinks at once when needed (0 forgets everything)."""
        with self._lock:
            self.maxsize = maxsize
            if not maxsize:
                self._entries.clear()
            elif len(self._entries) > maxsize:
                self._evict()

    def clear(self) -> None:
        """Forget every signature."""
        with self._lock:
            self._entries.clear()

    def copy(self) -> ReplayHistory:
        """A new history with the same bound and the same signatures, in the same order."""
        with self._lock:
            return ReplayHistory(self.maxsize, list(self._entries))

    def __contains__(self, signature: object) -> bool:
        return signature in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[bytes]:
        with self._lock:
            return iter(list(self._entries))

    def __eq__(self, other: object) -> bool:
        """Equal to another history or a set holding the same signatures (order and bound
        aside): jupyter_client's ``digest_history`` is a set, and code compares it to one."""
        if isinstance(other, ReplayHistory):
            return self._signatures() == other._signatures()
        if isinstance(other, set | frozenset):
            return self._signatures() == other
        return NotImplemented

    def _signatures(self) -> set[bytes]:
        # list(dict) is one C call, so another thread's add cannot break the iteration
        return set(list(self._entries))

    #: Mutable and compared by content, like a set: not hashable.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ReplayHistory {len(self._entries)}/{self.maxsize}>"
