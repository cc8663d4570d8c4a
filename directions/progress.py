"""The library's progress, `progress(stage, done, total)`, drawn on the terminal: one tqdm bar per stage on
stderr. The command lines of the library and of the image evaluation both use it."""
from __future__ import annotations

import sys

from tqdm import tqdm


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
