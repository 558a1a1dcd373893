"""The ``longtail`` command line.

* ``longtail stats PATH``: how imbalanced is a data set. ``PATH`` is a labels file (``.npy``,
  ``.txt``, ``.csv``, or an ImageNet-LT style ``path label`` list), an ImageFolder-style
  directory (one sub-directory per class), or an LVIS or iNaturalist JSON annotation file.
  Prints the summary table; ``--plot out.png`` writes the class histogram.
* ``longtail eval PREDICTIONS TARGETS --train TRAIN``: how do the tail classes do. Overall,
  many-, medium- and few-shot accuracy of saved predictions (or logits) against the targets,
  with the groups taken from the training labels.
* ``longtail demo``: which method helps. Trains a small network with cross-entropy and with
  the package's methods on a long-tailed data set and prints their accuracies
  (:mod:`longtail.cli.demo`).

Errors in the input (a missing file, malformed JSON, an empty directory, mismatched lengths)
print one line to stderr and exit with status 1; usage errors exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

__all__ = ["main"]


class InputError(Exception):
    """A user-input problem, reported as one line without a traceback."""


# --------------------------------------------------------------------------------------------
# Loading class labels / counts from any supported source.


def _json_kind(path: Path) -> str:
    from longtail.data.annotations import _load_json

    data = _load_json(path, ("images", "annotations", "categories"), "LVIS or iNaturalist")
    images, categories = data["images"], data["categories"]
    lvis_keys = {"neg_category_ids", "not_exhaustive_category_ids"}
    if any(isinstance(im, dict) and lvis_keys & im.keys() for im in images[:100]) or any(
        isinstance(c, dict) and "frequency" in c for c in categories[:100]
    ):
        return "lvis"
    return "inat"


def load_counts(path: str | os.PathLike, fmt: str = "auto", column: str | None = None) -> dict:
    """Per-class counts from ``path``: ``{"counts", "kind", "what", "many", "few", "names"}``."""
    from longtail import data

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {os.fspath(path)!r}")
    if fmt == "auto":
        if path.is_dir():
            fmt = "folder"
        elif path.suffix.lower() == ".json":
            fmt = _json_kind(path)
        else:
            fmt = "labels"
    if fmt == "folder":
        labels, classes = data.image_folder_labels(path)
        counts = data.class_counts(labels, len(classes))
        what = f"ImageFolder directory, {len(classes)} class sub-directories"
    elif fmt == "lvis":
        lvis = data.read_lvis(path)
        groups = longtail_stats().LVIS_NAMES
        return {
            "counts": lvis.image_counts,
            "kind": "lvis",
            "many": 100,
            "few": 11,
            "names": groups,
            "what": "LVIS annotations; counts are training images per "
            "category, grouped rare 1-10, common 11-100, frequent > 100",
        }
    elif fmt == "inat":
        counts = data.read_inaturalist(path).class_counts
        what = "iNaturalist annotations"
    elif fmt == "labels":
        counts = data.class_counts(data.read_labels(path, column))
        what = "labels file"
    else:  # argparse restricts the choices
        raise InputError(f"unknown format {fmt!r}")
    return {
        "counts": counts,
        "kind": fmt,
        "many": 100,
        "few": 20,
        "names": longtail_stats().SHOT_NAMES,
        "what": what,
    }


def longtail_stats():
    from longtail import stats

    return stats


def _load_predictions(path: Path) -> np.ndarray:
    from longtail import data
    from longtail._validation import as_labels

    if path.suffix.lower() == ".npy":
        if not path.exists():
            raise FileNotFoundError(f"no such file: {os.fspath(path)!r}")
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise InputError(f"{path} is not a NumPy array file: {err}") from None
        if array.ndim == 2:
            if not np.issubdtype(array.dtype, np.floating):
                raise InputError(f"{path}: an (N, C) array should hold float logits")
            return array
        return as_labels(array, f"the predictions in {path}")
    return data.read_labels(path)


# --------------------------------------------------------------------------------------------
# Sub-commands.


def _cmd_stats(args: argparse.Namespace) -> int:
    stats = longtail_stats()
    source = load_counts(args.path, args.format, args.column)
    many = source["many"] if args.many is None else args.many
    few = source["few"] if args.few is None else args.few
    summary = stats.describe(source["counts"], many, few, source["names"])
    print(f"{args.path}: {source['what']}")
    print(summary)
    if args.plot:
        stats.plot_class_histogram(
            source["counts"],
            many,
            few,
            path=args.plot,
            title=f"{Path(args.path).name}: {summary.num_classes} classes",
            group_names=source["names"],
        )
        print(f"wrote {args.plot}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from longtail import metrics

    source = load_counts(args.train, args.format)
    preds = _load_predictions(Path(args.predictions))
    from longtail import data

    targets = data.read_labels(args.targets)
    if len(preds) != len(targets):
        raise InputError(
            f"predictions and targets should have the same length, but got {len(preds)} "
            f"predictions ({args.predictions}) and {len(targets)} targets ({args.targets})"
        )
    counts = source["counts"]
    many = source["many"] if args.many is None else args.many
    few = source["few"] if args.few is None else args.few
    if preds.ndim == 2 and preds.shape[1] != len(counts):
        raise InputError(
            f"logits should have one column per training class ({len(counts)}), but got shape "
            f"{preds.shape}"
        )
    acc = metrics.shot_accuracy(
        torch.from_numpy(preds), torch.from_numpy(targets), counts, many, few
    )
    names = source["names"]
    summary = longtail_stats().describe(counts, many, few, names)
    print(f"{'':<10}{'accuracy':>10}{'classes':>9}")
    rows = [
        ("overall", acc["overall"], summary.num_classes),
        (names[0], acc["many"], summary.many_classes),
        (names[1], acc["medium"], summary.medium_classes),
        (names[2], acc["few"], summary.few_classes),
    ]
    for name, value, n in rows:
        shown = "-" if value != value else f"{100 * value:.2f}"
        print(f"{name:<10}{shown:>10}{n:>9}")
    print(
        f"groups: {names[0]} n > {many:g}, {names[2]} n < {few:g} training samples; "
        f"balanced accuracy {100 * metrics.balanced_accuracy(preds, targets):.2f}"
    )
    if args.plot:
        longtail_stats().plot_per_class_accuracy(
            acc["per_class"], counts, many, few, path=args.plot, group_names=names
        )
        print(f"wrote {args.plot}")
    return 0


def _check_device(device: str) -> None:
    """``--device``: a torch device string naming a device this machine has."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(
            f"--device should be a torch device such as cpu, cuda or cuda:1, but got --device "
            f"{device!r}"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {device} needs a CUDA GPU, but none is available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(
                f"--device {device} names GPU {dev.index}, but this machine has "
                f"{torch.cuda.device_count()}"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"--device {device} needs Apple's MPS, but it is not available")
    elif dev.type not in ("cpu",):
        raise InputError(f"--device should be cpu or cuda, but got --device {device!r}")


def _cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from longtail.cli import demo

    if args.data == "cifar100":
        if args.root is None:
            raise InputError(
                "--data cifar100 needs --root DIR, the directory holding "
                "cifar-100-python (it is never downloaded)"
            )
        data = demo.load_cifar100(args.root, args.imbalance_ratio, args.seed)
        epochs, crt, batch, lr = (30, 10, 128, 0.05) if not args.quick else (2, 1, 128, 0.05)
    else:
        data = demo.load_digits(args.imbalance_ratio, args.seed)
        epochs, crt, batch, lr = (150, 30, 32, 0.05) if not args.quick else (100, 20, 32, 0.05)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if runs < 1:
        raise InputError(f"--runs should be a positive integer, but got --runs {runs}")
    if args.epochs is not None:
        if args.epochs < 1:
            raise InputError(
                f"--epochs should be a positive integer, but got --epochs {args.epochs}"
            )
        epochs = args.epochs
        crt = max(1, args.epochs // 5)
    device = args.device or (
        "cuda" if torch.cuda.is_available() and args.data != "digits" else "cpu"
    )
    _check_device(device)
    cfg = demo.Config(
        epochs=epochs,
        batch_size=batch,
        lr=lr,
        crt_epochs=crt,
        device=device,
        progress=not args.no_progress,
    )
    print(data.note)
    seeds = [args.seed + r for r in range(runs)]
    print(
        f"{len(demo.METHODS)} methods x {runs} run(s) (training seeds {seeds[0]}..{seeds[-1]}, "
        "one data split), "
        f"{epochs} epochs each, on {device}\n",
        flush=True,
    )
    # The digits network is tiny: one thread is faster than several contending ones.
    threads = torch.get_num_threads()
    if args.data == "digits":
        torch.set_num_threads(1)
    try:
        results = demo.run(data, cfg, seeds)
    finally:
        torch.set_num_threads(threads)
    print()
    how = f"mean over {runs} runs, ± the std of overall" if runs > 1 else "one run"
    print(f"test accuracy (%), {how}:")
    print(demo.format_table(results, data))
    if args.out_dir:
        try:
            paths = demo.write_plots(results, data, args.out_dir)
        except ImportError as err:
            print(f"(no plots: {err})")
        else:
            print("\nwrote " + " and ".join(paths))
    return 0


# --------------------------------------------------------------------------------------------
# The parser.


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longtail",
        description="Long-tailed recognition: data set statistics, evaluation and a demo.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "stats",
        help="how imbalanced is a data set",
        description="Summary statistics of the class distribution of PATH.",
    )
    p.add_argument(
        "path",
        help="labels file (.npy, .txt, .csv), ImageFolder directory, or LVIS / iNaturalist JSON",
    )
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "labels", "folder", "lvis", "inat"],
        help="how to read PATH (default: from its type and content)",
    )
    p.add_argument("--column", help="the .csv column holding the labels")
    p.add_argument("--many", type=float, help="many-shot classes have n > MANY (default 100)")
    p.add_argument(
        "--few",
        type=float,
        help="few-shot classes have n < FEW (default 20; 11 for LVIS's rare group)",
    )
    p.add_argument("--plot", metavar="OUT", help="write the class histogram to OUT (.png, .pdf)")
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser(
        "eval",
        help="accuracy on the many-, medium- and few-shot classes",
        description="Overall, many-, medium- and few-shot accuracy of PREDICTIONS against TARGETS.",
    )
    p.add_argument(
        "predictions",
        help="predicted labels (.npy, .txt, .csv) or logits (.npy, N x C float array)",
    )
    p.add_argument("targets", help="true labels (.npy, .txt, .csv)")
    p.add_argument(
        "--train",
        required=True,
        help="the training labels (any PATH that 'longtail stats' reads), which define the groups",
    )
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "labels", "folder", "lvis", "inat"],
        help="how to read --train",
    )
    p.add_argument("--many", type=float, help="many-shot classes have n > MANY (default 100)")
    p.add_argument("--few", type=float, help="few-shot classes have n < FEW (default 20)")
    p.add_argument("--plot", metavar="OUT", help="write per-class accuracy against class size")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "demo",
        help="compare the methods on a long-tailed data set",
        description="Train the same small network with cross-entropy and with "
        "longtail's methods on a long-tailed data set; print overall / many / "
        "medium / few-shot accuracy per method.",
    )
    p.add_argument(
        "--data",
        choices=["digits", "cifar100"],
        default="digits",
        help="scikit-learn's digits (default, ships with scikit-learn) or "
        "CIFAR-100-LT (needs --root and torchvision)",
    )
    p.add_argument("--root", help="directory holding cifar-100-python (for --data cifar100)")
    p.add_argument(
        "--imbalance-ratio",
        type=float,
        default=100.0,
        help="n_max / n_min of the exponential profile (default 100)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the data split and training")
    p.add_argument("--runs", type=int, help="runs (seeds) to average (default 3; 1 with --quick)")
    p.add_argument("--epochs", type=int, help="training epochs per method")
    p.add_argument("--quick", action="store_true", help="one run, fewer epochs")
    p.add_argument(
        "--device", help="torch device (default cpu for digits, cuda if available for cifar100)"
    )
    p.add_argument(
        "--out-dir",
        default="longtail-demo",
        help="where to write the plots (default ./longtail-demo; '' for none)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)
    return parser


def _one_line(err: BaseException) -> str:
    if isinstance(err, FileNotFoundError) and err.filename is not None:
        return f"no such file or directory: {err.filename!r}"
    text = str(err) or type(err).__name__
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status.

    Example:
        >>> main(["stats", "train_labels.npy", "--plot", "classes.png"])
        0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (
        InputError,
        OSError,
        ValueError,
        TypeError,
        IndexError,
        OverflowError,
        RecursionError,
        ImportError,
        json.JSONDecodeError,
    ) as err:
        print(f"longtail {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 1
