"""Evaluate a model on a test split: accuracy, loss, per-class accuracy, confusion matrix."""

from __future__ import annotations

from model_store.scores import confusion_matrix, predict_probabilities, score, summarize
from training.datasets import Split


def evaluate(model, split: Split, class_names: list[str]) -> dict:
    return score(model, split.images, split.labels, class_names)


__all__ = ["evaluate", "summarize", "confusion_matrix", "predict_probabilities"]
