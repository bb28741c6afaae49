"""The forward test's clocks: wall time, or a simulated clock over stored history.

A clock gives ``now`` (int64 UTC ns) and waits until an event time:

- :class:`WallClock`: real time; a wait sleeps at most ``poll_s`` (new bars may arrive, a
  stop may be asked for) and returns the new now.
- :class:`SimClock`: starts at the replay's start and only moves when the loop waits. With
  ``speed`` 0 it jumps straight to the next event (as fast as possible); otherwise it moves
  ``speed`` simulated seconds per wall second, sleeping in short slices so a stop is seen
  within a fraction of a second. Its position is saved in the state, so a resumed replay goes
  on from where it stopped.

The loop never reads a bar that opens after ``now`` for a forecast, nor a realised price
before the close that carries it, so a replay over stored history sees what a live run would
have seen.
"""
from __future__ import annotations

import threading
import time

NS = 1_000_000_000

__all__ = ["SimClock", "WallClock", "make_clock"]


class WallClock:
    simulated = False

    def __init__(self, poll_s: float = 2.0):
        self.poll_s = float(poll_s)

    def now(self) -> int:
        return time.time_ns()

    def wait_until(self, t_ns: int | None, stop: threading.Event) -> int:
        left = self.poll_s if t_ns is None else min(self.poll_s, max(0.0, (t_ns - self.now()) / NS))
        stop.wait(max(left, 0.01))
        return self.now()


class SimClock:
    simulated = True

    def __init__(self, now_ns: int, speed: float = 0.0, slice_s: float = 0.2):
        self._now = int(now_ns)
        self.speed = float(speed)
        self.slice_s = slice_s

    def now(self) -> int:
        return self._now

    def wait_until(self, t_ns: int | None, stop: threading.Event) -> int:
        if t_ns is None or t_ns <= self._now:
            return self._now
        if self.speed <= 0:
            self._now = int(t_ns)
            return self._now
        while self._now < t_ns and not stop.is_set():
            wall = min(self.slice_s, (t_ns - self._now) / NS / self.speed)
            t0 = time.monotonic()
            stop.wait(wall)
            self._now = min(int(t_ns), self._now + int((time.monotonic() - t0) * self.speed * NS))
        return self._now


def make_clock(kind: str, now_ns: int, speed: float = 0.0, poll_s: float = 2.0):
    return SimClock(now_ns, speed) if kind == "simulated" else WallClock(poll_s)
