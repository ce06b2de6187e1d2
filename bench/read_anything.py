"""Read anything: digits that were not drawn on our canvas, read by this preprocessing and the previous release's.

    python bench/read_anything.py [--model convscope-digits] [--per 3] [--numbers 200] [--seed 0] [--ref HEAD]
                                  [--ref-model REV] [--data DIR] [--save-grid DIR]

Every picture is made here, from a seed: a digit in one of the handwriting fonts of bench/handwriting_check.py
(training/handwriting.py renders it at a random size, place, slant and weight on 280x280), then shown as

  canvas    the Draw page's canvas: white strokes on a transparent background (alpha), polarity light-on-dark
  crisp     the same strokes, opaque, white on black
  inverted  black on white
  scan      a low-resolution scan (the digit 12-24 px tall) scaled up again: soft edges, thick strokes
  blurred   dark on light, out of focus (Gaussian blur of 1.5-4% of the digit's height)
  thick     a felt marker: strokes widened by 2-5% of the digit's height on each side, dark on white
  photo     a phone photo of dark ink on paper: grey paper with texture, a light gradient, a soft shadow, a
            little rotation, camera blur, JPEG compression (quality 35-80)

and 4-digit numbers (one font, one size, random spacing, a few touching boxes) on the canvas, crisp and as
photos, read with ``model_store.numbers.segment_digits``. The previous release is
``git show REF:model_store/preprocess.py``, loaded as a module from a temporary file, run in the same process on the
same pictures; it cannot read numbers.
A refusal (empty, dot, filled, blob) counts as a miss. With the real MNIST test set (``--data`` or
``CONVSCOPE_DATA``), both also read MNIST's own 10,000 test digits: accuracy and the mean change of the images.
``--ref-model REV`` also reads every picture (through this preprocessing) with the shipped digit model as it was in
git revision REV, beside the model read above: what a retrained model changes, in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_store import numbers, preprocess  # noqa: E402
from model_store.inference import Predictor  # noqa: E402
from model_store.store import ModelStore  # noqa: E402
from training import handwriting  # noqa: E402

CONDITIONS = ("canvas", "crisp", "inverted", "scan", "blurred", "thick", "photo")
POLARITY = {"canvas": "light-on-dark"}  # the others: auto, as `python -m model_store predict` reads a file
NUMBER_CONDITIONS = ("canvas", "crisp", "photo", "touching")
HOLLOW_FONT = "femkeklaver"  # draws every digit as a double outline; the model reads it poorly (README)


# ---- pictures ------------------------------------------------------------------------------------------------
def glyph_box(grey: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(grey.any(axis=1)), np.flatnonzero(grey.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def scanned(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit scanned at 12-24 px tall and scaled back up with bicubic interpolation, where it was."""
    top, left, bottom, right = glyph_box(grey)
    crop = Image.fromarray(grey[top:bottom, left:right])
    h, w = bottom - top, right - left
    low = int(rng.integers(12, 25))
    small = crop.resize((max(2, round(w * low / h)), low), Image.Resampling.BOX)
    out = np.zeros_like(grey)
    out[top:bottom, left:right] = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))
    return out


def digit_height(grey: np.ndarray) -> int:
    top, _, bottom, _ = glyph_box(grey)
    return bottom - top


def photo(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark ink (``ink`` in [0, 1]) photographed on paper: uint8 grey, decoded from a JPEG."""
    h, w = ink.shape
    img = Image.fromarray((ink * 255).astype(np.uint8)).rotate(float(rng.uniform(-8, 8)), Image.Resampling.BILINEAR)
    ink = np.asarray(img, np.float32) / 255.0
    paper, pen = rng.uniform(0.55, 0.9), rng.uniform(0.05, 0.3)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    light = paper + rng.uniform(0.05, 0.15) * (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)) * 2
    shade_angle, reach = rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.1)
    side = np.cos(shade_angle) * (xx - 0.5) + np.sin(shade_angle) * (yy - 0.5) - reach
    soft = rng.uniform(0.04, 0.12)
    light = light * (1 - rng.uniform(0.15, 0.35) / (1 + np.exp(-side / soft)))
    grain = np.asarray(Image.fromarray(rng.normal(0, 1, (h // 16 + 2, w // 16 + 2)).astype(np.float32), "F")
                       .resize((w, h), Image.Resampling.BICUBIC))
    light = light * (1 + 0.03 * grain) + rng.normal(0, 0.015, (h, w))
    seen = light * (1 - ink) + pen * light * ink
    blurred = Image.fromarray(np.clip(seen * 255, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    buffer = io.BytesIO()
    blurred.save(buffer, "JPEG", quality=int(rng.integers(35, 81)))
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"))


def picture(condition: str, canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One rendered digit (the renderer's RGBA, white on black) as ``condition`` shows it."""
    grey = canvas[..., 0]
    if condition == "canvas":
        return as_canvas(grey)
    if condition == "crisp":
        return canvas
    if condition == "inverted":
        return 255 - grey
    if condition == "scan":
        return scanned(grey, rng)
    size = digit_height(grey)
    if condition == "blurred":
        sigma = rng.uniform(0.015, 0.04) * size
        return 255 - np.asarray(Image.fromarray(grey).filter(ImageFilter.GaussianBlur(sigma)))
    if condition == "thick":
        radius = max(1, round(rng.uniform(0.02, 0.05) * size))
        wide = Image.fromarray(grey).filter(ImageFilter.MaxFilter(2 * radius + 1)).filter(ImageFilter.GaussianBlur(1))
        return 255 - np.asarray(wide)
    if condition == "photo":
        return photo(grey / 255.0, rng)
    raise ValueError(condition)


def digit_sets(per: int, seed: int) -> tuple[dict[str, list[np.ndarray]], np.ndarray, list[str]]:
    """Every condition's pictures of the same rendered digits (``per`` per digit and font), labels, fonts."""
    fonts = handwriting.available_fonts()
    if not fonts:
        raise SystemExit(f"no handwriting fonts found; install: apt-get install {handwriting.FONT_PACKAGES}")
    rng = np.random.default_rng(seed)
    sets: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS}
    labels, names = [], []
    for name, path in fonts.items():
        for digit in range(10):
            for _ in range(per):
                canvas = handwriting.render_digit(digit, path, rng)
                for condition in CONDITIONS:
                    sets[condition].append(picture(condition, canvas, rng))
                labels.append(digit)
                names.append(name)
    return sets, np.array(labels), names


def number_sets(count: int, seed: int) -> tuple[dict[str, list[np.ndarray]], list[str], list[str]]:
    """``count`` 4-digit numbers, one font, size and pen each: spaced (5-50% of the height between the digits' boxes)
    as the wide canvas sends them, crisp (dark on white) and as photos, and tight (-10% to +5%: boxes overlap,
    slanted digits often touch)."""
    fonts = handwriting.available_fonts()
    rng = np.random.default_rng(seed + 1)
    sets: dict[str, list[np.ndarray]] = {c: [] for c in NUMBER_CONDITIONS}
    texts, names = [], []
    for _ in range(count):
        digits = rng.integers(0, 10, 4)
        name = list(fonts)[int(rng.integers(len(fonts)))]
        font = fonts[name]
        height = int(rng.integers(50, 110))
        weight = int(rng.integers(0, 3))
        glyphs = []
        for digit in digits:
            grey = handwriting.render_digit(int(digit), font, rng, weight)[..., 0]
            top, left, bottom, right = glyph_box(grey)
            img = Image.fromarray(grey[top:bottom, left:right])
            h = height * rng.uniform(0.9, 1.1)
            glyphs.append(np.asarray(img.resize((max(2, round(img.width * h / img.height)), round(h)),
                                                Image.Resampling.BILINEAR)))
        shifts = [int(rng.integers(-height // 10, height // 10 + 1)) for _ in glyphs]
        margin = int(rng.integers(20, 60))
        spaced = number_picture(glyphs, [rng.uniform(0.05, 0.5) * height for _ in range(3)], shifts, margin)
        tight = number_picture(glyphs, [rng.uniform(-0.1, 0.05) * height for _ in range(3)], shifts, margin)
        sets["canvas"].append(as_canvas(spaced))
        sets["crisp"].append(255 - spaced)
        sets["photo"].append(photo(spaced / 255.0, rng))
        sets["touching"].append(255 - tight)
        texts.append("".join(str(int(d)) for d in digits))
        names.append(name)
    return sets, texts, names


def as_canvas(grey: np.ndarray) -> np.ndarray:
    """White strokes (``grey``, white on black) on a transparent background, as the Draw page's canvas sends them."""
    rgba = np.full((*grey.shape, 4), 255, np.uint8)
    rgba[..., 3] = grey
    return rgba


def number_picture(glyphs: list[np.ndarray], gaps: list[float], shifts: list[int], margin: int) -> np.ndarray:
    """Glyphs (white on black) side by side on one baseline, ``gaps`` px between their boxes, white on black."""
    height = max(g.shape[0] for g in glyphs)
    inked = sum(g.shape[1] for g in glyphs) + int(sum(gaps))
    tall = height + 2 * margin
    canvas = np.zeros((tall, max(inked + 2 * margin, tall)), np.uint8)
    x = (canvas.shape[1] - inked) // 2
    for glyph, gap, shift in zip(glyphs, [*gaps, 0], shifts):
        y = min(max(margin + height - glyph.shape[0] + shift, 0), tall - glyph.shape[0])
        region = canvas[y:y + glyph.shape[0], x:x + glyph.shape[1]]
        np.maximum(region, glyph[:region.shape[0], :region.shape[1]], out=region)
        x += glyph.shape[1] + int(gap)
    return canvas


# ---- the previous release --------------------------------------------------------------------------------------
def from_git(ref: str, path: str, name: str) -> Path:
    """The file ``path`` as it is in git revision ``ref``, written to a temporary folder as ``name``."""
    data = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, check=True, capture_output=True).stdout
    out = Path(tempfile.mkdtemp(prefix="convscope-ref-")) / name
    out.write_bytes(data)
    return out


def previous_preprocess(ref: str):
    """``model_store/preprocess.py`` as it is in ``ref``, imported from a temporary file."""
    path = from_git(ref, "model_store/preprocess.py", "preprocess_ref.py")
    spec = importlib.util.spec_from_file_location("preprocess_ref", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def previous_model(ref: str) -> Predictor:
    """The shipped digit model as it is in ``ref``, loaded from a temporary file (safe mode, as the store loads)."""
    import keras

    path = from_git(ref, "model_store/defaults/convscope-digits.keras", "convscope-digits.keras")
    return Predictor(keras.models.load_model(path, compile=False, safe_mode=True))


# ---- reading -------------------------------------------------------------------------------------------------
def timed(fn, picture_: np.ndarray, *args):
    """``fn(picture_, *args)`` and its time in ms: the fastest of three runs, so that a busy machine's pauses do not
    count (preprocessing is deterministic)."""
    best, result = float("inf"), None
    for _ in range(3):
        start = time.perf_counter()
        result = fn(picture_, *args)
        best = min(best, (time.perf_counter() - start) * 1000)
    return result, best


def read_digits(recipe, pictures: list[np.ndarray], polarity: str) -> tuple[list, list[float]]:
    runs = [timed(recipe.mnist_style, p, polarity) for p in pictures]
    return [r for r, _ in runs], [t for _, t in runs]


def scores(predictor: Predictor, prepared: list, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per picture: read right (a refusal is a miss), refused."""
    refused = np.array([p.status != "ok" for p in prepared])
    blank = np.zeros((28, 28), np.float32)
    images = np.stack([blank if p.image is None else p.image for p in prepared])
    return (predictor.probabilities(images).argmax(1) == labels) & ~refused, refused


def read_numbers(predictor: Predictor, pictures: list[np.ndarray]) -> tuple[list[str], list[float], list[float]]:
    """The number each picture is read as by ``numbers.read_number`` ('' when a digit is refused or there is none:
    a wide digit is also tried cut in two, and the model's answers decide), the time to segment and prepare its
    digits (ms, ``segment_digits``) and the time of the whole reading, the model's answers included (ms)."""
    def predict(image: np.ndarray) -> SimpleNamespace:
        probabilities = predictor.probabilities(image[None])[0]
        label = int(probabilities.argmax())
        return SimpleNamespace(label=label, confidence=float(probabilities[label]), probabilities=probabilities)

    texts, times, reading_times = [], [], []
    for picture_ in pictures:
        times.append(timed(numbers.segment_digits, picture_)[1])
        start = time.perf_counter()
        reading = numbers.read_number(picture_, predict)
        reading_times.append((time.perf_counter() - start) * 1000)
        texts.append(reading.text([str(d) for d in range(10)]) if reading.status == "ok" else "")
    return texts, times, reading_times


def mnist_check(predictor: Predictor, recipes: dict, data: str | None) -> dict | None:
    from model_store.model_input import to_float
    from training import datasets

    try:
        test = datasets.load("mnist", data, allow_download=False, test_only=True).test
    except Exception as exc:  # no real data here: the row is left out, with the reason
        print(f"(MNIST row left out: {exc})")
        return None
    raw = to_float(test.images)
    out = {"raw": (float((predictor.probabilities(raw).argmax(1) == test.labels).mean()), 0.0, 0.0)}
    for name, recipe in recipes.items():
        prepared = [recipe.mnist_style(image) for image in test.images]
        right, refused = scores(predictor, prepared, test.labels)
        change = np.mean([np.abs(p.image - x).mean() for p, x in zip(prepared, raw) if p.image is not None])
        out[name] = (float(right.mean()), float(refused.mean()), float(change))
    return out


def save_grid(folder: Path, condition: str, pictures: list[np.ndarray], prepared: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    thumbs = []
    for picture_, p in zip(pictures[:40], prepared[:40]):
        grey = np.asarray(Image.fromarray(picture_).convert("L").resize((84, 84), Image.Resampling.BOX))
        seen = np.zeros((84, 84), np.uint8) if p.image is None else \
            np.asarray(Image.fromarray(preprocess.to_uint8(p.image)).resize((84, 84), Image.Resampling.NEAREST))
        thumbs.append(np.concatenate([grey, seen], 1))
    rows = [np.concatenate(thumbs[i:i + 5], 1) for i in range(0, len(thumbs) - 4, 5)]
    Image.fromarray(np.concatenate(rows, 0)).save(folder / f"{condition}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="convscope-digits")
    parser.add_argument("--per", type=int, default=3, help="pictures per digit, font and condition")
    parser.add_argument("--numbers", type=int, default=200, help="4-digit numbers per number condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ref", default="HEAD", help="the previous release, as a git revision")
    parser.add_argument("--data", help="folder with mnist/ (default: $CONVSCOPE_DATA); without it no MNIST row")
    parser.add_argument("--save-grid", help="write each condition's pictures and inputs as PNGs to this folder")
    parser.add_argument("--ref-model", metavar="REV", help="also read with the shipped digit model of git revision REV")
    args = parser.parse_args()

    predictor = Predictor(ModelStore().load(args.model))
    recipes = {"new": preprocess, args.ref: previous_preprocess(args.ref)}
    sets, labels, fonts = digit_sets(args.per, args.seed)
    single = np.array([f != HOLLOW_FONT for f in fonts])
    print(f"model {args.model}; {len(labels)} digits per condition ({len(set(fonts))} fonts x 10 digits x "
          f"{args.per}), seed {args.seed}; previous release: {args.ref}; load average {os.getloadavg()[0]:.2f}")
    print(f"accuracy: a refusal is a miss; '6 fonts': without {HOLLOW_FONT} (hollow double outlines); "
          f"ms: preprocessing per picture, fastest of 3 runs, median over the pictures")
    print(f"{'condition':10} | {'accuracy':>15} | {'accuracy 6 fonts':>16} | {'refused':>13} | {'ms per digit':>13}")
    print(f"{'':10} | " + " | ".join(f"{'new':>6} {args.ref[:8]:>8}" for _ in range(2))
          + f" | {'new':>5} {args.ref[:7]:>7} | {'new':>5} {args.ref[:7]:>7}")
    prepared_new: dict[str, list] = {}  # each condition's digits as this preprocessing prepares them
    for condition in CONDITIONS:
        row = {}
        for name, recipe in recipes.items():
            prepared, times = read_digits(recipe, sets[condition], POLARITY.get(condition, "auto"))
            if name == "new":
                prepared_new[condition] = prepared
            right, refused = scores(predictor, prepared, labels)
            row[name] = (right.mean(), right[single].mean(), refused.mean(), statistics.median(times))
            if args.save_grid and name == "new":
                save_grid(Path(args.save_grid), condition, sets[condition], prepared)
        new, old = row["new"], row[args.ref]
        print(f"{condition:10} | {new[0]:6.1%} {old[0]:8.1%} | {new[1]:6.1%} {old[1]:8.1%} | "
              f"{new[2]:5.1%} {old[2]:7.1%} | {new[3]:5.2f} {old[3]:7.2f}")

    number_pictures, texts, wholes = {}, [], {}  # the numbers, and which of them the model read whole
    if args.numbers:
        number_pictures, texts, number_fonts = number_sets(args.numbers, args.seed)
        single = np.array([f != HOLLOW_FONT for f in number_fonts])
        print(f"\n{args.numbers} 4-digit numbers per condition, read by numbers.read_number ({args.ref} cannot read "
              f"numbers); ms: segmenting and preparing all digits; ms read: the whole reading with the model's answers "
              f"(a wide digit tried cut in two is read again)")
        print(f"{'condition':10} | {'read whole':>10} | {'whole, 6 fonts':>14} | {'digits right':>12} | "
              f"{'ms per number':>13} | {'ms read':>7}")
        for condition in NUMBER_CONDITIONS:
            read, times, reading_times = read_numbers(predictor, number_pictures[condition])
            whole = wholes[condition] = np.array([r == t for r, t in zip(read, texts)])
            digits = np.mean([sum(a == b for a, b in zip(r, t)) / 4 if len(r) == 4 else 0 for r, t in zip(read, texts)])
            print(f"{condition:10} | {whole.mean():10.1%} | {whole[single].mean():14.1%} | {digits:12.1%} | "
                  f"{statistics.median(times):13.2f} | {statistics.median(reading_times):7.1f}")

    if args.ref_model:
        compare_models(predictor, previous_model(args.ref_model), args, prepared_new, labels, fonts, number_pictures, texts,
                       wholes)

    mnist = mnist_check(predictor, recipes, args.data)
    if mnist:
        print("\nMNIST test set (10,000), read through each preprocessing (raw: the images as they are)")
        print(f"{'':10} | {'accuracy':>8} | {'refused':>7} | {'mean |change|':>13}")
        for name, (acc, refused, change) in mnist.items():
            print(f"{name[:10]:10} | {acc:8.2%} | {refused:7.2%} | {change:13.5f}")


def compare_models(predictor: Predictor, reference: Predictor, args, prepared_new: dict, labels, fonts, number_pictures: dict,
                   texts: list[str], wholes: dict) -> None:
    """The digits as this preprocessing prepared them (``prepared_new``) and the numbers, read by the shipped model of
    ``args.ref_model``, beside what ``args.model`` read above."""
    rev = args.ref_model[:8]
    single = np.array([f != HOLLOW_FONT for f in fonts])
    print(f"\nthe same digits through this preprocessing, read by {args.model} and by the shipped model of {rev}")
    print(f"{'condition':10} | {'accuracy':>15} | {'accuracy 6 fonts':>16} | {HOLLOW_FONT + ' only':>17}")
    print(f"{'':10} | " + " | ".join(f"{'new':>6} {rev:>8}" for _ in range(2)) + f" | {'new':>7} {rev:>9}")
    for condition, prepared in prepared_new.items():
        (a, _), (b, _) = scores(predictor, prepared, labels), scores(reference, prepared, labels)
        print(f"{condition:10} | {a.mean():6.1%} {b.mean():8.1%} | {a[single].mean():6.1%} {b[single].mean():8.1%} | "
              f"{a[~single].mean():7.1%} {b[~single].mean():9.1%}")
    if wholes:
        print(f"{'numbers':10} | {'read whole':>15}")
        for condition, whole in wholes.items():
            theirs = np.mean([r == t for r, t in zip(read_numbers(reference, number_pictures[condition])[0], texts)])
            print(f"{condition:10} | {whole.mean():6.1%} {theirs:8.1%}")
    mnist = mnist_check(reference, {"new": preprocess}, args.data)
    if mnist:
        print(f"MNIST test set through this preprocessing, the model of {rev}: {mnist['new'][0]:.2%}")


if __name__ == "__main__":
    main()
