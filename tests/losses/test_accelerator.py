"""The tch accelerator (``longtail_tch``, libtorch ops) against the CPU kernel, on CPU tensors:
every family and reduction, the label and NaN errors. Skipped where the accelerator is not
installed for this torch (only torch 2.13 has it)."""

from __future__ import annotations

import pytest
import torch
from longtail import _accelerator
from longtail.exceptions import InvalidArgumentError, OutOfRangeError
from losses.test_fallback import (
    DTYPES,
    TOL,
    _bad_calls,
    _cuda_calls,
    _nan_calls,
    kernel,
)

accelerator = _accelerator.module()
pytestmark = pytest.mark.skipif(
    accelerator is None, reason=f"the accelerator is {_accelerator.status()[1]}"
)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_family_matches_kernel(dtype):
    for name, args, kw in _cuda_calls(dtype):
        want = kernel(name, *args, **kw)
        got = getattr(accelerator, name)(*args, **kw)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype and g.device == w.device
            torch.testing.assert_close(g.reshape(w.shape), w, **TOL[dtype])


@pytest.mark.parametrize(("name", "args", "kw"), list(_bad_calls()))
def test_out_of_range_label_raises_the_kernels_error(name, args, kw):
    with pytest.raises(OutOfRangeError):
        kernel(name, *args, **kw)
    with pytest.raises(OutOfRangeError, match="but got"):
        getattr(accelerator, name)(*args, **kw)


@pytest.mark.parametrize(("name", "args", "kw"), list(_nan_calls()))
def test_nan_logits_raise_on_cpu(name, args, kw):
    with pytest.raises(InvalidArgumentError, match="NaN"):
        getattr(accelerator, name)(*args, **kw)


def test_errors_are_longtail_classes():
    """The accelerator's errors are longtail's classes (declared once, in Python)."""
    with pytest.raises(InvalidArgumentError, match="reduction"):
        accelerator.softmax_loss(torch.zeros(2, 3), torch.tensor([0, 1]), reduction="avg")
