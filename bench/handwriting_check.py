"""Held-out check: how well a digit model reads handwriting-font digits drawn anywhere on the canvas.

    python bench/handwriting_check.py [--model convscope-digits] [--per 5] [--save-grid out.png]

Prints accuracy per font and overall, with MNIST-style preprocessing and with a naive resize,
side by side. Needs the Debian font packages listed in training/handwriting.py.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_store import preprocess  # noqa: E402
from model_store.inference import Predictor  # noqa: E402
from model_store.store import ModelStore  # noqa: E402
from training import handwriting  # noqa: E402


def check(model_name: str, per: int, seed: int = 0) -> dict:
    predictor = Predictor(ModelStore().load(model_name))
    items = handwriting.drawings(per, seed)
    if not items:
        raise SystemExit(f"no handwriting fonts found; install: apt-get install {handwriting.FONT_PACKAGES}")
    prepared = [preprocess.mnist_style(d.canvas) for d in items]
    # A drawing the Draw page would refuse (empty, or so bold it fills its box) counts as a miss.
    refused = np.array([p.status != "ok" for p in prepared])
    blank = np.zeros((28, 28), np.float32)
    mnist = np.stack([blank if p.image is None else p.image for p in prepared])
    naive = np.stack([blank if r else preprocess.naive_resize(d.canvas).image for d, r in zip(items, refused)])
    labels = np.array([d.label for d in items])
    hits = {"mnist-style": (predictor.probabilities(mnist).argmax(1) == labels) & ~refused,
            "naive": (predictor.probabilities(naive).argmax(1) == labels) & ~refused}
    per_font = defaultdict(dict)
    for way, ok in hits.items():
        for font in sorted({d.font for d in items}):
            mask = np.array([d.font == font for d in items])
            per_font[font][way] = float(ok[mask].mean())
    return {"n": len(items), "refused": int(refused.sum()), "overall": {w: float(ok.mean()) for w, ok in hits.items()},
            "per_font": dict(per_font),
            "images": mnist, "labels": labels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="convscope-digits")
    parser.add_argument("--per", type=int, default=5, help="drawings per digit and font")
    parser.add_argument("--save-grid", help="write the preprocessed inputs as one PNG")
    args = parser.parse_args()
    result = check(args.model, args.per)
    print(f"model {args.model}: {result['n']} handwriting-font digits, random size/place/slant/weight; "
          f"{result['refused']} refused by the Draw page's checks (counted as misses)")
    print(f"{'font':16} {'MNIST-style':>12} {'naive':>8}")
    for font, acc in result["per_font"].items():
        print(f"{font:16} {acc['mnist-style']:12.1%} {acc['naive']:8.1%}")
    o = result["overall"]
    print(f"{'overall':16} {o['mnist-style']:12.1%} {o['naive']:8.1%}")
    if args.save_grid:
        from PIL import Image

        imgs = result["images"][:200]
        rows = [np.concatenate(list(imgs[i:i + 20]), 1) for i in range(0, len(imgs) - 19, 20)]
        Image.fromarray(preprocess.to_uint8(np.concatenate(rows, 0))).save(args.save_grid)


if __name__ == "__main__":
    main()
