"""Lateness samples: what stores keep of each run's lateness, and the windows status reads."""

from __future__ import annotations

import pytest

from dqueue.backends.lateness import LatenessSample


def test_a_sample_reads_back_what_it_encodes() -> None:
    sample = LatenessSample(at=1_764_230_400.125, seconds=0.1 + 0.2)
    assert LatenessSample.decode(sample.encode()) == sample
    assert LatenessSample.decode(sample.encode().encode()) == sample


@pytest.mark.parametrize("stored", [0.25, "0.25", b"0.25"])
def test_a_sample_stored_without_its_time_is_older_than_any_window(stored: object) -> None:
    assert LatenessSample.decode(stored) == LatenessSample(at=0.0, seconds=0.25)


@pytest.mark.parametrize("stored", [None, True, [1, 2], "late"])
def test_anything_else_is_not_a_sample(stored: object) -> None:
    with pytest.raises(ValueError):
        LatenessSample.decode(stored)
