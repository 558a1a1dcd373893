"""Sampler tests run single-threaded: their tensors are small (the Meta Sampler's bilevel steps
included), and on a shared 2-core machine intra-op threads only add contention."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_threaded():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
