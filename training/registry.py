"""The server's trainings: at most ``CONVSCOPE_MAX_TRAININGS`` (default 1) at once, because the CPU cores are shared
by everyone using the server; a start beyond that raises ``Busy``. Finished jobs stay until they are saved or
dismissed (``release``), or until newer finished jobs push them out (``keep_finished``), so that their model's
memory is given back.

A server may be several processes behind a proxy (deploy/replicas.py), each with its own registry. With a
``slot_folder`` (the app passes its model store's folder) the limit holds for all of them: a training holds one of
``max_running`` slots (``model_store.slots``, files in that folder) from its start to its end, in the process that
follows it; the kernel frees the slot when that process dies, with the training process it runs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from model_store import slots
from model_store.refusal import Refusal
from training.data_cache import load_dataset
from training.datasets import Dataset
from training.jobs import TrainingJob, isolated_by_default
from training.trainer import TrainConfig

MAX_ENV = "CONVSCOPE_MAX_TRAININGS"
SLOT_NAME = "training-slot"  # the slot files: .training-slot-0.lock ... in the slot folder
SLOT_WAIT_SECONDS = 0.5  # a slot just being freed, or looked at by another process, is not a busy server
NOTE_SECONDS = 5.0  # how often a held slot's description (preset, epoch) is brought up to date
log = logging.getLogger(__name__)


class Busy(Refusal):
    """The server already runs as many trainings as it may; ``running``: those jobs in this process; ``elsewhere``:
    what the other processes of the server say they train."""

    def __init__(self, running: list[TrainingJob], elsewhere: list[str] = ()):
        described = [job.snapshot().describe() for job in running] + [text or "a training" for text in elsewhere]
        super().__init__("training_busy", trainings="; ".join(described))
        self.running = running
        self.elsewhere = list(elsewhere)


@dataclass
class JobRegistry:
    """The server's trainings: at most ``max_running`` at once, finished ones kept until released."""

    max_running: int | None = None
    keep_finished: int = 2
    isolated: bool | None = None  # trainings in processes of their own (default: CONVSCOPE_TRAINING_PROCESS, on)
    data_loader: Callable[[str], Dataset] = load_dataset
    slot_folder: str | Path | None = None  # shared by the server's processes: the limit holds for all of them
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
        """Start a training, or raise ``Busy`` when ``max_running`` already run, in this process or, with a
        ``slot_folder``, in any process sharing it (``ConfigError`` for bad settings)."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.snapshot().active]
            if len(running) >= self.max_running:
                raise Busy(running)
            # A test's own data loader can only run in this process.
            isolated = bool(self.isolated) and self.data_loader is load_dataset
            job = TrainingJob(config, owner=owner, data_loader=self.data_loader, isolated=isolated)
            slot = self._take_slot(running)
            try:
                self._jobs[job.id] = job
                self._evict()
                job.start()
                if slot is not None:
                    _hold_until_done(slot, job)
            except BaseException:
                if slot is not None:
                    slot.release()
                raise
        return job

    def _slot_files(self) -> list[Path]:
        return slots.slot_files(self.slot_folder, SLOT_NAME, self.max_running)

    def _take_slot(self, running: list[TrainingJob]) -> slots.Slot | None:
        """One of the server-wide slots, or ``Busy`` with what the other processes train; None without a slot
        folder, or when its files cannot be made (then the limit holds in this process only, and the log says so)."""
        if self.slot_folder is None:
            return None
        try:
            slot = slots.take(self._slot_files(), SLOT_WAIT_SECONDS)
        except OSError as exc:
            log.warning("training slots in %s cannot be used (%s): the training limit holds in this process only",
                        self.slot_folder, exc)
            return None
        if slot is None:
            raise Busy(running, self.elsewhere())
        return slot

    def elsewhere(self) -> list[str]:
        """What the trainings that other processes of the server run say of themselves (their preset, dataset and
        epoch, as ``Snapshot.describe``); empty without a slot folder."""
        if self.slot_folder is None:
            return []
        said = []
        for text in slots.holders(self._slot_files()):
            try:
                holder = json.loads(text)
            except ValueError:
                holder = {}
            if not isinstance(holder, dict):
                holder = {}
            if holder.get("pid") != os.getpid():
                said.append(str(holder.get("training", "")))
        return said

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
        """No training can start now: ``max_running`` run here or, with a slot folder, in the server's processes."""
        if len(self.running()) >= self.max_running:
            return True
        if self.slot_folder is None:
            return False
        try:
            return len(slots.holders(self._slot_files())) >= self.max_running
        except OSError:
            return False

    def release(self, job_id: str) -> None:
        """Forget a finished job and its model (after it was saved or dismissed). A running job is stopped first."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            return
        if job.snapshot().active:
            job.request_stop()
        job.discard()


def _hold_until_done(slot: slots.Slot, job: TrainingJob) -> None:
    """Keep ``slot`` while ``job`` runs, its description up to date for those it refuses, and free it at the end."""
    def describe() -> None:
        slot.describe(json.dumps({"pid": os.getpid(), "job": job.id, "training": job.snapshot().describe()}))

    def hold() -> None:
        try:
            while not job.wait(NOTE_SECONDS):
                describe()
        finally:
            slot.release()

    describe()
    threading.Thread(target=hold, daemon=True, name=f"training slot {job.id}").start()
