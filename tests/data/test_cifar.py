"""CIFAR10LT and CIFAR100LT through a torchvision-like fake (torchvision is an optional extra;
longtail/data/cifar.py)."""

from __future__ import annotations

import sys
import types
from typing import ClassVar

import numpy as np
import pytest
from longtail.data import CIFAR10LT, CIFAR100LT, long_tailed_counts, long_tailed_subset


class FakeCIFAR:
    """The parts of torchvision's CIFAR datasets the wrappers use: ``data``, ``targets``,
    ``classes`` and ``__getitem__``; each image is its original index, to trace the selection."""

    num_classes = 10
    calls: ClassVar[list] = []

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        type(self).calls.append((root, train, download))
        per_class = 5000 if train else 1000
        per_class = per_class * 10 // self.num_classes
        rng = np.random.default_rng(0)
        self.targets = rng.permutation(np.repeat(np.arange(self.num_classes), per_class)).tolist()
        self.data = np.arange(len(self.targets), dtype=np.int64)[:, None]
        self.classes = [f"class{c}" for c in range(self.num_classes)]
        self.transform = transform

    def __getitem__(self, index):
        image = self.data[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]


class FakeCIFAR100(FakeCIFAR):
    num_classes = 100


@pytest.fixture
def fake_torchvision(monkeypatch: pytest.MonkeyPatch):
    datasets = types.SimpleNamespace(CIFAR10=FakeCIFAR, CIFAR100=FakeCIFAR100)
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(datasets=datasets))
    FakeCIFAR.calls.clear()
    return datasets


def test_cifar10_lt_subsets_train_split(fake_torchvision) -> None:
    train = CIFAR10LT("root", imbalance_ratio=100, download=True, transform=lambda x: x * 10)
    assert FakeCIFAR.calls == [("root", True, True)]
    assert len(train) == 12406
    assert train.class_counts.tolist() == long_tailed_counts(10, 100, 5000)
    original = FakeCIFAR("root")
    expected = long_tailed_subset(original.targets, 100, seed=0)
    np.testing.assert_array_equal(train.indices, expected)
    np.testing.assert_array_equal(train.dataset.data[:, 0], expected)
    assert train.targets == np.asarray(original.targets)[expected].tolist()
    image, target = train[5]
    assert int(image[0]) == 10 * expected[5] and target == original.targets[expected[5]]
    assert train.classes[0] == "class0"
    assert "CIFAR10LT(split=train, imbalance_ratio=100" in repr(train)


def test_cifar_lt_test_split_stays_balanced(fake_torchvision) -> None:
    test = CIFAR100LT("root", imbalance_ratio=100, train=False)
    assert len(test) == 10000
    assert set(test.class_counts.tolist()) == {100}


def test_cifar100_lt_total_and_seed(fake_torchvision) -> None:
    a = CIFAR100LT("root", imbalance_ratio=100, seed=0)
    b = CIFAR100LT("root", imbalance_ratio=100, seed=1)
    step = CIFAR100LT("root", imbalance_ratio=10, profile="step")
    assert len(a) == len(b) == 10847
    assert not np.array_equal(a.indices, b.indices)
    assert step.class_counts.tolist() == [500] * 50 + [50] * 50


def test_cifar_lt_missing_torchvision_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` fail
    with pytest.raises(ImportError, match=r"CIFAR10LT needs torchvision.*longtail\[vision\]"):
        CIFAR10LT("root")


def test_cifar_lt_checks_arguments_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ValueError, match="imbalance_ratio should be a finite number >= 1"):
        CIFAR100LT("root", imbalance_ratio=0.01)
    with pytest.raises(ValueError, match="profile should be one of 'exp', 'step'"):
        CIFAR100LT("root", profile="pareto")
