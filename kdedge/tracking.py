"""Experiment tracking: a run's losses, learning rates, dev metrics and final table, sent to the trackers
that `accelerate` supports (tensorboard, wandb, mlflow, comet_ml, aim, clearml, dvclive, swanlab, trackio).

Off by default; `kdedge compress --log-with tensorboard` (or `kdedge.compress(log_with=...)`) turns it
on. The tracker travels with the `Reporter` that every stage already receives, so a stage logs with
`reporter.log({...}, step)` and logs nothing when no tracker is set. TensorBoard writes event files
under `--logging-dir` (default: RUN_DIR/logs) and needs no network.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from kdedge.errors import ConfigError


def known_trackers() -> list[str]:
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    return sorted(LOGGER_TYPE_TO_CLASS)


class Tracker:
    """One or more accelerate trackers started for one run; `log` sends to each of them."""

    def __init__(self, names: Sequence[str], logging_dir: Path, run_name: str, config: dict | None = None):
        from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers

        available = {str(getattr(kind, "value", kind)) for kind in get_available_trackers()}
        self.names, self.logging_dir, self._trackers = list(names), Path(logging_dir), []
        for name in self.names:
            if name not in LOGGER_TYPE_TO_CLASS:
                raise ConfigError(f"unknown tracker {name!r} for --log-with",
                                  hint=f"known: {', '.join(known_trackers())}")
            if name not in available:
                raise ConfigError(f"--log-with {name}: the {name} package is not installed",
                                  hint=f"pip install {name.replace('_', '-')} (or use another tracker)")
        self.logging_dir.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            kind = LOGGER_TYPE_TO_CLASS[name]
            parameters = inspect.signature(kind.__init__).parameters
            options = {"logging_dir": str(self.logging_dir)} if "logging_dir" in parameters else {}
            tracker = kind(run_name, **options)
            tracker.start()
            if config:
                tracker.store_init_configuration(_hyperparameters(config))
            self._trackers.append(tracker)

    def log(self, values: dict, step: int | None = None) -> None:
        for tracker in self._trackers:
            tracker.log(values, step=step)

    def finish(self) -> None:
        for tracker in self._trackers:
            tracker.finish()
        self._trackers = []


@contextmanager
def tracking(log_with: str | Sequence[str] | None, logging_dir: Path, run_name: str,
             config: dict | None = None) -> Iterator[Tracker | None]:
    """A started Tracker for `log_with` (a name, comma-separated names or a list), finished on exit; None
    when `log_with` is empty."""
    names = [part.strip() for part in (log_with.split(",") if isinstance(log_with, str) else log_with or [])]
    names = [name for name in names if name]
    if not names:
        yield None
        return
    tracker = Tracker(names, logging_dir, run_name, config)
    try:
        yield tracker
    finally:
        tracker.finish()


def _hyperparameters(config: dict, prefix: str = "") -> dict:
    """A recipe flattened to `section.field` keys with the scalar types trackers accept."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_hyperparameters(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)) or value is None:
            flat[name] = value if value is not None else "none"
        else:
            flat[name] = str(value)
    return flat
