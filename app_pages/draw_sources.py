"""The Draw page's inputs beyond one drawn digit: a number written on a wide canvas, and a picture a pupil uploads.

Both read the picture with ``model_store.numbers.read_number``: several digits are shown as a number
(``number_view``); an uploaded picture of one digit goes to the result panel like a drawn one. A refusal (no ink, a
filled area, a file that is no picture) is said in the reader's language, and nothing else on the page is lost.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from app_pages import i18n, number_view, resources
from app_pages.i18n import t
from app_pages.reading import predict
from app_pages.sidebar import presenting
from model_store import numbers
from model_store.images import read_image
from model_store.numbers import NumberReading
from model_store.refusal import Refusal
from model_store.render import png_data_url

NUMBER_WIDTH, NUMBER_HEIGHT = 560, 200  # room for four or five digits; fits a tablet held upright
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
UPLOAD_KEY, POLARITY_KEY, READ_KEY = "draw_upload", "upload_polarity", "draw_upload_read"  # READ_KEY: the last file read
POLARITIES = ("auto", "dark-on-light", "light-on-dark")  # model_store.preprocess.POLARITIES, in the order offered
READ, REFUSED = "#4fc3f7", "#ff7043"  # the boxes of digits read, and of a mark that is not one
SHOWN_WIDTH = 360  # the uploaded picture is shown at most this wide


def reader(model: str, names: list[str]):
    """What ``read_number`` predicts with: the page's cached prediction (None, with the reason shown, when the model
    cannot answer)."""
    return lambda image: predict(model, image, names)


def number_canvas(stroke: int) -> np.ndarray | None:
    """The wide canvas' RGBA drawing (white on black), or None before the canvas answers."""
    from streamlit_drawable_canvas import st_canvas  # here, not at import: the page tests replace the module

    result = st_canvas(
        stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000", height=NUMBER_HEIGHT,
        width=NUMBER_WIDTH, drawing_mode="freedraw", return_image_data=True, update_streamlit=True,
        key="number_canvas",
    )
    return None if result is None else result.image_data


def drawn_number(model: str, names: list[str], stroke: int) -> None:
    """The wide canvas, and under it the number read after every stroke, or the hint, or why it cannot be read."""
    canvas = number_canvas(stroke)
    number = NumberReading("empty") if canvas is None else numbers.read_number(canvas, reader(model, names),
                                                                              "light-on-dark")
    if number is None:
        return  # the model could not answer; resources.prediction has said why
    if number.status == "empty":
        st.info(t("number.hint"))
        resources.warm_up(model)
    elif number.refusal:
        st.warning(t("number.refused", reason=i18n.refusal(Refusal(number.refusal))))
    else:
        number_view.show(number, names)


def taught_classes(model: str) -> tuple[list[str], str | None]:
    """A model the class taught its own classes reads one drawing at a time: the page says what it reads, and how to
    read digits again. Returns its class names as stored and its class dataset (where a correction goes)."""
    meta = resources.store().get(model).meta
    classes = list(meta.get("class_names") or [])
    st.caption(t("draw.class_reading", model=i18n.as_text(model), classes=", ".join(map(i18n.as_text, classes))))
    return classes, meta.get("class_data")


def upload_controls() -> None:
    """The uploader and, except on a projector, which way the ink is (outside the page's fragment, like the slider)."""
    st.file_uploader(t("upload.label"), type=UPLOAD_TYPES, key=UPLOAD_KEY, help=t("upload.help"))
    if not presenting():
        labels = {polarity: t(f"upload.polarity.{polarity}") for polarity in POLARITIES}  # now, in this run's language
        st.segmented_control(t("upload.polarity"), POLARITIES, key=POLARITY_KEY, format_func=labels.get)


def uploaded_picture() -> np.ndarray | None:
    """The uploaded picture, read once per file (a rerun of the page does not decode it again); None with the hint,
    or with why it cannot be read."""
    file = st.session_state.get(UPLOAD_KEY)
    if file is None:
        st.info(t("upload.hint"))
        return None
    kept = st.session_state.get(READ_KEY)
    if kept is None or kept[0] != file.file_id:
        try:
            kept = (file.file_id, read_image(file.getvalue()))
        except Refusal as exc:
            kept = (file.file_id, exc)
        st.session_state[READ_KEY] = kept
    if isinstance(kept[1], Refusal):
        st.error(t("upload.refused", name=i18n.as_text(file.name), reason=i18n.refusal(kept[1])))
        return None
    return kept[1]


def uploaded_number(model: str, names: list[str]) -> NumberReading | None:
    """The uploaded picture, shown small with a box round each digit, read as a number; None (the reason shown)
    when there is nothing to read."""
    picture = uploaded_picture()
    if picture is None:
        return None
    polarity = "auto" if presenting() else st.session_state.get(POLARITY_KEY) or "auto"
    number = numbers.read_number(picture, reader(model, names), polarity)
    if number is not None and number.digits:
        st.image(png_data_url(outlined(picture, number)), width=min(SHOWN_WIDTH, picture.shape[1]),
                 caption=t("upload.boxes"))
    if number is not None and number.refusal:
        name = i18n.as_text(st.session_state[UPLOAD_KEY].name)
        st.warning(t("upload.refused", name=name, reason=i18n.refusal(Refusal(number.refusal))))
        return None
    return number


def outlined(picture: np.ndarray, number: NumberReading) -> np.ndarray:
    """The picture as RGB, at most ``2 * SHOWN_WIDTH`` wide (sharp on a high-density screen, light to send again
    with every run), with a box round each digit found (blue when read, orange for a mark that is not a digit). A
    transparent picture is shown over mid-grey, where both dark and light ink stand out."""
    grey = picture.astype(np.float32)
    if grey.ndim == 3:  # read_image's RGBA: grey in every colour channel, then alpha
        alpha = grey[..., 3] / 255.0
        grey = grey[..., 0] * alpha + 128 * (1 - alpha)
    image = Image.fromarray(grey.round().astype(np.uint8))
    scale = min(1.0, 2 * SHOWN_WIDTH / image.width)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.BOX).convert("RGB")
    pen = ImageDraw.Draw(image)
    line = max(2, max(image.size) // 150)
    for digit in number.digits:
        top, left, bottom, right = (round(side * scale) for side in digit.bbox)
        colour = READ if digit.prediction is not None else REFUSED
        pen.rectangle([left - line, top - line, right + line - 1, bottom + line - 1], outline=colour, width=line)
    return np.asarray(image)
