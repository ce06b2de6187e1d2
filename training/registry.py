"""The server's trainings: at most ``CONVSCOPE_MAX_TRAININGS`` (default 1) at once, because the CPU cores are shared
by everyone using the server; a start beyond that raises ``Busy``. Finished jobs stay until they are saved or
dismissed (``release``), or until newer finished jobs push them out (``keep_finished``), so that their model's
memory is given back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from model_store.refusal import Refusal
from training.data_cache import load_dataset
from training.datasets import Dataset
from training.jobs import TrainingJob, isolated_by_default
from training.trainer import TrainConfig

MAX_ENV = "CONVSCOPE_MAX_TRAININGS"


class Busy(Refusal):
    """The server already runs as many trainings as it may; ``running``: those jobs."""

    def __init__(self, running: list[TrainingJob]):
        super().__init__("training_busy", trainings="; ".join(job.snapshot().describe() for job in running))
        self.running = running


@dataclass
class JobRegistry:
    """The server's trainings: at most ``max_running`` at once, finished ones kept until released."""

    max_running: int | None = None
    keep_finished: int = 2
    isolated: bool | None = None  # trainings in processes of their own (default: CONVSCOPE_TRAINING_PROCESS, on)
    data_loader: Callable[[str], Dataset] = load_dataset
    _jobs: dict[str, TrainingJob] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        if self.isolated is None:
            self.isolated = isolated_by_default()
        if self.max_running is None:
            try:
                self.max_running = max(1, int(os.environ.get(MAX_ENV, "1")))
            except ValueError:
                self.max_running = 1

    def start(self, config: TrainConfig, owner: str | None = None) -> TrainingJob:
        """Start a training, or raise ``Busy`` when ``max_running`` already run (``ConfigError`` for bad settings)."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.snapshot().active]
            if len(running) >= self.max_running:
                raise Busy(running)
            # A test's own data loader can only run in this process.
            isolated = bool(self.isolated) and self.data_loader is load_dataset
            job = TrainingJob(config, owner=owner, data_loader=self.data_loader, isolated=isolated)
            self._jobs[job.id] = job
            self._evict()
            return job.start()

    def _evict(self) -> None:
        finished = [j for j in self._jobs.values() if j.snapshot().done]
        finished.sort(key=lambda j: j.snapshot().started_at)
        for job in finished[: max(0, len(finished) - self.keep_finished)]:
            job.discard()
            del self._jobs[job.id]

    def get(self, job_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[TrainingJob]:
        """All jobs held, newest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted(jobs, key=lambda j: j.snapshot().started_at, reverse=True)

    def running(self) -> list[TrainingJob]:
        return [j for j in self.jobs() if j.snapshot().active]

    def busy(self) -> bool:
        return len(self.running()) >= self.max_running

    def release(self, job_id: str) -> None:
        """Forget a finished job and its model (after it was saved or dismissed). A running job is stopped first."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            return
        if job.snapshot().active:
            job.request_stop()
        job.discard()
