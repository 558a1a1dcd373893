"""A huge length never kills the process. Each case runs in a child process (so an
abort would show as a signal, not take the test run down): the child builds the sampler, takes
a few items with ``itertools.islice``, checks ``len`` and that the whole array is refused with
a ``MemoryError`` naming its size, and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import longtail
import pytest

# The children import the same longtail as the tests (the installed wheel in CI, not the sources).
PYTHON_DIR = str(Path(longtail.__file__).resolve().parents[1])

LABELS = "[0, 0, 0, 1, 1, 2]"

# name -> (constructor with N standing for the length, expected len(sampler) with N)
CASES = {
    "weighted": ("S.WeightedSampler([0.1, 0.9, 0.4], num_samples=N, seed=0)", "N"),
    "class_balanced": (f"S.ClassBalancedSampler({LABELS}, num_samples=N)", "N"),
    "class_aware": (f"S.ClassAwareSampler({LABELS}, 2, num_samples=N)", "N"),
    "class_aware_huge_k": (f"S.ClassAwareSampler({LABELS}, N, num_samples=N)", "N"),
    "power": (f"S.PowerSampler({LABELS}, 0.3, num_samples=N)", "N"),
    "square_root": (f"S.SquareRootSampler({LABELS}, num_samples=N)", "N"),
    "progressive": (f"S.ProgressivelyBalancedSampler({LABELS}, 5, num_samples=N)", "N"),
    "reversed": (f"S.ReversedSampler({LABELS}, num_samples=N)", "N"),
    "over": (f"S.RandomOverSampler({LABELS}, sampling_strategy={{0: N}})", "N + 3"),
    "over_sharded": (
        f"S.RandomOverSampler({LABELS}, {{0: N // 2, 2: N // 2}}, num_replicas=3, rank=2)",
        "-(-(N + 2) // 3)",
    ),
}

CHILD = """
import itertools, sys
import longtail.samplers as S
N = {n}
s = {make}
assert len(s) == {length}, (len(s), {length})
head = list(itertools.islice(iter(s), 5))
assert len(head) == 5 and all(type(i) is int and 0 <= i < 6 for i in head), head
assert s.state_dict()["yielded"] == 5
try:
    s.epoch_indices()
except MemoryError as err:
    assert "indices" in str(err), err
else:
    raise SystemExit("epoch_indices() of a huge epoch should raise MemoryError")
"""


def run_child(code: str) -> None:
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_huge_num_samples_streams_in_a_child_process(name):
    make, length = CASES[name]
    for n in (2**40, 2**62):
        run_child(CHILD.format(n=n, make=make, length=length))


def test_huge_repeat_factors_stream_in_a_child_process():
    # Each factor is below 4e9, so 300 images of 3.9e9 copies make an epoch above 2**40.
    run_child(
        """
        import itertools
        import longtail.samplers as S
        s = S.RepeatFactorSampler([3.9e9] * 300, rounding="ceil")
        assert len(s) == 300 * 3_900_000_000
        head = list(itertools.islice(iter(s), 5))
        assert all(0 <= i < 300 for i in head)
        try:
            s.epoch_indices()
        except MemoryError:
            pass
        else:
            raise SystemExit("expected MemoryError")
        """
    )


def test_lengths_past_2_pow_63_are_value_errors_in_a_child_process():
    run_child(
        f"""
        import longtail.samplers as S
        for make in (
            lambda: S.WeightedSampler([1.0], 2**63),
            lambda: S.ClassBalancedSampler({LABELS}, num_samples=2**64),
            lambda: S.RandomOverSampler({LABELS}, {{0: 2**62, 1: 2**62}}),
            lambda: S.RandomOverSampler({LABELS}, {{0: 2**63}}),
        ):
            try:
                make()
            except ValueError as err:
                assert "should " in str(err) and "but got" in str(err), err
            else:
                raise SystemExit("expected ValueError")
        """
    )


def test_huge_meta_sampler_batch_is_a_memory_error_in_a_child_process():
    # A batch is one list of batch_size ints, so a batch of 2**40 cannot be yielded: the
    # sampler builds, and drawing the batch raises MemoryError instead of aborting.
    run_child(
        f"""
        import itertools
        import longtail.samplers as S
        for n in (2**40, 2**62):
            s = S.MetaSampler({LABELS}, batch_size=n)
            assert len(s) == 1
            try:
                list(itertools.islice(iter(s), 1))
            except MemoryError as err:
                assert str(n) in str(err), err
            else:
                raise SystemExit("expected MemoryError")
        """
    )
