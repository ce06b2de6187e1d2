"""A number as the network reads it (``model_store.numbers.NumberReading``): the number large with how sure the model is
of all of it, then every digit, left to right, with its 28x28 model input and its probabilities.

One HTML element, rebuilt with each stroke: the digits' inputs travel inside it as tiny PNG data URLs (no file for the
browser to fetch) and the bars are ``bars.probability_html``'s plain HTML, so a stroke costs the browser one update.
The markers the tests read: ``data-testid='number'`` (its text the number, ``data-input`` a fingerprint of the
digits' inputs), ``number-confidence``, and one ``number-digit`` per digit (``data-class``: its predicted class).
"""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from app_pages import bars
from app_pages.i18n import t
from app_pages.sidebar import presenting
from model_store.numbers import NumberReading
from model_store.panel import LOW_CONFIDENCE, input_id
from model_store.preprocess import to_uint8
from model_store.render import png_data_url

CARD = {False: (150, 84, 2.0), True: (230, 128, 3.0)}  # presenting -> (card width px, input side px, digit rem)


def show(number: NumberReading, names: list[str], key: str = "number") -> None:
    """The number and its digits (``number.status`` must be "ok")."""
    st.html(number_html(number, names, large=presenting(), key=key))


def number_html(number: NumberReading, names: list[str], large: bool = False, key: str = "number") -> str:
    """The whole view as HTML; ``large``: presentation mode (bigger number, inputs and bars)."""
    text = html.escape(number.text(names))  # class names can come from an uploaded model's metadata
    fingerprint = input_id(np.stack([digit.image for digit in number.digits]))
    unsure = t("pred.unsure") if number.confidence < LOW_CONFIDENCE else ""
    cards = "".join(digit_html(i, digit, names, large, key) for i, digit in enumerate(number.digits))
    return (
        f"<div data-testid='number' data-input='{fingerprint}' style='font-size:{7 if large else 4.5}rem;"
        f"font-weight:700;line-height:1.1;letter-spacing:.08em'>{text}</div>"
        f"<div data-testid='number-confidence' style='font-size:{1.4 if large else 1}rem'>"
        f"{html.escape(t('number.confidence', value=bars.percent(number.confidence, 1)))}{html.escape(unsure)}</div>"
        f"<div style='opacity:.7;font-size:.85rem;margin-bottom:.6rem'>{html.escape(t('number.confidence_how'))}</div>"
        f"<div style='display:flex;flex-wrap:wrap;gap:.8rem'>{cards}</div>"
    )


def digit_html(position: int, digit, names: list[str], large: bool, key: str) -> str:
    """One digit's card: its place in the number, its model input, its answer and every class's probability."""
    width, side, font = CARD[large]
    prediction = digit.prediction
    name = html.escape(str(names[prediction.label]))
    caption = html.escape(t("number.digit", position=position + 1))
    picture = png_data_url(to_uint8(digit.image))
    return (
        f"<div data-testid='number-digit' data-class='{prediction.label}' style='flex:0 0 {width}px;padding:.5rem;"
        "border:1px solid rgba(128,128,128,.35);border-radius:8px'>"
        f"<div style='font-size:.8rem;opacity:.75'>{caption}</div>"
        f"<div style='display:flex;align-items:center;gap:.6rem;margin:.3rem 0'>"
        f"<img src='{picture}' width='{side}' height='{side}' alt='{html.escape(t('number.input', position=position + 1))}'"
        " style='image-rendering:pixelated;border:1px solid #555;background:#000'>"
        f"<div><div style='font-size:{font}rem;font-weight:700;line-height:1'>{name}</div>"
        f"<div style='font-size:.85rem'>{bars.percent(prediction.confidence)}</div></div></div>"
        + bars.probability_html(prediction.probabilities, names, large=large, key=f"{key}_probs_{position}")
        + "</div>"
    )
