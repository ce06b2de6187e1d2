"""Probability bars as a small piece of HTML: one row per class, its name, a bar and the percentage.

A pick on the Fashion page redraws them, so they must be cheap for the browser: no chart library, no script,
inline styles only (``st.html`` sanitises the markup, and a class name from an uploaded model is escaped). The Draw
page's result panel draws the same bars itself (``app_pages/panel.js``), with the same marks.
"""

from __future__ import annotations

import html

import numpy as np

from model_store.panel import percent  # also the result panel's: one honest rounding

PREDICTED, OTHER, TRUE = "#4fc3f7", "#5c6b7a", "#ffb74d"


def probability_html(probabilities, names: list[str], true_label: int | None = None, large: bool = False,
                     key: str = "probabilities") -> str:
    """The bars for ``probabilities`` (one per name); the predicted class is blue, a missed true class orange (and
    marked ``data-mark='predicted'`` / ``'true'`` for tests)."""
    p = np.asarray(probabilities, dtype=float).ravel()
    if len(p) != len(names):
        raise ValueError(f"{len(p)} probabilities for {len(names)} class names")
    predicted = int(np.argmax(p))
    row_height, font = (34, 1.35) if large else (22, 0.9)
    rows = []
    for i, (name, value) in enumerate(zip(names, p)):
        mark = "predicted" if i == predicted else "true" if i == true_label else None
        colour = {"predicted": PREDICTED, "true": TRUE}.get(mark, OTHER)
        marked = f" data-mark='{mark}'" if mark else ""
        weight = 700 if i in (predicted, true_label) else 400
        width = max(0.0, min(1.0, value)) * 100
        rows.append(
            f"<div data-class='{i}' data-p='{value:.6f}'{marked} title='{html.escape(str(name))}: {value:.2%}' "
            f"style='display:flex;align-items:center;gap:.5em;height:{row_height}px'>"
            f"<span style='flex:0 0 34%;text-align:right;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;"
            f"font-weight:{weight}'>{html.escape(str(name))}</span>"
            f"<span style='flex:1;height:70%;background:rgba(128,128,128,.12);border-radius:3px'>"
            f"<span style='display:block;height:100%;width:{width:.2f}%;background:{colour};border-radius:3px'></span>"
            f"</span><span style='flex:0 0 3.2em;text-align:right;font-variant-numeric:tabular-nums'>{percent(value)}</span>"
            "</div>"
        )
    return (f"<div data-testid='probabilities' data-key='{html.escape(key)}' data-predicted='{predicted}' "
            f"style='font-size:{font}rem;line-height:1.2;margin:.25rem 0'>" + "".join(rows) + "</div>")
