"""Open an untrusted model file in a process of its own, with its memory, CPU and time bounded.

A model file is a recipe the loader follows: a tiny config can ask Keras for a layer of a billion units,
20,000 layers, or a zip that inflates to gigabytes. None of that may reach the server, which thirty
pupils share. So the server only reads the file's headers (``upload.check_container``); everything that
inflates, builds or runs the model happens here, in a child process that:

- has an address-space limit (``RLIMIT_AS``) and a CPU-time limit, and is killed after a wall-clock timeout;
- runs at a lower priority on one thread, so the pages keep their cores;
- writes back only a re-saved copy of the model (Keras' own serialisation of what it loaded, so the file that
  enters the store is one our Keras wrote) and a small JSON result.

One check runs at a time per store folder (a slot, ``model_store.slots``), so a class uploading at once queues instead of
starting thirty processes. Run as ``python -m model_store.sandbox WORK_FOLDER`` by ``open_untrusted``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_store import slots
from model_store.refusal import Notice, Refusal
from model_store.upload import UploadError

ROOT = Path(__file__).resolve().parent.parent
REQUEST, RESULT, UPLOAD, TEST_SET, CHECKED, LOG = (
    "request.json", "result.json", "upload.bin", "test.npz", "checked.keras", "child.log")
SLOT_LOCK = ".sandbox.lock"
MAX_RESULT_BYTES = 1024 * 1024
CHILD_NICE = 10
PR_SET_PDEATHSIG = 1  # Linux prctl: the signal this process gets when its parent dies


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096  # address space: TensorFlow alone maps ~2.4 GB of it, and uses ~0.9 GB of RAM
    seconds: int = 120  # load, check and score 10,000 test images on one thread
    queue_seconds: int = 60  # how long an upload waits for another one's check to end


@dataclass
class Opened:
    model_file: Path  # the checked model, saved again by Keras, inside the work folder
    meta: dict
    notes: list[Notice]


def _child_env() -> dict:
    env = dict(os.environ)
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1",
               TF_NUM_INTEROP_THREADS="1", MALLOC_ARENA_MAX="2", PYTHONPATH=str(ROOT))
    return env


def open_untrusted(data: bytes, filename: str, dataset: str, class_names: list[str], work: Path,
                   test: tuple[np.ndarray, np.ndarray] | None = None, limits: Limits | None = None) -> Opened:
    """Check ``data`` (an uploaded model file) in a bounded child process; score it on ``test`` (uint8 images,
    labels) when given. Returns the checked copy, its metadata and notes, or raises ``UploadError``."""
    limits = limits or Limits()
    (work / UPLOAD).write_bytes(data)
    if test is not None:
        np.savez(work / TEST_SET, images=test[0], labels=test[1])
    request = {"filename": filename, "dataset": dataset, "class_names": list(class_names),
               "memory_mb": limits.memory_mb, "seconds": limits.seconds, "server": os.getpid()}
    (work / REQUEST).write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    slot = slots.take(work.parent / SLOT_LOCK, limits.queue_seconds)
    if slot is None:
        raise UploadError("upload_busy")
    with slot, open(work / LOG, "wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "model_store.sandbox", str(work)], cwd=ROOT, env=_child_env(),
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = child.wait(timeout=limits.seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise UploadError("upload_timeout", seconds=limits.seconds) from None
    return _result(work, code, limits)


def _result(work: Path, code: int, limits: Limits) -> Opened:
    path = work / RESULT
    if not path.is_file() or path.stat().st_size > MAX_RESULT_BYTES:
        tail = (work / LOG).read_bytes()[-4000:].decode("utf-8", "replace") if (work / LOG).exists() else ""
        if code == -signal.SIGXCPU:
            raise UploadError("upload_timeout", seconds=limits.seconds)
        if "bad_alloc" in tail or "MemoryError" in tail or "Resource exhausted" in tail or code == -signal.SIGKILL:
            raise UploadError("upload_out_of_memory", limit_mb=limits.memory_mb)
        raise UploadError("upload_crashed", detail=f"exit code {code}")
    result = json.loads(path.read_text(encoding="utf-8"))
    if "refusal" in result:
        raise UploadError(result["refusal"], **result["values"])
    return Opened(model_file=work / CHECKED, meta=result["meta"],
                  notes=[Notice(note["code"], **note["values"]) for note in result["notes"]])


# ---- the child ---------------------------------------------------------------------------------------------
def _bound_self(memory_mb: int, seconds: int, server: int) -> None:
    """Limits on this child, and its end with the server's: a killed server leaves no check running (the next store
    then removes the work folder, which nothing writes into any more)."""
    import ctypes
    import resource

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server:  # the server died before the line above took effect
        os._exit(1)
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)


def _check(work: Path, request: dict) -> dict:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from model_store.scores import score
    from model_store.upload import validate_upload

    checked = validate_upload((work / UPLOAD).read_bytes(), request["filename"], request["dataset"],
                              request["class_names"])
    meta = checked.meta
    if (work / TEST_SET).is_file():
        with np.load(work / TEST_SET, allow_pickle=False) as test:
            report = score(checked.model, test["images"], test["labels"], request["class_names"])
        meta.update(test_accuracy=report["accuracy"], test_loss=report["loss"],
                    per_class_accuracy=report["per_class_accuracy"], confusion_matrix=report["confusion_matrix"])
    checked.model.save(work / CHECKED)
    return {"meta": meta, "notes": [note.as_record() for note in checked.notes]}


def main(argv: list[str]) -> int:
    work = Path(argv[0])
    request = json.loads((work / REQUEST).read_text(encoding="utf-8"))
    _bound_self(request["memory_mb"], request["seconds"], request["server"])
    try:
        result = _check(work, request)
    except Refusal as exc:
        result = {"refusal": exc.code, "values": exc.values}
    except MemoryError:
        result = {"refusal": "upload_out_of_memory", "values": {"limit_mb": request["memory_mb"]}}
    except Exception as exc:  # TensorFlow's own errors for absurd models (a layer of 10^12 weights)
        text = f"{type(exc).__name__}: {exc}"
        if "alloc" in text.lower() or "resource exhausted" in text.lower() or "out of memory" in text.lower():
            result = {"refusal": "upload_out_of_memory", "values": {"limit_mb": request["memory_mb"]}}
        else:
            result = {"refusal": "upload_cannot_run", "values": {"detail": text.splitlines()[0][:200]}}
    (work / RESULT).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
