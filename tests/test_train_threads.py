"""threads = 0: torch gets the cores the machine's load leaves free (at least one)."""
from __future__ import annotations

import pytest

from synthwb.train import trainer


@pytest.mark.parametrize("cores, load, headless, job", [
    (2, 0.1, 2, 1),     # idle 2-core box: both cores; a page's job leaves one for the app
    (2, 0.6, 1, 1),     # another process on a core
    (2, 4.8, 1, 1),     # a busy box: one thread, never zero
    (16, 3.4, 13, 13),  # a GPU box's CPU side with three busy cores
    (16, 0.0, 16, 15),
])
def test_auto_threads(monkeypatch, cores, load, headless, job):
    monkeypatch.setattr(trainer, "_cpu_count", lambda: cores)
    monkeypatch.setattr(trainer.os, "getloadavg", lambda: (load, load, load))
    assert trainer.auto_threads() == headless
    assert trainer.auto_threads(leave_one_core=True) == job


def test_without_a_load_average_every_core(monkeypatch):
    def missing():
        raise OSError("no load average")

    monkeypatch.setattr(trainer, "_cpu_count", lambda: 4)
    monkeypatch.setattr(trainer.os, "getloadavg", missing)
    assert trainer.auto_threads() == 4 and trainer.auto_threads(leave_one_core=True) == 3
