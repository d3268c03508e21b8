"""Which process's end means the kernel must end too.

A kernel whose launcher died (SIGKILL, a crash, a closed terminal) serves nobody; left
running it is an orphan that may burn CPU for ever. Jupyter's convention is that the
launcher puts its pid in ``JPY_PARENT_PID`` (jupyter_client does, unless it starts an
independent kernel, and so does kernelwire's launcher). ipykernel watches that pid only
when it is set and exits when its parent changes; when the variable names a process other
than its parent, it waits for its parent to become pid 1 instead.

The reference kernel watches more, because launchers without the convention exist
(plain ``subprocess`` scripts, test harnesses) and orphans are not always re-parented to
pid 1 (a subreaper such as ``systemd --user`` or tini may adopt them):

- its parent at start (unless that is pid 1, which never goes away): the kernel ends when
  its parent pid changes, i.e. when it has been re-parented, to whatever process;
- the process named by ``JPY_PARENT_PID`` when that is not the parent (the kernel was
  started through a wrapper, or the variable was inherited from an ancestor): the kernel
  ends when no process has that pid any more.

POSIX only: on Windows, ``JPY_PARENT_PID`` holds a handle, not a pid, parents are never
re-parented, and ``os.kill(pid, 0)`` would terminate the process it names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

#: Seconds between two checks: a cheap system call each, and an orphan lives at most this.
WATCH_INTERVAL = 1.0
#: Seconds user code gets, after the interrupt, to stop before the process is ended.
EXIT_GRACE = 5.0
#: Linux: process states are readable, so an unreaped (zombie) launcher counts as gone.
_HAS_PROC = os.path.isdir("/proc/self")


@dataclass(frozen=True)
class LauncherWatch:
    """The processes whose end ends the kernel (see the module docstring)."""

    parent_pid: int | None
    named_pid: int | None

    @classmethod
    def for_process(cls, environ: Mapping[str, str], parent_pid: int) -> LauncherWatch | None:
        """What to watch for a kernel whose parent at start is ``parent_pid``, given its
        environment; None when there is nothing to watch."""
        if os.name != "posix":
            return None
        value = environ.get("JPY_PARENT_PID", "").strip()
        named = int(value) if value.isdigit() else 0
        watch = cls(
            parent_pid=parent_pid if parent_pid > 1 else None,
            named_pid=named if named > 1 and named != parent_pid else None,
        )
        return watch if watch.parent_pid or watch.named_pid else None

    def gone(self) -> str | None:
        """Why the kernel must end now, or None while its launcher lives."""
        if self.parent_pid is not None:
            now = os.getppid()
            if now != self.parent_pid:
                return f"parent process {self.parent_pid} is gone (parent is now {now})"
        if self.named_pid is not None and not _exists(self.named_pid):
            return f"launcher process {self.named_pid} (JPY_PARENT_PID) is gone"
        return None


def _exists(pid: int) -> bool:
    """Whether process ``pid`` runs. A dead launcher its own parent has not reaped yet is a
    zombie, which ``kill(pid, 0)`` still finds: where /proc tells, a zombie is gone."""
    if _HAS_PROC:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[:1]
        except FileNotFoundError:
            return False
        except OSError:  # unreadable: it exists
            return True
        return state not in ([b"Z"], [b"X"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True
