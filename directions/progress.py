"""The library's progress callback, `progress(stage, done, total)`: the type the stages take, the silent
default, and its drawing on the terminal (one tqdm bar per stage on stderr), which the command lines of the
library and of the image evaluation both use."""
from __future__ import annotations

import sys
from typing import Callable

from tqdm import tqdm

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def no_progress(_stage: str, _done: int, _total: int) -> None:
    pass


class TerminalProgress:
    """A new bar each time the stage changes, the finished ones left in place; nothing at all when quiet."""

    def __init__(self, quiet: bool = False):
        self.quiet, self.stage, self.bar = quiet, None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, tqdm(desc=f"  {stage}", total=total, file=sys.stderr, dynamic_ncols=True)
        self.bar.total = total
        self.bar.update(done - self.bar.n)  # callers report the running count; tqdm throttles the redraws

    def close(self) -> None:
        """End the current bar's line, before results are printed."""
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None
