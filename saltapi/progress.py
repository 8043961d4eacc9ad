"""Progress of the long admin commands, on standard error: click's bar on a terminal; elsewhere (a log file, CI,
a pipe, a systemd journal) a line every few seconds and one at the end, so a long job is never silent."""

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

import click

LINE_EVERY_SECONDS = 5.0


class ProgressLines:
    """Counts what is done and writes `label: done of total unit (n %)` at most once every `every` seconds."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        out: TextIO,
        every: float = LINE_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.total, self.unit, self.out, self.every, self.clock = label, total, unit, out, every, clock
        self.done = 0
        self.next_line_at = clock() + every

    def update(self, count: int) -> None:
        self.done += count
        if self.clock() >= self.next_line_at:
            self.write_line()
            self.next_line_at = self.clock() + self.every

    def write_line(self) -> None:
        share = f" ({100 * self.done // self.total} %)" if self.total else ""
        self.out.write(f"{self.label}: {self.done:,} of {self.total:,} {self.unit}{share}\n")
        self.out.flush()


@contextlib.contextmanager
def progress(label: str, total: int, unit: str = "rows") -> Iterator[Callable[[int], None]]:
    """Report the block's progress; the block calls the function it gets with each step's count."""
    out = sys.stderr
    if out.isatty():
        with click.progressbar(length=total, label=label, file=out) as bar:
            yield bar.update
        return
    lines = ProgressLines(label, total, unit, out)
    yield lines.update
    lines.write_line()
