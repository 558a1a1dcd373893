"""The ``longtail`` command line: stats and eval end to end, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from longtail.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def labels_npy(tmp_path: Path) -> Path:
    counts = [500, 120, 100, 40, 20, 19, 3]
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(0).shuffle(labels)
    path = tmp_path / "train.npy"
    np.save(path, labels)
    return path


def test_stats_labels_file_and_plot(capsys, labels_npy: Path, tmp_path: Path) -> None:
    plot = tmp_path / "classes.png"
    status, out, err = run_cli(capsys, "stats", labels_npy, "--plot", plot)
    assert status == 0 and err == ""
    assert "labels file" in out
    assert out.splitlines()[1].split() == ["classes", "7"]
    assert out.splitlines()[2].split() == ["samples", "802"]
    assert "imbalance ratio (max / min)" in out and "166.67" in out
    assert "many classes (n > 100)" in out and "few classes (n < 20)" in out
    assert plot.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {plot}" in out


def test_stats_thresholds_and_text_formats(capsys, tmp_path: Path) -> None:
    (tmp_path / "y.txt").write_text("\n".join(["0"] * 30 + ["1"] * 5 + ["2"]) + "\n")
    status, out, _ = run_cli(capsys, "stats", tmp_path / "y.txt", "--many", "10", "--few", "2")
    assert status == 0
    assert "many classes (n > 10)" in out and "few classes (n < 2)" in out
    (tmp_path / "y.csv").write_text("file,target\na,0\nb,0\nc,1\n")
    status, out, _ = run_cli(capsys, "stats", tmp_path / "y.csv")
    assert status == 0 and "imbalance ratio (max / min)" in out and "2.00" in out


def test_stats_image_folder(capsys, tmp_path: Path) -> None:
    for name, n in [("cat", 4), ("dog", 2)]:
        (tmp_path / name).mkdir()
        for i in range(n):
            (tmp_path / name / f"{i}.png").write_bytes(b"")
    status, out, _ = run_cli(capsys, "stats", tmp_path)
    assert status == 0
    assert "ImageFolder directory, 2 class sub-directories" in out
    assert "2.00" in out


def test_stats_lvis_and_inaturalist_json(capsys, tmp_path: Path) -> None:
    images = [
        {"id": i, "neg_category_ids": [], "not_exhaustive_category_ids": []} for i in range(1, 131)
    ]
    anns = [{"id": i, "image_id": i, "category_id": 1 if i <= 120 else 2} for i in range(1, 131)]
    cats = [{"id": 1, "name": "a", "frequency": "f"}, {"id": 2, "name": "b", "frequency": "r"}]
    (tmp_path / "lvis.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats})
    )
    status, out, _ = run_cli(capsys, "stats", tmp_path / "lvis.json")
    assert status == 0
    assert "LVIS annotations" in out
    assert "frequent classes (n > 100)" in out and "rare classes (n < 11)" in out

    inat = {
        "images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(6)],
        "annotations": [{"image_id": i, "category_id": int(i > 3)} for i in range(6)],
        "categories": [{"id": 0}, {"id": 1}],
    }
    (tmp_path / "train2018.json").write_text(json.dumps(inat))
    status, out, _ = run_cli(capsys, "stats", tmp_path / "train2018.json")
    assert status == 0 and "iNaturalist annotations" in out and "2.00" in out


def test_eval(capsys, labels_npy: Path, tmp_path: Path) -> None:
    targets = np.repeat(np.arange(7), 10)
    preds = targets.copy()
    preds[targets == 6] = 0  # the few-shot class 6 (3 training images) is always wrong
    preds[:5] = 1  # half of class 0 wrong
    np.save(tmp_path / "preds.npy", preds)
    np.save(tmp_path / "targets.npy", targets)
    plot = tmp_path / "acc.png"
    status, out, err = run_cli(
        capsys,
        "eval",
        tmp_path / "preds.npy",
        tmp_path / "targets.npy",
        "--train",
        labels_npy,
        "--plot",
        plot,
    )
    assert status == 0, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:5]}
    # 55 of 70 correct; many: classes 0, 1 -> (0.5 + 1)/2; medium: 2, 3, 4 -> 1; few: 5, 6 ->
    # (1 + 0)/2.
    assert rows["overall"] == ["78.57", "7"]
    assert rows["many"] == ["75.00", "2"]
    assert rows["medium"] == ["100.00", "3"]
    assert rows["few"] == ["50.00", "2"]
    assert plot.read_bytes()[:8] == PNG_MAGIC

    logits = np.eye(7, dtype=np.float32)[preds]
    np.save(tmp_path / "logits.npy", logits)
    status, out2, _ = run_cli(
        capsys, "eval", tmp_path / "logits.npy", tmp_path / "targets.npy", "--train", labels_npy
    )
    assert status == 0 and out2.splitlines()[1:5] == out.splitlines()[1:5]


@pytest.mark.parametrize(
    ("make_args", "fragment"),
    [
        (lambda d: ["stats", d / "missing.npy"], "no such file or directory: "),
        (lambda d: ["stats", d / "broken.json"], "broken.json is not valid JSON"),
        (
            lambda d: ["stats", d / "empty_dir"],
            "should hold one sub-directory per class, but it has none",
        ),
        (lambda d: ["stats", d / "bad.txt"], "bad.txt: row 2 should be a non-negative integer"),
        (lambda d: ["stats", d / "labels.xlsx"], "path should be a .npy, .txt or .csv labels file"),
        (
            lambda d: ["eval", d / "p.npy", d / "t.npy", "--train", d / "t.npy"],
            "predictions and targets should have the same length, but got 3 predictions",
        ),
        (lambda d: ["demo", "--data", "cifar100"], "--data cifar100 needs --root DIR"),
    ],
)
def test_bad_input_one_line_error(capsys, tmp_path: Path, make_args, fragment: str) -> None:
    (tmp_path / "broken.json").write_text('{"images": [')
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "bad.txt").write_text("1\ntwo\n")
    (tmp_path / "labels.xlsx").write_text("")
    np.save(tmp_path / "p.npy", np.array([0, 1, 1]))
    np.save(tmp_path / "t.npy", np.array([0, 1, 1, 0]))
    status, out, err = run_cli(capsys, *make_args(tmp_path))
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("longtail ")
    assert ": error: " in err and fragment in err


def test_usage_errors_exit_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["stats"])
    assert exc.value.code == 2
    assert "usage: longtail stats" in capsys.readouterr().err


def test_python_dash_m_longtail(tmp_path: Path, labels_npy: Path) -> None:
    # The subprocess imports the same longtail as the tests (the installed wheel in CI).
    env = dict(os.environ)
    ok = subprocess.run(
        [sys.executable, "-m", "longtail", "stats", str(labels_npy)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ok.returncode == 0 and "Gini coefficient" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "longtail", "stats", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().startswith("longtail stats: error: no such file or directory")
    assert len(bad.stderr.strip().splitlines()) == 1
