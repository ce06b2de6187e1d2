"""The Draw page's result panel: one Components v2 element (no iframe) that shows a reading from one compact payload.

Every stroke changes the answer, the bars, the model input and the feature maps. As Streamlit elements they would be
a tree that the browser rebuilds per stroke (``bench/browser_cost.py`` measures that work); instead the page sends
one payload (``model_store/panel.py``) and ``panel.js`` updates its own plain DOM and canvases in place.
That code is installed once per page (``install``, outside the page's fragment); a stroke sends only the payload.
The markers the browser tests read (``data-testid='prediction'`` with ``data-input``, ``confidence``, ``verdict``,
``probabilities`` and its rows' ``data-mark``) are on that DOM, outside any shadow root.

Picking a layer's tab reruns the page's fragment with that layer open (``open_layer``): a payload carries the open
layer's maps only, which keeps a stroke's update small. Picking a channel to enlarge needs no rerun.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from model_store.panel import COMPONENT, pack

HERE = Path(__file__).resolve().parent


def compact(source: str) -> str:
    """``source`` without indentation, blank lines and whole-line ``//`` comments: it travels with the page's runs."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


# The panel element: a stroke updates it with a new payload. Its script only hands the payload to the panel's code,
# which ``install`` brings once per page, so that the code (~13 kB) does not travel with every stroke.
LOADER = """
export default function (component) {
  const api = window.__convscopePanel || (window.__convscopePanel = {channels: {}, waiting: new Set()});
  if (api.draw) return api.draw(component);
  api.waiting.add(component);
  return () => api.waiting.delete(component);
}
"""
_panel = st.components.v2.component(COMPONENT, html="<div class='cs-panel' data-testid='result-panel'></div>",
                                    js=compact(LOADER), isolate_styles=False)
_code = st.components.v2.component(
    f"{COMPONENT}_code", css=compact((HERE / "panel.css").read_text(encoding="utf-8")),
    js=compact((HERE / "panel.js").read_text(encoding="utf-8")), isolate_styles=False,
)


def install() -> None:
    """The panel's code and styles (invisible); on every run of a page with a panel, outside its fragment."""
    _code(key="convscope_panel_code")


def layer_key(key: str) -> str:
    return f"{key}_layer"


def _layer_chosen(key: str) -> None:
    state = st.session_state.get(key) or {}
    st.session_state[layer_key(key)] = int(state.get("layer") or 0)


def open_layer(key: str) -> int:
    """The feature-map layer the reader has open in panel ``key`` (kept for the session, 0 at first)."""
    return int(st.session_state.get(layer_key(key), 0))


def show(payload: dict | None, key: str) -> None:
    """The panel for ``payload`` (``model_store.panel.reading_payload``), or empty: mounted before the first stroke
    too, so that the first answer only fills it in."""
    _panel(data=pack(payload) if payload else b"", key=key, on_layer_change=lambda: _layer_chosen(key))
