"""The docstring examples of the losses run as written, and every public loss Module documents
its arguments, shapes and use the way ``torch.nn.CrossEntropyLoss`` does."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import io
import re

import longtail.functional
import longtail.losses
import pytest
import torch

# The modules whose examples are run: the loss families (their functional forms and Modules;
# ``longtail.losses`` and ``longtail.functional`` re-export them) and the drop-in replacements
# for other libraries' losses and samplers.
MODULES = [
    "longtail.losses",
    "longtail.functional",
    "longtail.losses.softmax",
    "longtail.losses.sigmoid",
    "longtail.losses.seesaw",
    "longtail.losses.group_softmax",
    "longtail.compat",
    "longtail.compat.balms",
    "longtail.compat.detectron2",
    "longtail.compat.ldam",
    "longtail.compat.mmdet",
    "longtail.compat.mmpretrain",
    "longtail.compat.torchvision",
]
# Optional packages an example may import; without them that example is skipped.
OPTIONAL = ("mmengine",)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    tests = []
    for name in MODULES:
        # As in torch's own docs, an example may use ``torch`` without importing it.
        found = finder.find(importlib.import_module(name), extraglobs={"torch": torch})
        tests.extend(t for t in found if t.examples)
    return sorted(tests, key=lambda t: t.name)


DOCTESTS = _doctests()


def test_examples_are_found() -> None:
    names = {t.name for t in DOCTESTS}
    for cls in longtail.losses.__all__:
        # Found in the family module that defines it (longtail.losses.<family>.<cls>).
        module = getattr(longtail.losses, cls).__module__
        assert module.startswith("longtail.losses."), module
        assert f"{module}.{cls}" in names
    for name in longtail.functional.__all__:
        func = getattr(longtail.functional, name)
        if "Example::" in (func.__doc__ or ""):
            assert f"{func.__module__}.{name}" in names
    assert len(DOCTESTS) >= len(longtail.losses.__all__) + 6


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_example(test: doctest.DocTest) -> None:
    for package in OPTIONAL:
        if any(package in example.source for example in test.examples):
            if importlib.util.find_spec(package) is None:
                pytest.skip(f"the example needs {package}")
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    # The examples draw from torch's global generator: leave its state as it was.
    with torch.random.fork_rng(devices=[]):
        result = runner.run(test, out=out.write, clear_globs=True)
    assert result.failed == 0, out.getvalue()


def _section(doc: str, pattern: str) -> bool:
    return re.search(rf"^ *{pattern} *$", doc, flags=re.MULTILINE) is not None


@pytest.mark.parametrize("name", longtail.losses.__all__)
def test_loss_module_has_args_shape_and_example(name: str) -> None:
    cls = getattr(longtail.losses, name)
    assert issubclass(cls, torch.nn.Module)
    doc = inspect.getdoc(cls) or ""
    assert _section(doc, "Args:"), f"{name} has no Args: section"
    assert _section(doc, "Shape:"), f"{name} has no Shape: section"
    assert _section(doc, "Examples?::?"), f"{name} has no Example: section"
    # The example builds the class itself, with its real constructor.
    examples = doctest.DocTestParser().get_examples(doc)
    assert any(f"{name}(" in example.source for example in examples), name
    # Every constructor argument is described under Args.
    args = doc.split("Shape:")[0].split("Args:")[1]
    for param in inspect.signature(cls).parameters:
        assert re.search(rf"\b{param}\b", args), f"{name}: {param} is not under Args"
