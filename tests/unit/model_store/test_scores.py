"""model_store.scores.most_frequent_mistake: which confusion-matrix cell the Train page opens first."""

from __future__ import annotations

import numpy as np

from model_store.scores import confusion_matrix, most_frequent_mistake


def test_the_largest_cell_off_the_diagonal_is_the_most_frequent_mistake():
    matrix = np.diag([90, 80, 70])
    matrix[2, 0], matrix[1, 2] = 4, 9
    assert most_frequent_mistake(matrix) == (1, 2)  # 1 predicted as 2, nine times; the diagonal's 90 is no mistake


def test_a_tie_goes_to_the_first_cell_in_reading_order():
    matrix = np.array([[5, 0, 3], [3, 5, 0], [0, 0, 5]])
    assert most_frequent_mistake(matrix) == (0, 2)


def test_no_mistake_is_none():
    assert most_frequent_mistake(np.diag([10, 10, 10])) is None
    assert most_frequent_mistake(np.zeros((10, 10), np.int64)) is None


def test_it_reads_a_matrix_made_from_predictions():
    true = np.array([3, 3, 3, 5, 5, 8])
    predicted = np.array([5, 5, 3, 3, 5, 8])
    assert most_frequent_mistake(confusion_matrix(true, predicted)) == (3, 5)
    assert most_frequent_mistake(confusion_matrix(true, predicted).tolist()) == (3, 5)  # a list, as metadata holds it
