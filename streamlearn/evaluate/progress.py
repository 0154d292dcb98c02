"""A small progress bar for evaluation runs (no dependency).

It is a :func:`~streamlearn.evaluate.prequential.prequential` progress callback writing to a
text stream given by the caller (the CLI gives ``sys.stderr``). On a terminal it redraws one
line in place; elsewhere (logs, CI) it writes a plain line at most every ``log_every`` seconds
and at the end.

Examples
--------
>>> import io
>>> from streamlearn.evaluate.prequential import ProgressInfo
>>> out = io.StringIO()
>>> bar = ProgressBar(out)
>>> bar(ProgressInfo("br-ht", "yeast", 2417, 2417, 2.0, 2.5, 0.61234, True))
>>> print(out.getvalue().strip())
br-ht on yeast  2,417/2,417 [########################] 100%  1,208 inst/s  micro-F1 0.6123  2.5s

"""

from __future__ import annotations

import time
from typing import TextIO

from streamlearn.evaluate.prequential import ProgressInfo

__all__ = ["ProgressBar"]


class ProgressBar:
    """Draw :class:`ProgressInfo` updates on ``stream``.

    Parameters
    ----------
    stream
        Where to write (a terminal redraws in place).
    width
        Characters of the bar itself.
    log_every
        Seconds between two lines when ``stream`` is not a terminal.
    """

    def __init__(self, stream: TextIO, width: int = 24, log_every: float = 5.0) -> None:
        self.stream = stream
        self.width = width
        self.log_every = log_every
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self._last_log = 0.0

    def format(self, info: ProgressInfo) -> str:
        frac = info.instances / info.total if info.total else 1.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        return (
            f"{info.learner} on {info.dataset}  {info.instances:,}/{info.total:,} [{bar}] "
            f"{frac:4.0%}  {info.instances_per_second:,.0f} inst/s  "
            f"micro-F1 {info.micro_f1:.4f}  {info.elapsed:.1f}s"
        )

    def __call__(self, info: ProgressInfo) -> None:
        line = self.format(info)
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if info.done else ""))
        else:
            now = time.monotonic()
            if not info.done and now - self._last_log < self.log_every:
                return
            self._last_log = now
            self.stream.write(line + "\n")
        self.stream.flush()
