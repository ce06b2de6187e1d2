"""How well a model does on a labelled test set: accuracy, loss, per-class accuracy, confusion matrix.

Here rather than in ``training`` because an upload is scored too, in the process that opens it.
"""

from __future__ import annotations

import numpy as np

from model_store.model_input import shaped, to_float


def predict_probabilities(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class probabilities for many uint8 images, in batches (one compiled call per batch)."""
    x = shaped(to_float(images), model.inputs[0].shape[1:])
    return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + batch_size]))
                           for i in range(0, len(x), batch_size)]) if len(x) else np.zeros((0, 10), np.float32)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def summarize(probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, loss, per-class accuracy and confusion matrix from already computed probabilities."""
    predicted = probs.argmax(axis=1)
    labels = labels.astype(np.int64)
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    matrix = confusion_matrix(labels, predicted, len(class_names))
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "loss": float(-np.log(picked).mean()),
        "count": int(len(labels)),
        "per_class_accuracy": {name: round(float(a), 4) for name, a in zip(class_names, per_class)},
        "confusion_matrix": matrix.tolist(),
        "predicted": predicted,
    }


def score(model, images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    return summarize(predict_probabilities(model, images), labels, class_names)


def most_frequent_mistake(matrix: np.ndarray) -> tuple[int, int] | None:
    """(true, predicted) of the confusion matrix's largest cell off the diagonal, the first in reading order on a tie;
    None when there is no mistake."""
    matrix = np.asarray(matrix)
    off = matrix - np.diag(np.diag(matrix))
    if not off.any():
        return None
    true, predicted = np.unravel_index(int(off.argmax()), off.shape)
    return int(true), int(predicted)
