"""What several benchmarks share: the machine's load, and splitting the CPUs between a
server process and the client process.

The benchmarks import it as a sibling module (``python benchmarks/x.py`` puts this folder
first on ``sys.path``, and a spawned child inherits it).
"""

from __future__ import annotations

import os
from pathlib import Path


def loadavg() -> str:
    """The machine's load averages (1, 5, 15 minutes), or ``"?"`` off Linux: the machine
    is shared, so every table notes them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


class CpuSplit:
    """The last CPU for a server process, the others for this one, when ``pin`` and the
    machine has two or more (else nothing is pinned): the server's CPU and collector stay
    out of the client's figures, as a remote service's would."""

    def __init__(self, pin: bool) -> None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.original = set(cpus)
        self.pinned = pin and len(cpus) >= 2
        #: The server's CPU, to pass to the child (``None``: not pinned).
        self.server_cpu: int | None = cpus[-1] if self.pinned else None
        self.client_cpus: set[int] | None = set(cpus[:-1]) if self.pinned else None

    def pin_client(self) -> None:
        """Keep this process off the server's CPU."""
        if self.client_cpus:
            os.sched_setaffinity(0, self.client_cpus)

    def restore(self) -> None:
        """Give this process every CPU it had."""
        if self.pinned:
            os.sched_setaffinity(0, self.original)

    def describe(self, server: str = "server") -> str:
        """Where the server and the client run, for a table's header."""
        if not self.pinned:
            return f"{server} in its own process, not pinned"
        return f"{server} in its own process on CPU {self.server_cpu}, client on {self.client_cpus}"


def pin_this_process(cpu: int | None) -> None:
    """In a server child: run on ``cpu`` only (``None``: anywhere)."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
