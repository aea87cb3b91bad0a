"""A rich progress bar for long sends, on stderr (rich is imported only when one is shown)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

from lakehose.client.hec.result import BatchOutcome, SendResult

OnBatch = Callable[[BatchOutcome, SendResult], None]


class ProgressBar:
    """Events sent, accepted and rejected, as batches finish.

    ``total`` is the number of units to reach: events, or (with ``position`` reporting
    bytes read) the input's size; None shows a pulsing bar. With
    ``delay`` the bar appears only once a send has lasted that many seconds, so short
    sends print nothing.
    """

    def __init__(
        self,
        total: float | None = None,
        *,
        description: str = "sending",
        position: Callable[[], float] | None = None,
        delay: float = 0.0,
        file: IO[str] | None = None,
        force_terminal: bool | None = None,
    ) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.position = position
        self.delay = delay
        self.started_at = time.monotonic()
        self.shown = False
        console = Console(file=file or sys.stderr, force_terminal=force_terminal)
        columns: list[Any] = [
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
        ]
        self.progress = Progress(*columns, console=console, transient=False)
        self.task = self.progress.add_task(description, total=total, counts="")

    def __enter__(self) -> ProgressBar:
        if self.delay <= 0:
            self._show()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.shown:
            if exc is None:
                total = self.progress.tasks[0].total
                if total is not None:
                    self.progress.update(self.task, completed=total)
            self.progress.stop()

    def _show(self) -> None:
        self.shown = True
        self.progress.start()

    def __call__(self, outcome: BatchOutcome, result: SendResult) -> None:
        if not self.shown and time.monotonic() - self.started_at >= self.delay:
            self._show()
        completed = self.position() if self.position is not None else result.sent
        counts = f"{result.sent:,} sent, {result.accepted:,} accepted, {result.rejected:,} rejected"
        self.progress.update(self.task, completed=completed, counts=counts)
