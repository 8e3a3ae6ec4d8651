"""Lateness samples: what stores keep of each run's lateness, and the windows status reads."""

from __future__ import annotations

import pytest

from dqueue.backends.lateness import LatenessSample, window


def test_a_sample_reads_back_what_it_encodes() -> None:
    sample = LatenessSample(at=1_764_230_400.125, seconds=0.1 + 0.2)
    assert LatenessSample.decode(sample.encode()) == sample
    assert LatenessSample.decode(sample.encode().encode()) == sample


@pytest.mark.parametrize("stored", [0.25, "0.25", b"0.25"])
def test_a_sample_stored_without_its_time_is_older_than_any_window(stored: object) -> None:
    sample = LatenessSample.decode(stored)
    assert sample == LatenessSample(at=0.0, seconds=0.25)
    assert window([sample], now=1_764_230_400.0, seconds=3600) == []


@pytest.mark.parametrize("stored", [None, True, [1, 2], "late"])
def test_anything_else_is_not_a_sample(stored: object) -> None:
    with pytest.raises(ValueError):
        LatenessSample.decode(stored)


def test_a_window_keeps_the_runs_that_started_within_it() -> None:
    now = 10_000.0
    samples = [
        LatenessSample(at=now - 3601, seconds=40.0),
        LatenessSample(at=now - 600, seconds=2.0),
        LatenessSample(at=now - 10, seconds=0.5),
    ]
    assert window(samples, now=now, seconds=300) == [0.5]
    assert window(samples, now=now, seconds=3600) == [2.0, 0.5]
