"""model_store.slots: at most N holders across threads and processes, a holder that dies frees its slot, a waiter
gets in when a slot is released, and the holders say who they are."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from model_store import slots

ROOT = Path(__file__).resolve().parents[3]


def test_one_holder_at_a_time_until_it_releases(tmp_path):
    lock = tmp_path / ".thing.lock"
    first = slots.take(lock)
    assert first is not None and first.held and lock.is_file()
    assert slots.take(lock) is None  # another thread or open file is refused at once
    first.release()
    first.release()  # twice is harmless
    with slots.take(lock) as second:
        assert second.held
    assert not second.held and slots.take(lock) is not None


def test_n_slots_let_n_holders_in_and_say_who_holds_them(tmp_path):
    files = slots.slot_files(tmp_path, "work", 2)
    assert [f.name for f in files] == [".work-0.lock", ".work-1.lock"]
    a, b = slots.take(files), slots.take(files)
    assert {a.path, b.path} == set(files)
    assert slots.take(files) is None
    a.describe("first")
    b.describe("second, a longer text than the first")
    assert sorted(slots.holders(files)) == ["first", "second, a longer text than the first"]
    b.describe("short")
    assert sorted(slots.holders(files)) == ["first", "short"]
    a.release()
    assert slots.holders(files) == ["short"]
    assert files[0].read_text() == ""  # a released slot says nothing
    assert slots.take(files).path == files[0]


def test_holders_of_files_never_made_are_none(tmp_path):
    assert slots.holders(slots.slot_files(tmp_path, "nothing", 3)) == []


def test_a_waiter_gets_in_when_the_holder_releases(tmp_path):
    lock = tmp_path / ".thing.lock"
    held = slots.take(lock)
    threading.Timer(0.3, held.release).start()
    start = time.monotonic()
    waiter = slots.take(lock, wait_seconds=10)
    assert waiter is not None and 0.2 < time.monotonic() - start < 5
    start = time.monotonic()
    assert slots.take(lock, wait_seconds=0.3) is None  # still held: refused once the wait is over
    assert time.monotonic() - start >= 0.3


def test_a_holder_killed_by_sigkill_frees_its_slot_and_another_process_is_refused_while_it_lives(tmp_path):
    lock = tmp_path / ".thing.lock"
    code = ("import sys, time; from model_store import slots\n"
            "slot = slots.take(sys.argv[1]); slot.describe('the child'); print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(lock)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline().strip() == "held"
        assert slots.take(lock) is None
        assert slots.holders([lock]) == ["the child"]
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert slots.take(lock, wait_seconds=5) is not None  # the kernel released it with the process
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stdout.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_read_only_folder_still_takes_slots_on_files_that_exist(tmp_path):
    lock = tmp_path / ".thing.lock"
    lock.touch()
    tmp_path.chmod(0o555)
    lock.chmod(0o444)
    try:
        slot = slots.take(lock)
        assert slot is not None and slots.take(lock) is None
        slot.describe("cannot write")  # mute, never an error
        slot.release()
        with pytest.raises(OSError):
            slots.take(tmp_path / ".new.lock")
    finally:
        tmp_path.chmod(0o755)
