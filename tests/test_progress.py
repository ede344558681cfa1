"""Progress events: no rate or ETA until the rate is measured; the slow first batch does not count."""

import pytest

from labelaudit.core.errors import Cancelled
from labelaudit.core.progress import RunContext


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def run_stage(batches, *, total, rate_after_s=1.0):
    """Advance a stage by (seconds, units) steps on a fake clock; returns the events."""
    clock, events = FakeClock(), []
    ctx = RunContext(on_progress=events.append, min_interval_s=0, rate_after_s=rate_after_s, clock=clock)
    with ctx.stage("scoring", total) as stage:
        for seconds, units in batches:
            clock.now += seconds
            stage.advance(units)
    return events


def test_no_eta_until_a_second_of_progress_was_measured():
    # 10 units per batch, 0.25 s each: the rate is known only once 1 s has passed since the first batch
    events = run_stage([(0.25, 10)] * 20, total=200)
    assert events[0].done == 0 and events[0].rate is None and events[0].eta_s is None
    early = [e for e in events if e.done <= 40]  # done=10 at t=0.25 (first) ... done=50 at t=1.25
    assert early and all(e.rate is None and e.eta_s is None for e in early)
    measured = next(e for e in events if e.rate is not None)
    assert measured.done == 50
    assert measured.rate == pytest.approx(40.0)  # 40 units in the 1.0 s after the first batch
    assert measured.eta_s == pytest.approx(150 / 40.0)


def test_a_slow_first_batch_does_not_inflate_the_estimate():
    # a cold start: the first batch takes 10 s (loading the model), the rest run at 100 units/s
    events = run_stage([(10.0, 10)] + [(0.1, 10)] * 30, total=310)
    measured = [e for e in events if e.eta_s is not None and e.done < e.total]
    assert measured[0].rate == pytest.approx(100.0)
    # every estimate matches the time really left at the steady rate
    for e in measured:
        assert e.eta_s == pytest.approx((310 - e.done) / 100.0)


def test_stalled_progress_gives_no_rate_and_cancel_stops_between_batches():
    clock, events = FakeClock(), []
    ctx = RunContext(on_progress=events.append, min_interval_s=0, clock=clock)
    with pytest.raises(Cancelled):
        with ctx.stage("scoring", 100) as stage:
            stage.advance(5)
            clock.now += 3.0
            stage.advance(0)  # time passes, nothing done: no rate can be measured
            assert events[-1].rate is None and events[-1].eta_s is None
            ctx.cancel()
            stage.advance(5)
    assert events[-1].done == 10


def test_events_are_throttled_but_the_last_one_always_arrives():
    clock, events = FakeClock(), []
    ctx = RunContext(on_progress=events.append, min_interval_s=0.5, clock=clock)
    with ctx.stage("scoring", 100) as stage:
        for _ in range(100):
            clock.now += 0.01
            stage.advance(1)
    assert events[-1].done == 100
    assert len(events) <= 4  # start, two throttled updates over 1 s, the end
