"""Writing to stdout when its reader may go away (``enlighten-async status | head``)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator

__all__ = ["Reader", "print_lines", "stdout_reader"]


class Reader:
    """Whether the reader of stdout is still there (false once it went away)."""

    gone = False

    def __bool__(self) -> bool:
        return not self.gone


@contextlib.contextmanager
def stdout_reader() -> Iterator[Reader]:
    """Write to stdout inside; a reader that went away ends the block, not the command.

    A closed pipe is not an error: stdout then points at devnull, so that later prints and
    the interpreter's final flush do not complain, and the yielded :class:`Reader` is false.
    """
    reader = Reader()
    try:
        yield reader
        sys.stdout.flush()
    except BrokenPipeError:
        reader.gone = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def print_lines(lines: Iterable[str]) -> bool:
    """Print ``lines`` to stdout; false if its reader went away meanwhile."""
    with stdout_reader() as reader:
        for line in lines:
            print(line)
    return bool(reader)
