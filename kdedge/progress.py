"""Progress bars and status lines, passed explicitly to the stages that report (no global console)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

logger = logging.getLogger("kdedge")


class Reporter:
    """Where a run tells the user what it is doing. `Reporter(quiet=True)` prints nothing; every step and
    note also goes to the `kdedge` logger (INFO), quiet or not. With a `tracker`
    (kdedge.tracking.Tracker), `log` also records metrics for TensorBoard and the like."""

    def __init__(self, console: Console | None = None, quiet: bool = False, tracker=None):
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.tracker = tracker

    def log(self, values: dict, step: int | None = None) -> None:
        """Record metrics with the experiment tracker, if there is one (`--log-with`)."""
        if self.tracker is not None:
            self.tracker.log(values, step)

    def step(self, message: str) -> None:
        logger.info(Text.from_markup(message).plain)
        if not self.quiet:
            self.console.print(f"[bold cyan]●[/] {message}")

    def note(self, message: str) -> None:
        logger.info("  " + Text.from_markup(message).plain)
        if not self.quiet:
            self.console.print(f"  [dim]{message}[/]")

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator["Task"]:
        if self.quiet:
            yield Task(None, None)
            return
        bar = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
        )
        with bar:
            yield Task(bar, bar.add_task(description, total=total, info=""))


class Task:
    def __init__(self, bar: Progress | None, task_id):
        self._bar, self._id = bar, task_id

    def advance(self, amount: int = 1, info: str | None = None) -> None:
        if self._bar is not None:
            self._bar.update(self._id, advance=amount, **({"info": info} if info is not None else {}))
