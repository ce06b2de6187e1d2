"""training.evaluate: confusion matrix, accuracy and loss on a test split, for image and flat (784) models."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from model_store.scores import confusion_matrix, predict_probabilities
from training.datasets import CLASS_NAMES, Split
from training.evaluate import evaluate


class KnownAnswerModel:
    """Duck-typed model: reads the class it 'predicts' from pixel (0, 0) of each image (value = 20 * class)."""

    def __init__(self, flat: bool = False, confidence: float = 0.91):
        self.inputs = [SimpleNamespace(shape=(None, 784) if flat else (None, 28, 28, 1))]
        self.flat, self.confidence, self.batches = flat, confidence, []

    def predict_on_batch(self, x):
        x = np.asarray(x)
        self.batches.append(x.shape)
        first = x[:, 0] if self.flat else x[:, 0, 0, 0]
        predicted = np.rint(first * 255.0 / 20.0).astype(int)
        probs = np.full((len(x), 10), (1.0 - self.confidence) / 9, np.float32)
        probs[np.arange(len(x)), predicted] = self.confidence
        return probs


def split_predicting(predicted, labels) -> Split:
    images = np.zeros((len(labels), 28, 28), np.uint8)
    images[:, 0, 0] = np.asarray(predicted) * 20
    return Split(images, np.asarray(labels, np.uint8))


def test_confusion_matrix_hand_case():
    true = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    expected = np.array([[1, 1, 0],
                         [0, 1, 0],
                         [1, 0, 2]])
    np.testing.assert_array_equal(confusion_matrix(true, predicted, classes=3), expected)


def test_confusion_matrix_repeated_pairs_and_dtypes():
    true = np.array([3, 3, 3, 9], np.uint8)
    predicted = np.array([5, 5, 3, 9], np.int64)
    matrix = confusion_matrix(true, predicted)
    assert matrix.shape == (10, 10) and matrix.dtype == np.int64
    assert matrix[3, 5] == 2 and matrix[3, 3] == 1 and matrix[9, 9] == 1 and matrix.sum() == 4


def test_confusion_matrix_empty():
    assert confusion_matrix(np.array([], int), np.array([], int)).sum() == 0


def test_evaluate_known_answers():
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1]
    predicted = [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 7, 1]  # wrong: 9 -> 0 and one 1 -> 7
    model = KnownAnswerModel(confidence=0.91)
    report = evaluate(model, split_predicting(predicted, labels), CLASS_NAMES["mnist"])
    assert report["count"] == 12
    assert report["accuracy"] == pytest.approx(10 / 12)
    np.testing.assert_array_equal(report["predicted"], predicted)
    matrix = np.array(report["confusion_matrix"])
    assert matrix[9, 0] == 1 and matrix[1, 7] == 1 and matrix[1, 1] == 2 and matrix.sum() == 12
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["accuracy"])
    assert report["per_class_accuracy"]["1"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["per_class_accuracy"]["9"] == 0.0
    assert report["per_class_accuracy"]["0"] == 1.0
    p_wrong = 0.09 / 9  # what the model gives the true class when it is wrong
    expected_loss = -(10 * np.log(0.91) + 2 * np.log(p_wrong)) / 12
    assert report["loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_evaluate_class_without_images_scores_zero_not_nan():
    report = evaluate(KnownAnswerModel(), split_predicting([0, 1], [0, 1]), CLASS_NAMES["fashion-mnist"])
    assert report["per_class_accuracy"]["Ankle boot"] == 0.0
    assert report["per_class_accuracy"]["T-shirt/top"] == 1.0
    assert list(report["per_class_accuracy"]) == CLASS_NAMES["fashion-mnist"]


def test_loss_is_clipped_for_a_certain_wrong_answer():
    report = evaluate(KnownAnswerModel(confidence=1.0), split_predicting([3], [4]), CLASS_NAMES["mnist"])
    assert np.isfinite(report["loss"]) and report["loss"] == pytest.approx(-np.log(1e-7), rel=1e-5)


@pytest.mark.parametrize("flat", [False, True], ids=["image-input", "flat-784"])
def test_predict_probabilities_batches_in_order(flat):
    labels = np.arange(25) % 10
    split = split_predicting(labels, labels)
    model = KnownAnswerModel(flat=flat)
    probs = predict_probabilities(model, split.images, batch_size=7)
    assert probs.shape == (25, 10)
    np.testing.assert_array_equal(probs.argmax(axis=1), labels)
    assert [shape[0] for shape in model.batches] == [7, 7, 7, 4]
    assert model.batches[0][1:] == ((784,) if flat else (28, 28, 1))


def test_predict_probabilities_scales_to_0_1():
    seen = {}

    class Spy(KnownAnswerModel):
        def predict_on_batch(self, x):
            seen["min"], seen["max"], seen["dtype"] = float(x.min()), float(x.max()), x.dtype
            return super().predict_on_batch(x)

    images = np.zeros((2, 28, 28), np.uint8)
    images[0, 5, 5] = 255
    predict_probabilities(Spy(), images)
    assert seen == {"min": 0.0, "max": 1.0, "dtype": np.float32}


def test_predict_probabilities_no_images():
    assert predict_probabilities(KnownAnswerModel(), np.zeros((0, 28, 28), np.uint8)).shape == (0, 10)


def test_evaluate_a_real_keras_model(tiny_model, test_split):
    report = evaluate(tiny_model, test_split, CLASS_NAMES["mnist"])
    x = test_split.images.astype(np.float32)[..., None] / 255.0
    probs = np.asarray(tiny_model(x))
    expected_predicted = probs.argmax(axis=1)
    np.testing.assert_array_equal(report["predicted"], expected_predicted)
    assert report["accuracy"] == pytest.approx(float((expected_predicted == test_split.labels).mean()))
    matrix = np.array(report["confusion_matrix"])
    assert matrix.sum() == len(test_split.labels)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["accuracy"])
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(test_split.labels, minlength=10))
    expected_loss = -np.log(np.clip(probs[np.arange(len(probs)), test_split.labels], 1e-7, 1)).mean()
    assert report["loss"] == pytest.approx(float(expected_loss), rel=1e-4)


def test_evaluate_a_flat_keras_model(test_split):
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    report = evaluate(model, test_split, CLASS_NAMES["mnist"])
    probs = np.asarray(model(test_split.images.reshape(-1, 784).astype(np.float32) / 255.0))
    np.testing.assert_array_equal(report["predicted"], probs.argmax(axis=1))
