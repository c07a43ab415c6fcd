"""A dependency-free progress bar (tqdm is not a project dependency).

On a terminal it redraws one line; in a log file it prints a line every ``every`` updates,
so a background training log stays readable with ``tail -f``."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``with Progress(total, "train") as bar: bar.update(1, loss=0.3)``."""

    def __init__(
        self, total: int, desc: str = "", start: int = 0, every: int = 20, stream: TextIO | None = None
    ) -> None:
        self.total, self.desc, self.n = total, desc, start
        self.start_n = start
        self.every = every
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.monotonic()
        self.info: dict[str, float] = {}

    def update(self, k: int = 1, **info: float) -> None:
        crossed = (self.n + k) // self.every > self.n // self.every  # updates may skip steps
        self.n += k
        self.info.update(info)
        if self.tty or crossed or self.n >= self.total:
            self._draw()

    def _draw(self) -> None:
        elapsed_s = time.monotonic() - self.t0
        rate = (self.n - self.start_n) / elapsed_s if elapsed_s > 0 else 0.0
        eta_s = (self.total - self.n) / rate if rate > 0 else float("nan")
        frac = self.n / self.total if self.total else 1.0
        bar = "#" * int(frac * 20)
        extra = " ".join(f"{k}={v:.4g}" for k, v in self.info.items())
        line = (
            f"{self.desc} [{bar:<20}] {self.n}/{self.total} {elapsed_s:.0f}s "
            f"eta {eta_s:.0f}s {rate:.2f} it/s {extra}"
        )
        if self.tty:
            self.stream.write("\r" + line[:150])
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
