"""Hostile uploads while a class draws: a zip-bomb model and a huge image, sent while 5 browser sessions draw.

    .venv/bin/python bench/hostile_upload.py [--sessions 5] [--seconds 40]

1. Starts the app on a free loopback port (empty user model folder: the shipped defaults are used).
2. Opens ``--sessions`` Chromium sessions on the Draw page; each draws one-stroke digits with ~1 s between
   answers for ``--seconds`` (the load bench's sessions, ``bench/load.py``).
3. Meanwhile a visitor, in a context of its own: on the Models page uploads a real small model whose
   config.json is padded with ``--bomb-mb`` MB of spaces (a ~1.5 MB file that unpacks to 1.5 GB by default) and
   clicks "Check and add", then a 20 KB model whose config asks for a layer of 10^9 units (opened, and refused, by
   the sandbox process alone), then on the Convolution page uploads a PNG of ``--image-px`` x ``--image-px`` pixels
   (a ~200 KB file, 196 megapixels by default). Timed: the click (the file chosen, for the image, which has no
   button) -> the refusal on screen; for the model also from choosing the file.
4. Samples every 0.1 s the RSS of the server process alone and of its children (the sandbox that opens
   uploads) separately.

Targets: server RSS under 1.2 GB throughout, the drawings keep being answered, each refusal on
screen within 5 s, no errors. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    DATA_DEFAULT,
    Gate,
    goto_page,
    load_average,
    new_page,
    percentile,
    process_tree,
    session,
    wait_idle,
)
from harness.app import app_env, running_app  # noqa: E402
from harness.chromium import chromium_missing, launch  # noqa: E402

RSS_TARGET = 1.2 * 2**30
REFUSAL_TARGET_S = 5.0


def vm_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def zip_bomb(path: Path, pad_mb: int) -> Path:
    """A real, tiny Keras model whose config.json ends in ``pad_mb`` MB of spaces."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    good = path.with_name("good.keras")
    model.save(good)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "config.json":
                with target.open(name, "w") as out:  # streamed: the bench does not hold the padding either
                    out.write(content[:-1])
                    block = b" " * 2**20
                    for _ in range(pad_mb):
                        out.write(block)
                    out.write(b"}")
            else:
                target.writestr(name, content)
    return path


def gigabyte_layer(path: Path) -> Path:
    """A 20 KB model whose config asks Keras for a Dense layer of 10^9 units (3 TB of weights): only the sandbox
    process, not the server, ever tries to build it."""
    import keras

    small = path.with_name("small.keras")
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(30, name="wide"),
                      keras.layers.Dense(10, activation="softmax")]).save(small)
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            content = source.read(name)
            target.writestr(name, content.replace(b'"units": 30', b'"units": 1000000000') if name == "config.json"
                            else content)
    return path


def huge_png(path: Path, side: int) -> Path:
    from PIL import Image

    Image.new("L", (side, side), 0).save(path, optimize=True)
    return path


async def sample_rss(server_pid: int, stop: asyncio.Event, out: dict) -> None:
    while not stop.is_set():
        out["server"] = max(out["server"], vm_rss(server_pid))
        out["children"] = max(out["children"], sum(vm_rss(p) for p in process_tree(server_pid) if p != server_pid))
        await asyncio.sleep(0.1)  # the sampling period, not a synchronisation


async def refused(page, file: Path, section_label: str | None, says: str) -> tuple[float, float]:
    """Upload ``file`` on the open page; returns (seconds from choosing the file, seconds from the request to
    check it: the click on "Check and add" where there is one) until an error alert saying ``says`` is on screen."""
    if section_label:
        await page.locator("[data-testid='stButtonGroup']").get_by_text(section_label, exact=True).first.click()
        await wait_idle(page)
    start = asked = time.monotonic()
    await page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(str(file))
    button = page.get_by_role("button", name="Check and add")
    if await button.count():
        await wait_idle(page)
        asked = time.monotonic()
        await button.click()
    await page.locator("[data-testid='stAlertContentError']", has_text=says).first.wait_for(timeout=180_000)
    end = time.monotonic()
    return end - start, end - asked


async def upload_model(browser, url: str, file: Path, errors: list) -> tuple[float, float, str]:
    """A visitor of its own opens the Models page and uploads ``file``: (seconds from choosing it, seconds from
    the click, the refusal's text)."""
    context, page = await new_page(browser, url, "", f"visitor-{file.stem}", errors)
    try:
        await goto_page(page, "Models")
        total_s, click_s = await refused(page, file, "Upload", f"{file.name} was refused")
        text = await page.locator("[data-testid='stAlertContentError']", has_text=file.name).first.inner_text()
        if await page.locator("[data-testid='stException']").count():
            errors.append(f"visitor-{file.stem}: exception box")
        return total_s, click_s, text
    finally:
        await context.close()


async def upload_image(browser, url: str, image: Path, errors: list) -> tuple[float, str]:
    context, page = await new_page(browser, url, "", "visitor-image", errors)
    try:
        await goto_page(page, "Convolution")
        await page.locator("[data-testid='stButtonGroup']").get_by_text("Upload an image", exact=True).first.click()
        await wait_idle(page)
        image_s, _ = await refused(page, image, None, "megapixels")
        text = await page.locator("[data-testid='stAlertContentError']", has_text="megapixels").first.inner_text()
        if await page.locator("[data-testid='stException']").count():
            errors.append("visitor-image: exception box")
        return image_s, text
    finally:
        await context.close()


async def attack(browser, url: str, bomb: Path, wide: Path, image: Path, errors: list) -> dict:
    bomb_total_s, bomb_s, bomb_text = await upload_model(browser, url, bomb, errors)
    _, wide_s, wide_text = await upload_model(browser, url, wide, errors)
    image_s, image_text = await upload_image(browser, url, image, errors)
    return {"bomb_s": bomb_s, "bomb_total_s": bomb_total_s, "bomb_text": bomb_text, "image_s": image_s,
            "image_text": image_text, "wide_s": wide_s, "wide_text": wide_text}


async def run(args, url: str, server_pid: int, bomb: Path, wide: Path, image: Path) -> dict:
    from playwright.async_api import async_playwright

    errors: list[str] = []
    samples: list[dict] = []
    contexts: list = []
    session_args = argparse.Namespace(input="dom", timeout=30.0, think=args.think, artifacts=args.artifacts)
    async with async_playwright() as pw:
        browser = await launch(pw)
        gate, window = Gate(args.sessions), {"end": float("inf")}
        tasks = [asyncio.create_task(session(i, browser, url, session_args, gate, window, errors, samples, contexts))
                 for i in range(args.sessions)]
        await gate.all_ready.wait()
        rss = {"server": vm_rss(server_pid), "children": 0}
        rss_before = rss["server"]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server_pid, stop, rss))
        start = time.monotonic()
        window["end"] = start + args.seconds
        gate.go.set()
        attack_start = time.monotonic()
        result = await attack(browser, url, bomb, wide, image, errors)
        attack_end = time.monotonic()
        await asyncio.gather(*tasks)
        stop.set()
        await sampler
        for context in contexts:
            await context.close()
        await browser.close()
    during = [s for s in samples if s["ok"] and not s["warm_up"] and attack_start <= s["t"] <= attack_end]
    return {**result, "errors": errors, "samples": samples, "during": during, "rss": rss, "rss_before": rss_before,
            "window_s": time.monotonic() - start, "attack_s": attack_end - attack_start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--bomb-mb", type=int, default=1500)
    parser.add_argument("--image-px", type=int, default=14000)
    parser.add_argument("--artifacts", default=str(ROOT / "test-artifacts"))
    args = parser.parse_args()
    if missing := chromium_missing():
        sys.exit(missing)
    workdir = Path(tempfile.mkdtemp(prefix="convscope-hostile-"))
    (workdir / "models").mkdir()
    Path(args.artifacts).mkdir(exist_ok=True)
    bomb = zip_bomb(workdir / "bomb.keras", args.bomb_mb)
    wide = gigabyte_layer(workdir / "wide.keras")
    image = huge_png(workdir / "huge.png", args.image_px)
    print(f"zip bomb {bomb.stat().st_size / 2**20:.2f} MB (unpacks to {args.bomb_mb} MB); PNG {args.image_px}x{args.image_px} "
          f"{image.stat().st_size / 2**10:.0f} KB; load average {load_average()}", flush=True)
    with running_app(app_env(workdir / "models", data=DATA_DEFAULT), workdir / "streamlit.log") as (proc, url):
        out = asyncio.run(run(args, url, proc.pid, bomb, wide, image))
    ok = [s for s in out["samples"] if s["ok"] and not s["warm_up"]]
    lost = [s for s in out["samples"] if not s["ok"]]
    during = [s["latency"] for s in out["during"]]
    rows = [
        ("zip bomb: click on Check and add -> refusal on screen (s)", f"{out['bomb_s']:.2f}"),
        ("  from choosing the file (its upload and the page's rerun included)", f"{out['bomb_total_s']:.2f}"),
        ("  its message", out["bomb_text"].splitlines()[0][:140]),
        ("model asking for 3 TB: click -> refusal from the sandbox (s)", f"{out['wide_s']:.2f}"),
        ("  its message", out["wide_text"].splitlines()[0][:140]),
        ("huge PNG: choosing the file -> refusal on screen (s)", f"{out['image_s']:.2f}"),
        ("  its message", out["image_text"].splitlines()[0][:140]),
        ("server RSS before / peak (MiB)", f"{out['rss_before'] / 2**20:.0f} / {out['rss']['server'] / 2**20:.0f}"),
        ("sandbox process RSS peak (MiB)", f"{out['rss']['children'] / 2**20:.0f}"),
        (f"strokes answered: all / during the {out['attack_s']:.1f} s of the uploads", f"{len(ok)} / {len(during)}"),
        ("latency p50 / p95 all strokes (ms)", f"{percentile([s['latency'] for s in ok], 0.5):.0f} / "
                                               f"{percentile([s['latency'] for s in ok], 0.95):.0f}"),
        ("latency p50 / max during the uploads (ms)",
         f"{statistics.median(during):.0f} / {max(during):.0f}" if during else "none"),
        ("strokes lost or timed out", f"{len(lost)}"),
        ("errors in pages", f"{len(out['errors'])}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{args.sessions} sessions drawing ({args.think:g} s between answers) while one visitor uploads")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    for error in out["errors"][:10]:
        print(f"  error: {error}")
    missed = [name for name, bad in (
        ("server RSS", out["rss"]["server"] > RSS_TARGET),
        ("zip bomb refusal time", out["bomb_s"] > REFUSAL_TARGET_S),
        ("image refusal time", out["image_s"] > REFUSAL_TARGET_S),
        ("drawings answered during the uploads", not during),
        ("errors", bool(out["errors"] or lost)),
    ) if bad]
    print("targets: " + ("all met" if not missed else "MISSED: " + ", ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
