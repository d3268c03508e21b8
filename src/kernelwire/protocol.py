"""Protocol rules shared by kernelwire's clients, its reference kernel and its CLI.

Sans-IO: plain values only, no sockets, so the client, the kernel and the command line
agree on them by importing them from one place.
"""

from __future__ import annotations

#: The ``input_reply`` value meaning "no more input" (the frontend's stdin is at end of
#: file, or its user pressed Ctrl-D): ipython-style kernels raise ``EOFError`` in the
#: ``input()`` call that asked, as plain Python does at end of input.
EOF_INPUT = "\x04"

__all__ = ["EOF_INPUT"]
