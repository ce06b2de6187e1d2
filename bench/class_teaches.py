"""A class teaches the network: pupils add drawings, then the stored digit model is fine-tuned on them (issue 17).

    CONVSCOPE_DATA=/work/shared/datasets python bench/class_teaches.py [--seed 0] [--per 40] [--part digits|custom]
                                                                     [--digits KEY=VALUE ...] [--custom KEY=VALUE ...]

Pupils draw on the Draw page's 280x280 canvas (white on black) and every drawing goes through the page's
preprocessing (``mnist_style``); one the page would refuse (a blob) is drawn again. Five pupils, each with a seed of
their own, draw ``per / 5`` of each class; the last pupil's drawings are the held-out 20%, never trained on.

(a) digits: the hollow-outline font femkeklaver, the style ``convscope-digits`` misreads, at random size, place, slant
    and stroke weight (``training.handwriting``). ``convscope-digits`` is fine-tuned on MNIST plus the drawings
    (``training.fine_tune``, recipe "digits"); held-out accuracy, MNIST test accuracy and the six single-stroke fonts
    it already read, before and after. Targets: held-out >= 95%, MNIST >= 99.3%, <= 90 s.
(b) custom: five invented symbols (star, spiral, triangle, heart, lightning bolt) drawn as strokes, each pupil with a
    pen width and slant of their own, each drawing at random size, place, rotation, slant and jitter. A new head on
    ``convscope-digits``'s convolution base (recipe "custom"). Targets: held-out >= 95%, <= 60 s.

The seconds are the whole ``fine_tune`` call (held-out reads and MNIST's test included), data already in memory.
``--digits epochs=4 --custom head_epochs=2`` change a recipe's settings (``FineTuneConfig`` fields) for one run.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_store import preprocess  # noqa: E402
from training import handwriting  # noqa: E402

PUPILS = 5  # the last one's drawings are held out
STYLE_FONT = "femkeklaver"
BASE = "convscope-digits"
CANVAS = handwriting.CANVAS
SYMBOLS = ("star", "spiral", "triangle", "heart", "bolt")


# ---- the pupils' drawings -------------------------------------------------------------------------------------
def symbol_outline(name: str) -> tuple[np.ndarray, bool]:
    """The symbol as points in about [-1, 1] (y down) and whether the stroke closes on itself."""
    if name == "star":
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radius = np.where(np.arange(10) % 2, 0.42, 1.0)
        return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1), True
    if name == "spiral":
        t = np.linspace(0, 2.6 * 2 * np.pi, 90)
        r = 0.08 + 0.92 * t / t[-1]
        return np.stack([r * np.cos(t), r * np.sin(t)], 1), False
    if name == "triangle":
        return np.array([[0.0, -1.0], [0.95, 0.75], [-0.95, 0.75]]), True
    if name == "heart":
        t = np.linspace(0, 2 * np.pi, 80, endpoint=False)
        hx = 16 * np.sin(t) ** 3
        hy = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([hx / 17, (hy + 2.5) / 15], 1), True
    if name == "bolt":
        return np.array([[0.35, -1.0], [-0.3, 0.08], [0.22, 0.0], [-0.4, 1.0]]), False
    raise ValueError(name)


def draw_symbol(name: str, rng: np.random.Generator, pen: float, slant: float) -> np.ndarray:
    """One drawing as the canvas returns it: (280, 280, 4) uint8, white strokes on black."""
    points, closed = symbol_outline(name)
    points = points + rng.normal(0, 0.035, points.shape)  # a hand is not a ruler
    angle = np.deg2rad(rng.uniform(-20, 20))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shear = np.array([[1.0, slant + rng.uniform(-0.15, 0.15)], [0.0, 1.0]])
    points = points @ rotation.T @ shear.T * np.array([rng.uniform(0.8, 1.2), 1.0])
    width = max(2, int(pen * rng.uniform(0.8, 1.25)))
    size = min(rng.uniform(0.3, 0.85) * CANVAS, CANVAS - 2 * width - 4)
    points = points / np.abs(points).max() * size / 2
    low, high = points.min(0), points.max(0)
    offset = [rng.uniform(width - low[i], CANVAS - width - high[i]) for i in (0, 1)]
    points = points + np.array(offset)
    if closed:
        points = np.vstack([points, points[:1]])
    image = Image.new("L", (CANVAS, CANVAS), 0)
    pen_draw = ImageDraw.Draw(image)
    flat = [tuple(p) for p in points]
    pen_draw.line(flat, fill=255, width=width, joint="curve")
    for x, y in (flat[0], flat[-1]):  # round ends, as a finger or a mouse leaves them
        pen_draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    grey = np.asarray(image)
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def model_input(canvas: np.ndarray) -> np.ndarray | None:
    """The 28x28 uint8 the Draw page would keep, or None where it refuses the drawing."""
    prepared = preprocess.mnist_style(canvas)
    return None if prepared.image is None else preprocess.to_uint8(prepared.image)


def collect(draw, classes: int, per: int, seed: int) -> tuple[list, int]:
    """Each pupil draws ``per // PUPILS`` of every class with ``draw(label, rng, pupil_style)``; refused drawings are
    drawn again. Returns [(x, y) per pupil] and how many were refused."""
    pupils, refused = [], 0
    for pupil in range(PUPILS):
        rng = np.random.default_rng([seed, pupil])
        style = {"pen": rng.uniform(9, 26), "slant": rng.uniform(-0.25, 0.25)}
        xs, ys = [], []
        for label in range(classes):
            drawn = 0
            while drawn < per // PUPILS:
                image = model_input(draw(label, rng, style))
                if image is None:
                    refused += 1
                    continue
                xs.append(image)
                ys.append(label)
                drawn += 1
        pupils.append((np.stack(xs), np.array(ys, np.int64)))
    return pupils, refused


def font_digits(font: Path):
    return lambda label, rng, style: handwriting.render_digit(label, font, rng)


def symbols(label, rng, style):
    return draw_symbol(SYMBOLS[label], rng, style["pen"], style["slant"])


def split_pupils(pupils):
    """The first pupils' drawings to train on, the last pupil's held out."""
    train = (np.concatenate([x for x, _ in pupils[:-1]]), np.concatenate([y for _, y in pupils[:-1]]))
    return train, pupils[-1]


# ---- reading --------------------------------------------------------------------------------------------------
def accuracy(model, x, y) -> float:
    from model_store.scores import predict_probabilities

    return float((predict_probabilities(model, x).argmax(1) == y).mean())


def other_fonts(seed: int, per: int = 5):
    """The single-stroke fonts the model already reads (handwriting_check's drawings, ``per`` of each digit)."""
    fonts = {name: path for name, path in handwriting.available_fonts().items() if name != STYLE_FONT}
    rng = np.random.default_rng([seed, 99])
    xs, ys = [], []
    for path in fonts.values():
        for digit in range(10):
            for _ in range(per):
                image = model_input(handwriting.render_digit(digit, path, rng))
                if image is not None:
                    xs.append(image)
                    ys.append(digit)
    return (np.stack(xs), np.array(ys)) if xs else None, len(fonts)


def mnist_data():
    """(a Dataset: MNIST's training images if here, its test set or else the shipped sample; whether the test set
    is the real one; where the images come from, in words)."""
    from training import datasets
    from training.samples import test_images

    try:
        data = datasets.load("mnist", allow_download=False)
    except datasets.DatasetError:
        data = None
    test = test_images("mnist")
    where = f"real MNIST test set, {len(test.labels)} images" if test.full else \
        f"the shipped MNIST test sample, {len(test.labels)} images (CONVSCOPE_DATA has no MNIST)"
    test_split = datasets.Split(test.images, test.labels)
    if data is None:
        where += "; no MNIST training images: the drawings alone"
    return datasets.Dataset("mnist", data.train if data else None, test_split, where), test.full, where


def settings(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = json.loads(value) if value not in ("", "None") else None
    return out


# ---- the two parts --------------------------------------------------------------------------------------------
def digits_part(store, seed: int, per: int, overrides: dict) -> dict:
    from training.fine_tune import fine_tune

    fonts = handwriting.available_fonts()
    if STYLE_FONT not in fonts:
        raise SystemExit(f"no {STYLE_FONT} font; install: apt-get install {handwriting.FONT_PACKAGES}")
    pupils, refused = collect(font_digits(fonts[STYLE_FONT]), 10, per, seed)
    (x, y), (x_held, y_held) = split_pupils(pupils)
    base = store.load(BASE)
    mnist, full_test, where = mnist_data()
    test = mnist.test
    others, font_count = other_fonts(seed)
    before = {"mnist": accuracy(base, test.images, test.labels),
              "others": accuracy(base, *others) if others else None}
    print(f"(a) digits: {len(y)} {STYLE_FONT} drawings by {PUPILS - 1} pupils to learn from, {len(y_held)} by a fifth "
          f"held out ({refused} refused by the Draw page and drawn again); MNIST: {where}", flush=True)
    start = time.perf_counter()
    result = fine_tune(base, x, y, [str(d) for d in range(10)], kind="digits", mnist=mnist, heldout=(x_held, y_held),
                       seed=seed, **overrides)
    seconds = time.perf_counter() - start
    after_others = accuracy(result.model, *others) if others else None
    rows = [(f"held-out drawings ({STYLE_FONT})", result.heldout_before, result.heldout_after, ">= 95%"),
            ("MNIST test", before["mnist"], result.mnist_after, ">= 99.3%"),
            (f"{font_count} single-stroke fonts", before["others"], after_others, "")]
    print(f"{'':34} {'before':>8} {'after':>8}  target")
    for label, b, a, target in rows:
        print(f"{label:34} {fmt(b):>8} {fmt(a):>8}  {target}")
    print(f"{'seconds (fine_tune call)':34} {'':>8} {seconds:8.1f}  <= 90")
    print(f"settings: {json.dumps(result.config.to_dict())}; {result.epochs_run} epochs of {result.train_size} images, "
          f"stop: {result.stop_reason}; still misread: "
          f"{[(m.true, m.read) for m in result.misread] or 'none'}", flush=True)
    return {"heldout_before": rnd(result.heldout_before), "heldout_after": rnd(result.heldout_after),
            "mnist_before": rnd(before["mnist"]), "mnist_after": rnd(result.mnist_after),
            "other_fonts_before": rnd(before["others"]), "other_fonts_after": rnd(after_others),
            "seconds": round(seconds, 1), "mnist_test": "real" if full_test else "sample", "drawings": len(y),
            "heldout": len(y_held)}


def custom_part(store, seed: int, per: int, overrides: dict) -> dict:
    from training.fine_tune import fine_tune

    pupils, refused = collect(symbols, len(SYMBOLS), per, seed)
    (x, y), (x_held, y_held) = split_pupils(pupils)
    base = store.load(BASE)
    print(f"(b) custom: {len(SYMBOLS)} symbols ({', '.join(SYMBOLS)}), {len(y)} drawings by {PUPILS - 1} pupils to "
          f"learn from, {len(y_held)} by a fifth held out ({refused} refused and drawn again); new head on "
          f"{BASE}'s convolution base", flush=True)
    start = time.perf_counter()
    result = fine_tune(base, x, y, list(SYMBOLS), kind="custom", heldout=(x_held, y_held), seed=seed, **overrides)
    seconds = time.perf_counter() - start
    print(f"{'held-out drawings':34} {'':>8} {fmt(result.heldout_after):>8}  >= 95%")
    print(f"{'seconds (fine_tune call)':34} {'':>8} {seconds:8.1f}  <= 60")
    print(f"settings: {json.dumps(result.config.to_dict())}; {result.epochs_run} epochs of {result.train_size} images, "
          f"stop: {result.stop_reason}; still misread: "
          f"{[(SYMBOLS[m.true], SYMBOLS[m.read]) for m in result.misread] or 'none'}", flush=True)
    return {"classes": len(SYMBOLS), "heldout_after": rnd(result.heldout_after), "seconds": round(seconds, 1),
            "drawings": len(y), "heldout": len(y_held)}


def fmt(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def rnd(value):
    return None if value is None else round(value, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per", type=int, default=40, help="drawings per class (a multiple of 5: five pupils)")
    parser.add_argument("--part", choices=("digits", "custom"), help="one part only")
    parser.add_argument("--digits", nargs="*", default=[], metavar="KEY=VALUE", help="change the digits recipe")
    parser.add_argument("--custom", nargs="*", default=[], metavar="KEY=VALUE", help="change the custom recipe")
    args = parser.parse_args()
    from model_store.store import ModelStore

    store = ModelStore()
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPU cores, load average "
          f"{'/'.join(f'{v:.2f}' for v in os.getloadavg())}; seed {args.seed}, {args.per} drawings per class", flush=True)
    figures = {}
    if args.part in (None, "digits"):
        figures["digits"] = digits_part(store, args.seed, args.per, settings(args.digits))
    if args.part in (None, "custom"):
        figures["custom"] = custom_part(store, args.seed, args.per, settings(args.custom))
    figures["load_average"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
