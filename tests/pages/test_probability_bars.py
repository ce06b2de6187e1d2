"""The probability bars' HTML: every class in order, the right one marked, names escaped, honest percentages."""

import re

import numpy as np
import pytest

from app_pages import bars

NAMES = [str(i) for i in range(10)]


def rows(markup: str) -> list[tuple[int, float]]:
    return [(int(c), float(p)) for c, p in re.findall(r"data-class='(\d+)' data-p='([0-9.]+)'", markup)]


def marks(markup: str) -> dict[int, str]:
    """class -> how its bar is marked (predicted, true), for the marked rows only."""
    return {int(c): m for c, m in re.findall(r"data-class='(\d+)' data-p='[0-9.]+' data-mark='(\w+)'", markup)}


def test_every_class_in_order_with_its_probability():
    p = np.linspace(1, 10, 10) / 55
    markup = bars.probability_html(p, NAMES)
    assert [c for c, _ in rows(markup)] == list(range(10))
    np.testing.assert_allclose([v for _, v in rows(markup)], p, atol=1e-6)
    assert "data-predicted='9'" in markup
    assert marks(markup) == {9: "predicted"}


def test_a_missed_true_class_is_marked():
    p = np.full(10, 0.05)
    p[3] = 0.55
    markup = bars.probability_html(p, NAMES, true_label=8)
    assert "data-predicted='3'" in markup
    assert marks(markup) == {3: "predicted", 8: "true"}


def test_a_true_class_that_was_predicted_is_marked_once():
    p = np.full(10, 0.05)
    p[3] = 0.55
    assert marks(bars.probability_html(p, NAMES, true_label=3)) == {3: "predicted"}


def test_class_names_are_escaped():
    names = NAMES[:9] + ["<img src=x onerror=alert(1)>"]
    markup = bars.probability_html(np.full(10, 0.1), names)
    assert "<img" not in markup and "&lt;img src=x onerror=alert(1)&gt;" in markup


@pytest.mark.parametrize("p, decimals, text", [
    (0.0, 0, "0%"), (0.004, 0, "<1%"), (0.5, 0, "50%"), (0.996, 0, ">99%"), (1.0, 0, "100%"),
    (0.9999, 1, ">99.9%"), (0.00001, 1, "<0.1%"), (0.4567, 1, "45.7%"),
])
def test_percentages_never_round_to_a_lie(p, decimals, text):
    assert bars.percent(p, decimals) == text


def test_wrong_number_of_names_is_refused():
    with pytest.raises(ValueError, match="10 probabilities for 9 class names"):
        bars.probability_html(np.full(10, 0.1), NAMES[:9])
