"""The core is sans-IO: importable and usable with neither zmq nor traitlets loaded."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_core_round_trip_without_zmq_or_traitlets() -> None:
    # A fresh interpreter that makes zmq and traitlets unimportable, then uses the core.
    script = textwrap.dedent(
        """
        import sys
        for banned in ("zmq", "traitlets", "tornado"):
            sys.modules[banned] = None  # any import of them now raises ImportError

        import kernelwire
        from kernelwire.message import msg_header, new_id
        from kernelwire.signing import Signer
        from kernelwire.wire import Codec, feed_identities

        sender = Codec(Signer(b"secret-key"))
        receiver = Codec(Signer(b"secret-key"))
        header = msg_header(new_id(), "execute_request", "user", "session-1")
        msg = {"header": header, "parent_header": {}, "metadata": {}, "content": {"code": "1"}}
        frames = sender.serialize(msg, ident=[b"route"]) + [b"buffer"]
        identities, rest = feed_identities(frames)
        received = receiver.deserialize(rest)
        assert identities == [b"route"], identities
        assert received["content"] == {"code": "1"}, received
        assert received["header"]["date"] == header["date"]
        assert bytes(received["buffers"][0]) == b"buffer"
        loaded = sorted(m for m in ("zmq", "traitlets", "tornado") if sys.modules.get(m))
        print("loaded:", loaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "loaded: []"
