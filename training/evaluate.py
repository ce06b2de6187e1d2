"""Evaluate a model on a test split: accuracy, loss, per-class accuracy, confusion matrix (``model_store.scores``)."""

from __future__ import annotations

from model_store.scores import score
from training.datasets import Split


def evaluate(model, split: Split, class_names: list[str]) -> dict:
    return score(model, split.images, split.labels, class_names)
