"""Pupils draw for the class: the page asks for the class with the fewest drawings, the pupil draws it and adds it.
What a canvas asks for stays until it is added, whatever other pupils add meanwhile.

A fragment: drawing and adding rerun this part only. After an add the canvas is a new one (its key changes), so the
next drawing starts on an empty canvas; the counts under it are everyone's, read again at every run.
"""

from __future__ import annotations

import streamlit as st

from app_pages import class_resources, i18n, stroke_send
from app_pages.i18n import t
from app_pages.sidebar import presenting
from model_store.refusal import Refusal

CANVAS = 280


def next_class(counts) -> int:
    """The class the class has drawn least (the first of those): every class gets its examples."""
    return min(range(len(counts)), key=lambda i: (counts[i], i))


def asked_class(name: str, counts) -> int:
    """The class this canvas is for: the rarest when the canvas is new, then kept while the pupil draws, so that
    another pupil's add never changes what this one is drawing (nor the label of what they add)."""
    canvas_key = (name, st.session_state.get("class_canvas_n", 0))
    kept = st.session_state.get("class_asked")
    if kept is None or kept[0] != canvas_key or kept[1] >= len(counts):
        kept = (canvas_key, next_class(counts))
        st.session_state.class_asked = kept
    return kept[1]


@st.fragment
def collect(name: str) -> None:
    datasets = class_resources.class_datasets()
    dataset = datasets.get(name)
    stroke_send.install()
    asked = asked_class(name, dataset.counts)
    st.markdown(f"### {t('classdata.prompt', name=i18n.as_text(dataset.classes[asked]))}")
    left, right = st.columns([3, 2], gap="large")
    with left:
        drawing = canvas()
        st.button(t("classdata.add"), key="class_add", type="primary", icon=":material/add:",
                  on_click=add, args=(name, asked), disabled=drawing is None)
        message = st.session_state.pop("class_message", None)
        if message:
            {"success": st.success, "error": st.error}[message[0]](message[1])
    with right:
        counts(dataset)


def canvas():
    """The pupil's canvas (a new one after each add); its RGBA drawing, or None while it is empty."""
    from streamlit_drawable_canvas import st_canvas  # here, not at import: the page tests replace the module

    result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000", height=CANVAS,
                       width=CANVAS, drawing_mode="freedraw", return_image_data=True, update_streamlit=True,
                       key=f"class_canvas_{st.session_state.get('class_canvas_n', 0)}")
    image = None if result is None else result.image_data
    image = None if image is None or not image[..., :3].any() else image
    st.session_state.class_picture = image  # what the Add button's callback adds, at the start of the next run
    return image


def add(name: str, label: int) -> None:
    """The drawing on the canvas, as class ``label``, into dataset ``name``; refusals (a dot, too fast) are said."""
    picture = st.session_state.get("class_picture")
    try:
        class_resources.drawing_rate().admit(class_resources.pupil_id())
        drawing = class_resources.class_datasets().add(name, label, picture=picture, polarity="light-on-dark",
                                                 pupil=class_resources.pupil_id())
    except Refusal as exc:
        st.session_state.class_message = ("error", i18n.refusal(exc))
        return
    st.session_state.class_message = ("success", t("classdata.added", name=i18n.as_text(drawing.class_name)))
    st.session_state.class_canvas_n = st.session_state.get("class_canvas_n", 0) + 1


def counts(dataset) -> None:
    """Everyone's drawings per class, and which classes still have too few to learn from."""
    st.markdown(f"**{t('classdata.counts', total=dataset.total)}**")
    rows = [{t("classdata.col.class"): c, t("classdata.col.count"): n} for c, n in zip(dataset.classes, dataset.counts)]
    st.dataframe(rows, hide_index=True, key="class_counts", height=min(400, 38 + 35 * len(rows)),
                 column_config={t("classdata.col.count"): st.column_config.ProgressColumn(
                     min_value=0, max_value=max(10, *dataset.counts), format="%d")})
    short = [c for c, n in zip(dataset.classes, dataset.counts) if n < 10]
    if short and not presenting():
        st.caption(t("classdata.too_few", classes=", ".join(i18n.as_text(c) for c in short), minimum=10))
