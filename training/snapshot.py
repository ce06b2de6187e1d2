"""What a reader sees of a training: a ``Snapshot``, changed only by ``apply_changes``.

A training reports in change records: small dicts of ``Snapshot`` fields and their new values, where a list that
grows (the history, the per-batch curve, the probe maps) gets only its new items, as ``Append``. The same records
are applied in a server thread or after crossing the pipe from a training process, so a page reads the same
snapshots either way, and a record stays small however long the run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from model_store.refusal import Refusal
from training.trainer import TrainConfig

ACTIVE = ("queued", "running")
DONE = ("finished", "stopped", "failed")


@dataclass(frozen=True)
class Append:
    """In a change record: these items go at the end of the field's list."""

    items: list


@dataclass(frozen=True)
class ProbeMaps:
    """The probe image's feature maps after one epoch (epoch 0: the untrained network)."""

    epoch: int
    layers: list[tuple[str, np.ndarray]]  # (Conv2D layer name, maps (h, w, c)) for the first layers


@dataclass(frozen=True)
class Evaluation:
    """The test-set figures of the trained (best) weights."""

    accuracy: float
    loss: float
    confusion: np.ndarray  # (10, 10), rows true, columns predicted
    per_class_accuracy: dict
    predicted: np.ndarray  # (n,) predicted class of every test image
    confidence: np.ndarray  # (n,) probability of the predicted class
    images: np.ndarray  # (n, SIDE, SIDE) uint8 test images (shared, not copied)
    labels: np.ndarray  # (n,) true classes

    def misclassified(self) -> np.ndarray:
        """Indices of the wrong predictions, most confident mistakes first."""
        wrong = np.flatnonzero(self.predicted != self.labels)
        return wrong[np.argsort(-self.confidence[wrong], kind="stable")]

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """Indices of the test images of class ``true`` predicted as ``predicted``."""
        return np.flatnonzero((self.labels == true) & (self.predicted == predicted))


@dataclass(frozen=True)
class Snapshot:
    job_id: str
    config: TrainConfig
    owner: str | None
    status: str  # queued | running | finished | stopped | failed
    phase: str  # loading | training | evaluating | done
    reason: str | None  # finished | early-stopping | stopped | nan | data | error (once done)
    message: str  # details for people (an error's text), may be empty
    started_at: float
    elapsed: float
    epoch: int  # the epoch in progress (or last run), from 1
    epochs: int
    batch: int  # batches done in that epoch
    steps: int  # batches per epoch
    batches_total: int  # batches done since the start, all epochs
    train_size: int
    val_size: int
    epoch_eta: float | None  # seconds left in this epoch
    total_eta: float | None  # seconds left in the whole run (an estimate)
    history: list[dict]  # one dict per finished epoch: loss, accuracy, val_loss, val_accuracy, epoch, seconds
    batch_points: list[tuple[float, float, float]]  # (fractional epoch, running loss, running accuracy)
    probe_image: np.ndarray | None  # (SIDE, SIDE) uint8
    probes: list[ProbeMaps]
    evaluation: Evaluation | None
    best_epoch: int | None
    stop_requested: bool
    saved_as: str | None
    not_savable: tuple[str, dict] | None = None  # why the model can never be saved: a Refusal's code and values
    failure: tuple[str, dict] | None = None  # what ended a run before it trained (no data): a Refusal's code and values
    class_names: list[str] | None = None  # a class dataset's classes (None: the built-in dataset's)
    class_result: dict | None = None  # a class dataset's run: held-out accuracy before and after, MNIST's after

    @classmethod
    def queued(cls, job_id: str, config: TrainConfig, owner: str | None, started_at: float) -> Snapshot:
        """A run that has not begun."""
        return cls(job_id=job_id, config=config, owner=owner, status="queued", phase="loading", reason=None,
                   message="", started_at=started_at, elapsed=0.0, epoch=0, epochs=config.epochs, batch=0, steps=0,
                   batches_total=0, train_size=0, val_size=0, epoch_eta=None, total_eta=None, history=[],
                   batch_points=[], probe_image=None, probes=[], evaluation=None, best_epoch=None,
                   stop_requested=False, saved_as=None)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def can_save(self) -> bool:
        return (self.done and self.epochs_run > 0 and self.reason != "nan" and self.not_savable is None
                and self.saved_as is None)

    @property
    def save_refusal(self) -> Refusal | None:
        """Why this run's model can never be saved (its training went NaN: ``trainer.check_finite``), or None."""
        return Refusal(self.not_savable[0], **self.not_savable[1]) if self.not_savable else None

    @property
    def failure_refusal(self) -> Refusal | None:
        """The refusal that ended the run before it trained (its data could not be read), so pages can say it in
        the user's language; None otherwise."""
        return Refusal(self.failure[0], **self.failure[1]) if self.failure else None

    def describe(self) -> str:
        c = self.config
        what, data = ((c.base_model or c.preset), c.class_data) if hasattr(c, "class_data") else (c.preset, c.dataset)
        return f"{what} on {data}, epoch {max(1, self.epoch)}/{self.epochs} ({self.status})"


def apply_changes(snapshot: Snapshot, changes: dict) -> Snapshot:
    """``snapshot`` with one change record applied: ``Append`` values extend their list, the others replace."""
    values = {key: getattr(snapshot, key) + list(value.items) if isinstance(value, Append) else value
              for key, value in changes.items()}
    return replace(snapshot, **values)


def ending(status: str, reason: str, message: str = "", best_epoch: int | None = None, **changes) -> dict:
    """The change record that ends a run: its status (finished, stopped, failed), the reason and a message."""
    return {"status": status, "reason": reason, "message": message, "phase": "done", "best_epoch": best_epoch,
            "epoch_eta": None, "total_eta": None, **changes}
