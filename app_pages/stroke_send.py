"""The end of a stroke on a canvas: answered by the server's stroke route, or sent to the page at once.

Where the server answers strokes on its own route (``stroke_answer.py``: the app started through ``serve.py``), the
Draw canvas' picture goes there and the result panel draws the answer (``panel.js``: ``answer``). The stroke is sent
to the page as well only while it shows views that only its run draws (the pixel values, Look deeper): ``sync`` in
the route's settings (``live_drawing.page_settings``). Undo, Redo and Clear are answered the same way. Elsewhere (the
number canvas, a bare ``streamlit run app.py``) every stroke is sent, at once:

streamlit-drawable-canvas 0.13 waits a fixed 200 ms after every stroke before it sends the drawing (a debounce
in its JavaScript, with no parameter), and every prediction would wait for it (the README has the figures). The
canvas has its own "Update the app with this drawing" button, which sends at once and cancels that wait; this
invisible component presses it at the end of every stroke that started on a canvas (and the Draw canvas, which no
longer sends by itself there, keeps the toolbar and that button out of sight). If a future canvas version renames
the button, nothing breaks: the canvas simply sends after its own delay again (``tests/e2e/test_draw_browser.py``
checks the button is found and pressed once per stroke).

It also keeps a finger on the canvas from scrolling the page (tablets): ``touch-action: none`` on the canvas
components' hosts, from the first paint on (a style that reaches into their shadow roots, which a page's CSS cannot),
and on each canvas a stroke starts on. The canvas sets it on itself today; this keeps it so if a version does not.

``CONVSCOPE_STROKE_SEND=0`` switches the sending off (``bench/browser_latency.py`` measures both ways).
"""

import os

import streamlit as st

DISABLE_ENV = "CONVSCOPE_STROKE_SEND"
SEND_BUTTON = "button[aria-label='Update the app with this drawing']"
TOOLBAR_CSS = (".dc-root:not(:hover)>.dc-toolbar[data-pinned=true]:not(:focus-within){opacity:0;top:-1rem}"
               f" {SEND_BUTTON}{{display:none}}")

# Installed once per browser tab. A stroke is armed by a pointer going down on a canvas' drawing surface and
# sent when the mouse or finger is lifted: after the canvas has added the stroke (its own handlers run first;
# setTimeout waits for its microtasks; the stroke route's picture is taken in the next animation frame, once the
# canvas has painted the stroke). Pointer events arm, mouse/touch events send, so a touch that the browser also
# reports as emulated mouse events is still sent once. ``component.data``: the stroke route's settings, or null.
_JS = """
export default function (component) {
  const api = window.__convscopeStrokeSend || (window.__convscopeStrokeSend = {sent: 0, answered: 0, quiet: 0});
  api.live = component.data || null;
  // A canvas that does not send by itself pins its toolbar over the page, with a send button a pupil never needs:
  // shown on hover only, as on a canvas that sends, and without that button (this script presses it).
  let frames = 0;
  const tame = () => {
    let found = false;
    for (const host of document.querySelectorAll('[data-testid=stBidiComponentIsolated]')) {
      const root = host.shadowRoot;
      if (!root || !root.querySelector('.dc-toolbar')) continue;
      found = true;
      if (root.querySelector('style[data-convscope]')) continue;
      const style = document.createElement('style');
      style.dataset.convscope = '';
      style.textContent = "__TOOLBAR_CSS__";
      root.append(style);
    }
    if (!found && ++frames < 120) requestAnimationFrame(tame);
  };
  tame();
  if (api.installed) return;
  api.installed = true;
  let armed = null;
  window.addEventListener('pointerdown', (event) => {
    armed = event.composedPath().find(
      (el) => el instanceof HTMLCanvasElement && el.classList.contains('upper-canvas')) || null;
    if (armed) armed.style.touchAction = 'none';
  }, true);
  const press = (canvas) => {
    const button = canvas.getRootNode().querySelector?.("__SEND_BUTTON__");
    if (button && !button.disabled) {
      button.click();
      api.sent += 1;
    }
  };
  // the stroke route's answer first; then the page's run, unless it would show nothing new (a quiet stroke)
  const answer = (canvas) => {
    const live = api.live, panel = window.__convscopePanel;
    if (!live || !panel || !panel.answer) return press(canvas);
    panel.answer(canvas, live).then((input) => {
      if (input) api.answered += 1;
      if (input !== null && !live.sync) {
        api.quiet += 1;
        return;
      }
      if (input !== null) panel.expectRun(input);
      press(canvas);
    }, () => press(canvas));
  };
  const send = () => {
    const canvas = armed;
    armed = null;
    if (!canvas) return;
    setTimeout(() => (api.live ? requestAnimationFrame(() => answer(canvas)) : press(canvas)), 0);
  };
  // Undo, Redo and Clear change the drawing without a stroke: answered once the canvas shows the change (a few
  // frames; the canvas loads its earlier state asynchronously), or after 30 frames if nothing changes. Clear also
  // sends the emptied canvas itself, but a second Clear sends the same value as the first: the page cannot tell.
  const SMALL = document.createElement('canvas');
  SMALL.width = SMALL.height = 28;
  const look = (upper) => {
    const lower = upper.parentElement?.querySelector('canvas.lower-canvas');
    const ctx = SMALL.getContext('2d', {willReadFrequently: true});
    ctx.clearRect(0, 0, 28, 28);
    if (lower) ctx.drawImage(lower, 0, 0, 28, 28);
    return ctx.getImageData(0, 0, 28, 28).data.join();
  };
  window.addEventListener('click', (event) => {
    const button = event.composedPath().find((el) => el instanceof HTMLButtonElement
      && ['Undo', 'Redo', 'Reset canvas & history'].includes(el.getAttribute('aria-label')));
    const upper = button && api.live ? button.getRootNode().querySelector?.('canvas.upper-canvas') : null;
    if (!upper) return;
    const before = look(upper);
    let frames = 0;
    const wait = () => (look(upper) !== before || ++frames >= 30 ? answer(upper) : requestAnimationFrame(wait));
    requestAnimationFrame(wait);
  }, true);
  window.addEventListener('mouseup', send);
  window.addEventListener('touchend', send);
  window.addEventListener('touchcancel', send);
}
""".replace("__SEND_BUTTON__", SEND_BUTTON).replace("__TOOLBAR_CSS__", TOOLBAR_CSS)

# Not isolated: the style applies to the whole page while the sender is mounted (the Draw page). On two lines:
# Streamlit takes a one-line string with brackets for a file name.
_CSS = """[data-testid=stBidiComponentIsolated] {
  touch-action: none;
}"""

_component = st.components.v2.component("convscope.stroke_send", js=_JS, css=_CSS, isolate_styles=False)
_touch_only = st.components.v2.component("convscope.canvas_touch", css=_CSS, isolate_styles=False)


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "1") != "0"


def install(live: dict | None = None) -> None:
    """Mount the (invisible) sender; call it on every run of a page with a canvas, outside the page's fragment (it
    stays mounted while the fragment reruns). ``live``: the stroke route's settings
    (``live_drawing.live_settings``): each stroke is answered there first, then sent. With the sender switched off,
    the touch style alone."""
    if enabled():
        _component(key="convscope_stroke_send", data=live)
    else:
        _touch_only(key="convscope_canvas_touch")
