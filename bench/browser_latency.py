"""Browser latency of the Draw page: mouse-up to the new prediction on screen, next to the server-side cost.

    CONVSCOPE_DATA=/work/shared/datasets .venv/bin/python bench/browser_latency.py [--digits 15] [--calls 100]

1. Starts the app (``streamlit run app.py``) twice, first with ``CONVSCOPE_STROKE_SEND=0`` (the canvas sends a
   drawing 200 ms after the stroke, its hard-coded delay), then as shipped (``app_pages/stroke_send.py`` makes it
   send when the stroke ends); each time on a free port with an empty user model folder, so the shipped
   default digit model is used, and opens the Draw page in Debian's headless Chromium (Playwright).
2. Draws ``--digits`` digits as real mouse strokes (the shapes of harness/digits.py, at several
   sizes and places), clearing the canvas with its toolbar between digits. For every stroke the page itself
   records, on the browser's clock: mouse-up, the script run starting (``data-test-script-state``), the
   prediction's ``data-input`` fingerprint changing (the new answer is in the DOM), the next frame after
   that (it is on screen) and the run ending. The websocket bytes and media files fetched per stroke are
   counted as well. The first stroke (cold caches) is reported apart and left out of the statistics.
3. Stops the browser and the app, then times in this process, on the first digit's drawing rasterised
   the way the canvas draws it: ``preprocess.mnist_style`` + ``Predictor`` call (probabilities and every
   Conv2D feature map; what the page computes per stroke) against ``model.predict`` (probabilities only),
   median over ``--calls`` calls each, interleaved.

Targets: <= 300 ms mouse-up to prediction in the browser, <= 2 ms server-side.

The app itself switches Streamlit's per-run clean-up off (``ui.keep_keras_state`` and ``runner.postScriptGC``
in ``.streamlit/config.toml``), and answers single drawings through LiteRT (``model_store/litert.py``); the
server-side part times the same ``Predictor(model, litert=True)`` the app builds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter would bury the table

from bench.load import percentile  # noqa: E402
from harness.app import app_env, running_app  # noqa: E402
from harness.chromium import IDLE, chromium_missing, launch, new_tab  # noqa: E402
from harness.digits import SHAPES, place  # noqa: E402
from harness.draw import PREDICTION, UPPER_CANVAS, canvas_box, clear, draw_strokes  # noqa: E402

MODEL = "convscope-digits"
CANVAS = 280
STROKE_WIDTH = 18  # the page's default stroke width
PLACES = [(0.5, 0.5, 0.7), (0.2, 0.2, 0.3), (0.8, 0.8, 0.35), (0.3, 0.65, 0.5), (0.7, 0.3, 0.45)]

# In-page probes, all on the browser's clock (performance.now()).
PROBES = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  const lat = window.__lat = {up: null, running: null, prediction: null, frame: null, idle: null, input: null,
                              busy: 0};
  new PerformanceObserver(list => {  // the browser's own main-thread work (tasks over 50 ms) during a stroke
    for (const task of list.getEntries()) if (lat.up !== null && task.startTime >= lat.up) lat.busy += task.duration;
  }).observe({type: 'longtask'});
  const current = () => {
    const e = document.querySelector("[data-testid='prediction']");
    return e ? e.getAttribute('data-input') : null;
  };
  lat.input = current();
  window.addEventListener('mouseup', () => {
    Object.assign(lat, {up: performance.now(), running: null, prediction: null, frame: null, idle: null, busy: 0});
  }, true);
  new MutationObserver(() => {
    if (lat.up === null) return;
    const state = app.getAttribute('data-test-script-state');
    if (state !== 'notRunning' && lat.running === null) lat.running = performance.now();
    if (state === 'notRunning' && lat.running !== null && lat.idle === null) lat.idle = performance.now();
    const input = current();
    if (input !== null && input !== lat.input) {
      lat.input = input;
      lat.prediction = performance.now();
      requestAnimationFrame(() => { lat.frame = performance.now(); });
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ['data-input', 'data-test-script-state']});
}"""

WAIT_DONE = """([idle]) => { const lat = window.__lat;
  return lat.prediction !== null && lat.frame !== null && lat.idle !== null && document.querySelector(idle) !== null; }"""


def digit_plan(n: int):
    """``n`` digits: the test shapes in turn, at sizes and places that change from one digit to the next."""
    digits = list(SHAPES)
    return [(digits[i % len(digits)], PLACES[i % len(PLACES)]) for i in range(n)]


def browser_part(n_digits: int, env: dict) -> tuple[list[dict], str]:
    from playwright.sync_api import sync_playwright

    log_path = Path(tempfile.mkdtemp(prefix="convscope-bench-")) / "streamlit.log"
    samples = []
    traffic = {"ws_bytes": 0, "ws_frames": 0}
    media = []

    def listen(page):
        def on_ws(ws):
            def on_frame(payload):
                traffic["ws_frames"] += 1
                traffic["ws_bytes"] += len(payload)
            ws.on("framereceived", on_frame)

        def on_request(request):
            if "/media/" in request.url:
                media.append(request)

        page.on("websocket", on_ws)
        page.on("requestfinished", on_request)

    with running_app(env, log_path) as (_, url), sync_playwright() as pw:
        browser = launch(pw)
        page = new_tab(browser, f"{url}/", timeout=90_000, ready=UPPER_CANVAS, setup=listen)
        box = canvas_box(page)
        page.evaluate(PROBES)
        for i, (digit, (cx, cy, height)) in enumerate(digit_plan(n_digits)):
            strokes = place(digit, cx, cy, height)
            for j, stroke in enumerate(strokes):
                traffic.update(ws_bytes=0, ws_frames=0)
                media.clear()
                draw_strokes(page, [stroke], box)
                page.wait_for_function(WAIT_DONE, arg=[IDLE])
                lat = page.evaluate("() => window.__lat")
                label = page.locator(PREDICTION).inner_text().strip()
                samples.append({
                    "digit": digit, "first": i == 0 and j == 0, "last": j == len(strokes) - 1, "label": label,
                    "to_running": lat["running"] - lat["up"], "to_prediction": lat["prediction"] - lat["up"],
                    "to_frame": lat["frame"] - lat["up"], "to_idle": lat["idle"] - lat["up"],
                    "run": lat["idle"] - lat["running"], "busy": lat["busy"], **traffic, "media": len(media),
                    "media_bytes": sum(r.sizes()["responseBodySize"] for r in media),
                })
            clear(page)
            page.evaluate("() => { window.__lat.input = null; window.__lat.up = null; }")
        browser.close()
    return samples, str(log_path)


def rasterise(strokes) -> np.ndarray:
    """The RGBA image the canvas returns for these strokes (white, round caps, on black)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 255))
    pen = ImageDraw.Draw(img)
    r = STROKE_WIDTH / 2
    for stroke in strokes:
        points = [(x * CANVAS, y * CANVAS) for x, y in stroke]
        pen.line(points, fill=(255, 255, 255, 255), width=STROKE_WIDTH, joint="curve")
        for x, y in (points[0], points[-1]):
            pen.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 255))
    return np.asarray(img)


def server_part(calls: int, user_dir: str):
    from model_store import preprocess
    from model_store.inference import Predictor
    from model_store.store import ModelStore

    model = ModelStore(user_dir=user_dir).load(MODEL)
    predictor = Predictor(model, litert=True)  # as the app builds it
    digit, (cx, cy, height) = digit_plan(1)[0]
    canvas = rasterise(place(digit, cx, cy, height))
    image = preprocess.mnist_style(canvas, polarity="light-on-dark").image
    x = image[None, ..., None]

    def ours():
        return predictor(preprocess.mnist_style(canvas, polarity="light-on-dark").image)

    variants = {
        "preprocess + Predictor (probs + all maps)": ours,
        "  of which preprocess.mnist_style": lambda: preprocess.mnist_style(canvas, polarity="light-on-dark"),
        "  of which Predictor call": lambda: predictor(image),
        "model.predict(x) (probs only)": lambda: model.predict(x, verbose=0),
    }
    for fn in variants.values():  # warm up: tracing, first allocations
        for _ in range(3):
            fn()
    times = {name: [] for name in variants}
    rounds = 5  # interleaved, so that background load hits every variant alike
    for _ in range(rounds):
        for name, fn in variants.items():
            for _ in range(max(1, calls // rounds)):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1000)
    assert int(np.argmax(ours().probabilities)) == int(np.argmax(model.predict(x, verbose=0)[0]))
    return times, len(predictor.conv_layers), digit


def report(title: str, samples: list[dict], n_digits: int, log: str) -> float:
    """Print one browser run's table; returns the median mouse-up to prediction in the DOM."""
    first = [s for s in samples if s["first"]]
    warm = [s for s in samples if not s["first"]]
    right = sum(1 for s in samples if s["last"] and s["label"] == s["digit"])
    print(f"\nBrowser, {title}: {n_digits} digits, {len(samples)} strokes ({len(warm)} measured, first stroke "
          f"apart); server log {log}")
    print(f"digits read right after their last stroke: {right} of {n_digits}")
    print(f"{'mouse-up to ... (ms)':34} {'median':>8} {'p90':>8} {'max':>8} {'first':>8}")
    rows = [("script run starts", "to_running"), ("prediction in the DOM", "to_prediction"),
            ("prediction on screen (next frame)", "to_frame"), ("script run ends", "to_idle"),
            ("script run (start to end)", "run"), ("browser long tasks (sum)", "busy")]
    for name, key in rows:
        values = [s[key] for s in warm]
        print(f"{name:34} {statistics.median(values):8.0f} {percentile(values, 0.9):8.0f} {max(values):8.0f} "
              f"{first[0][key] if first else float('nan'):8.0f}")
    print(f"per stroke: websocket {statistics.median(s['ws_bytes'] for s in warm) / 1024:.0f} KiB in "
          f"{statistics.median(s['ws_frames'] for s in warm):.0f} frames, "
          f"{statistics.median(s['media'] for s in warm):.0f} media files "
          f"({statistics.median(s['media_bytes'] for s in warm) / 1024:.0f} KiB) (medians)")
    return statistics.median(s["to_prediction"] for s in warm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digits", type=int, default=15)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    if missing := chromium_missing():
        sys.exit(missing)
    user_dir = tempfile.mkdtemp(prefix="convscope-bench-models-")
    env = app_env(user_dir)

    # Side by side in one run: the canvas' own send delay (our stroke sender off), then the app as shipped.
    variants = [("the canvas' own 200 ms send delay (CONVSCOPE_STROKE_SEND=0)", {"CONVSCOPE_STROKE_SEND": "0"}),
                ("the app as shipped (send at stroke end)", {})]
    medians = []
    for title, extra in variants:
        samples, log = browser_part(args.digits, {**env, **extra})
        medians.append(report(title, samples, args.digits, log))
    print(f"\nmouse-up to prediction in the DOM, median: {medians[0]:.0f} ms -> {medians[1]:.0f} ms "
          f"({medians[0] / medians[1]:.1f}x); target <= 300 ms: {'met' if medians[1] <= 300 else 'MISSED'}")

    times, n_conv, digit = server_part(args.calls, user_dir)
    base = statistics.median(times["preprocess + Predictor (probs + all maps)"])
    predict = statistics.median(times["model.predict(x) (probs only)"])
    print(f"\nServer side, in this process: {MODEL}, {n_conv} Conv2D layers, a '{digit}' as the canvas draws it")
    print(f"{'call (ms)':44} {'median':>8} {'p90':>8} {'calls':>6}")
    for name, values in times.items():
        print(f"{name:44} {statistics.median(values):8.2f} {percentile(values, 0.9):8.2f} {len(values):6d}")
    print(f"model.predict / ours: {predict / base:.1f}x; target <= 2 ms: {'met' if base <= 2 else 'MISSED'} "
          f"(median {base:.2f} ms)")


if __name__ == "__main__":
    main()
