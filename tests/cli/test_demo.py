"""``longtail demo``: the quick comparison end to end, determinism, and the CIFAR-100-LT path
through a torchvision-like fake."""

from __future__ import annotations

import io
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from longtail.cli import main

demo = pytest.importorskip("longtail.cli.demo")
pytest.importorskip("sklearn")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def parse_table(out: str) -> dict[str, list[float]]:
    rows = {}
    for line in out.splitlines():
        for name in demo.METHODS:
            cells = line[len(name) :].split()
            if line.startswith(name + " ") and cells and cells[0][0] in "0123456789-":
                rows[name] = [math.nan if v == "-" else float(v) for v in cells[:4]]
    return rows


def test_demo_quick(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    status = main(["demo", "--quick", "--out-dir", str(tmp_path), "--no-progress"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "many-shot: n > " in out and "scaled by n_max/500" in out
    table = parse_table(out)
    assert list(table) == list(demo.METHODS)
    ce_few = table["CE"][3]
    for name in demo.BALANCED_METHODS:
        assert table[name][3] > ce_few, f"{name} few-shot {table[name][3]} <= CE {ce_few}"
    for name in ("digits_lt_classes.png", "digits_lt_per_class_accuracy.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC


def test_demo_is_deterministic_for_a_seed() -> None:
    data = demo.load_digits(imbalance_ratio=50, seed=3)
    cfg = demo.Config(epochs=3, batch_size=32, lr=0.05, crt_epochs=1, progress=False)
    methods = ("CE", "CB sampling", "LDAM-DRW", "cRT", "tau-norm")
    a = demo.run_once(data, cfg, seed=3, methods=methods)
    b = demo.run_once(data, cfg, seed=3, methods=methods)
    c = demo.run_once(data, cfg, seed=4, methods=methods)
    assert list(a) == list(methods)
    for name in methods:
        torch.testing.assert_close(a[name]["per_class"], b[name]["per_class"], equal_nan=True)
    assert any(not torch.equal(a[m]["per_class"], c[m]["per_class"]) for m in methods)


def test_digits_split() -> None:
    data = demo.load_digits(imbalance_ratio=100, seed=0)
    assert data.class_counts[0] == 104 and data.class_counts[-1] == 1
    assert (np.diff(data.class_counts) <= 0).all()
    assert np.bincount(data.y_test.numpy()).tolist() == [50] * 10
    assert np.bincount(data.y_val.numpy()).tolist() == [20] * 10
    assert (data.many, data.few) == (21, 4)
    # The three splits are disjoint images.
    rows = {tuple(r) for r in data.x_test.numpy().round(4)}
    assert not any(tuple(r) in rows for r in data.x_val.numpy().round(4)[:50])


def test_progress_bar_prints_once_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = demo.ProgressBar(3, "CE", stream)
    for _ in range(3):
        bar.update(1, "loss 0.1")
    bar.close()
    text = stream.getvalue()
    assert text.count("\n") == 1 and "[########################] 3/3 epochs" in text


class FakeCIFAR100:
    """torchvision's CIFAR100 interface with 20 training and 10 test images per class."""

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        per_class = 20 if train else 10
        rng = np.random.default_rng(int(train))
        self.targets = np.repeat(np.arange(100), per_class).tolist()
        self.data = rng.integers(0, 256, size=(len(self.targets), 32, 32, 3), dtype=np.uint8)
        self.classes = [str(c) for c in range(100)]


def test_demo_cifar100_path(capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(CIFAR100=FakeCIFAR100))
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    status = main(
        [
            "demo",
            "--data",
            "cifar100",
            "--root",
            str(tmp_path),
            "--epochs",
            "1",
            "--runs",
            "1",
            "--out-dir",
            "",
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "CIFAR-100-LT" in out and "many-shot: n > 100, few-shot: n < 20" in out
    assert list(parse_table(out)) == list(demo.METHODS)


def test_demo_cifar100_without_torchvision(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    status = main(["demo", "--data", "cifar100", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert "CIFAR100LT needs torchvision" in err and "longtail[vision]" in err


def test_examples_demo_re_exports_the_cli_demo(capsys) -> None:
    from longtail.examples import demo as old

    for name in old.__all__:
        assert getattr(old, name) is getattr(demo, name), name
    with pytest.raises(SystemExit) as exit_info:  # `python -m longtail.examples.demo --help`
        old.main(["--help"])
    assert exit_info.value.code == 0
    assert "--quick" in capsys.readouterr().out
