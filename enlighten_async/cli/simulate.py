"""``enlighten-async simulate``: serve the embedded simulator on loopback (the program of
:mod:`enlighten_async.simulator.cli`, with the command's ``-v``)."""

from __future__ import annotations

import argparse

__all__ = ["run"]


def run(args: argparse.Namespace, verbosity: int) -> int:
    """Serve until SIGINT/SIGTERM; the exit status. The simulator configures logging
    itself, from its own ``--log-level``, which ``-v``/``-vv`` replace."""
    from enlighten_async.simulator import cli as sim_cli

    if verbosity:  # a copy: the caller's namespace stays as parsed
        level = "INFO" if verbosity == 1 else "DEBUG"
        args = argparse.Namespace(**{**vars(args), "log_level": level})
    return sim_cli.run(args)
