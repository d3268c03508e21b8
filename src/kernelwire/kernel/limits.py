"""How much a peer may make the kernel hold: message sizes, queue depths, subscriptions.

Any local process that can reach the kernel's ports can send to them, key or not: a
message is only checked for its signature once the kernel has received all of it. These
limits are enforced by ZeroMQ before that (``ZMQ_MAXMSGSIZE``: a peer sending a bigger
frame is disconnected; ``ZMQ_RCVHWM``: a connection whose queue is full is not read from
until the kernel catches up), and by the IOPub thread for subscriptions.

What ZeroMQ can bound: each frame (``*_max_message_bytes``) and the number of complete
messages queued per connection (``*_rcvhwm``). So a channel holds at most about
``rcvhwm * frames per message * max_message_bytes`` per connection. ZeroMQ has no limit
on the number of frames of one message: a peer that streams frames without ever ending the
message is bounded by nothing in libzmq 4.3.

Set them from the environment with ``KERNELWIRE_LIMITS="name=value,name=value"`` (the
field names below; sizes in bytes), read by ``python -m kernelwire.kernel``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_VAR = "KERNELWIRE_LIMITS"

MiB = 1024 * 1024
#: ZMQ_MAXMSGSIZE also caps the handshake's READY command (socket type, routing id and
#: any metadata the peer adds): below this, ordinary peers could not connect.
MIN_MAX_MESSAGE_BYTES = 1024


@dataclass(frozen=True)
class KernelLimits:
    """Per-channel caps; the defaults leave room for real use (large comm buffers on shell)."""

    #: Longest IOPub subscription topic. Clients subscribe to ``b""`` or short prefixes
    #: such as ``kernel.<session>.``; a longer one closes the connection (at the transport,
    #: before it is stored, when it is longer than this plus 10 bytes and 1024 bytes).
    max_topic_bytes: int = 1024
    #: Subscribe requests one IOPub connection may make; the one after is refused (no
    #: welcome) and the connection is closed, which is the only way to make libzmq forget
    #: the subscriptions it stored for that connection.
    max_subscriptions_per_peer: int = 64
    #: Largest frame on shell: requests and comm messages, whose buffers can be big.
    shell_max_message_bytes: int = 256 * MiB
    #: Shell requests queued per connection while a cell runs (libzmq's default; requests
    #: beyond it wait in the client, so a stop_on_error abort sees at most this many).
    shell_rcvhwm: int = 1000
    #: Largest frame on control: only small requests (shutdown, interrupt, kernel_info).
    control_max_message_bytes: int = 1 * MiB
    control_rcvhwm: int = 100
    #: Largest frame on stdin: input replies carry one line typed by a person.
    stdin_max_message_bytes: int = 1 * MiB
    #: Stdin messages queued per connection while a cell runs; read and discarded whenever
    #: no ``input()`` waits and the kernel is idle.
    stdin_rcvhwm: int = 10
    #: IOPub messages queued per subscriber connection (ZeroMQ's send high-water mark).
    #: When a subscriber has this many unread, the kernel waits for it to read (up to
    #: ``iopub_stall_ms``) rather than lose them, as PUB sockets would. A larger value lets
    #: the kernel run further ahead of slow subscribers, and lets a subscriber that stops
    #: reading make the kernel hold that many of its messages.
    iopub_sndhwm: int = 1000
    #: Bytes of IOPub messages published but not yet handed to ZeroMQ; a thread publishing
    #: more waits until the IOPub thread has taken them (flush and stop never wait). So a
    #: flood of output runs at the speed of the slowest subscriber that keeps reading, as a
    #: program writing to a terminal does, and the kernel holds at most about twice this
    #: (plus one message) besides the ``iopub_sndhwm`` messages per subscriber. In bytes,
    #: not messages: one message may be a line of text or a large image. Small, as a
    #: client that lags makes the kernel hold it: a batch of this size is already thousands
    #: of messages of text, plenty for sending in bulk.
    iopub_queue_bytes: int = 1 * MiB
    #: Milliseconds the IOPub thread waits for a subscriber whose ``iopub_sndhwm`` messages
    #: are all unread before it sends the message anyway, lost for that subscriber (which
    #: ZeroMQ then skips until it reads again): a subscriber that stopped reading (hung, or
    #: a hostile peer) stalls the kernel's output this long, not for good; then ...
    iopub_stall_ms: int = 2000
    #: ... for this many milliseconds IOPub drops messages for every subscriber that has no
    #: room for them, without waiting, before it waits for slow subscribers again: so a
    #: subscriber reading in spurts costs at most one stall of ``iopub_stall_ms`` per period.
    iopub_drop_ms: int = 10_000
    #: Subshells (JEP 91) that may exist at once; each is a thread. Creating one more is
    #: answered with an error. 0: no subshells, and the main thread reads the shell socket
    #: itself (no router thread: a shorter round trip).
    max_subshells: int = 32

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name == "max_subshells" else 1
            if type(value) is not int or value < minimum:
                raise ValueError(
                    f"kernel limit {field.name} must be an int of at least {minimum}, not {value!r}"
                )
            if field.name.endswith("_max_message_bytes") and value < MIN_MAX_MESSAGE_BYTES:
                raise ValueError(
                    f"kernel limit {field.name} must be at least {MIN_MAX_MESSAGE_BYTES} "
                    "(the connection handshake needs it)"
                )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KernelLimits:
        """The defaults, overridden by ``KERNELWIRE_LIMITS`` (``name=value,...``)."""
        text = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
        if not text:
            return cls()
        names = {field.name for field in dataclasses.fields(cls)}
        values: dict[str, int] = {}
        for item in text.split(","):
            name, sep, value = (part.strip() for part in item.partition("="))
            if not sep or name not in names:
                raise ValueError(
                    f"{ENV_VAR}: {item.strip()!r} is not name=value with a name among "
                    f"{', '.join(sorted(names))}"
                )
            try:
                values[name] = int(value)
            except ValueError:
                raise ValueError(f"{ENV_VAR}: {name} must be an integer, not {value!r}") from None
        return cls(**values)
