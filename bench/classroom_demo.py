"""How long the Train page's classroom demo settings take to reach 97% MNIST test accuracy on this machine.

    CONVSCOPE_DATA=/work/shared/datasets python bench/classroom_demo.py [--runs 1]

The demo runs as the Train page runs it: a ``TrainingJob`` with ``training.defaults.classroom_demo``, in a training
process of its own (``isolated=True``: Python and TensorFlow start and the data is read in that process, every
time). Printed: the settings, and per run the time from Start to the test accuracy being known (process start,
data, training, evaluation on the 10,000 test images), the fit time alone, the epochs, and the test accuracy.
Target: test accuracy >= 97% in <= 120 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import jobs  # noqa: E402
from training.defaults import classroom_demo  # noqa: E402


def epoch_text(epoch: dict) -> str:
    """One epoch of the demo: its validation accuracy where there was a validation split, and its seconds."""
    val = epoch.get("val_accuracy", math.nan)
    return f"epoch {epoch['epoch']:g}: " + ("" if math.isnan(val) else f"val {val:.2%}, ") + f"{epoch['seconds']:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    config = classroom_demo("mnist")
    print(f"classroom demo: {config.preset}, {config.subset} training images, {config.epochs} epochs, batch "
          f"{config.batch_size}, {config.optimizer} lr {config.learning_rate}, validation {config.validation_split}; "
          f"{os.cpu_count()} CPU cores")
    for run in range(args.runs):
        start = time.perf_counter()
        job = jobs.TrainingJob(config, isolated=True).start()
        job.wait()
        seconds = time.perf_counter() - start
        s = job.snapshot()
        assert s.status == "finished", (s.status, s.message)
        per_epoch = ", ".join(epoch_text(h) for h in s.history)
        verdict = "OK" if s.evaluation.accuracy >= 0.97 and seconds <= 120 else "MISSED"
        print(f"run {run + 1}: {seconds:.1f} s from Start to test accuracy {s.evaluation.accuracy:.2%} "
              f"(fit {job.result.seconds:.1f} s) [{per_epoch}] -> {verdict} (target >= 97% in <= 120 s)", flush=True)


if __name__ == "__main__":
    main()
