"""The public surface: names, version, exception hierarchy, the torch-version import guard."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import longtail
import pytest
import torch
from longtail import _core, exceptions
from longtail import functional as LF
from longtail import losses as LL
from longtail import weights as LW

FUNCTIONAL = [
    "weighted_cross_entropy",
    "focal_loss",
    "class_balanced_loss",
    "ldam_loss",
    "ldam_margins",
    "logit_adjusted_loss",
    "logit_adjustments",
    "logit_adjust",
    "balanced_softmax_loss",
]
MODULES = [
    "WeightedCrossEntropyLoss",
    "FocalLoss",
    "ClassBalancedLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "BalancedSoftmaxLoss",
]
WEIGHTS = ["inverse_frequency", "cost_sensitive", "effective_number", "drw"]


def test_top_level_names():
    for name in longtail.__all__:
        assert hasattr(longtail, name), name
    for name in [*MODULES, "functional", "losses", "weights", "exceptions", "__version__"]:
        assert name in longtail.__all__, name
    for name in MODULES:
        assert getattr(longtail, name) is getattr(LL, name)
        assert issubclass(getattr(longtail, name), torch.nn.Module)


@pytest.mark.parametrize(
    ("module", "names"),
    [(LF, FUNCTIONAL), (LL, MODULES), (LW, WEIGHTS)],
    ids=["functional", "losses", "weights"],
)
def test_submodule_names(module, names):
    assert set(names) <= set(module.__all__)
    for name in module.__all__:
        obj = getattr(module, name)
        assert callable(obj), name
        assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring"


def test_version():
    assert isinstance(longtail.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", longtail.__version__)
    assert longtail.__version__ == _core.__version__
    cargo = Path(__file__).resolve().parents[1] / "Cargo.toml"
    if not cargo.exists():
        pytest.skip("not running from a source checkout")
    import tomllib

    with cargo.open("rb") as f:
        assert longtail.__version__ == tomllib.load(f)["package"]["version"]


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("ShapeError", ValueError),
        ("InvalidArgumentError", ValueError),
        ("OutOfRangeError", IndexError),
        ("DTypeError", TypeError),
        ("TorchError", RuntimeError),
    ],
)
def test_exception_classes(name, base):
    cls = getattr(exceptions, name)
    assert name in exceptions.__all__
    assert cls is getattr(_core, name)
    assert issubclass(cls, base) and issubclass(cls, Exception)
    assert cls.__module__ == "longtail.exceptions"
    assert cls.__doc__
    with pytest.raises(base, match="boom"):
        raise cls("boom")
    clone = pickle.loads(pickle.dumps(cls("boom")))
    assert type(clone) is cls and str(clone) == "boom"


@pytest.mark.parametrize("name", MODULES)
def test_modules_pickle_with_defaults(name):
    cls = getattr(longtail, name)
    module = (
        cls(weight=torch.ones(3))
        if name == "WeightedCrossEntropyLoss"
        else (cls() if name == "FocalLoss" else cls([30, 20, 10]))
    )
    clone = pickle.loads(pickle.dumps(module))
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(clone(x, y), module(x, y), rtol=0, atol=0)
    assert "reduction='mean'" in repr(module)


REFUSED = ["2.12.1", "2.14.0+cu121", "1.13.0"]
ACCEPTED = "2.13.1+cpu"


@pytest.fixture(scope="module")
def import_outcomes() -> dict[str, str]:
    """One subprocess imports longtail under several faked ``torch.__version__`` values (the
    refused ones first: a refused import stops before the extension loads), and reports each
    outcome as "IMPORTED <version>" or "IMPORT-ERROR: <message>"."""
    package_root = str(Path(longtail.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    code = textwrap.dedent(
        f"""
        import json, sys
        import torch
        out = {{}}
        for version in {[*REFUSED, ACCEPTED]!r}:
            torch.__version__ = version
            for name in [m for m in sys.modules if m == "longtail" or m.startswith("longtail.")]:
                del sys.modules[name]
            try:
                import longtail
            except ImportError as err:
                out[version] = "IMPORT-ERROR: " + str(err)
            else:
                out[version] = "IMPORTED " + longtail.__version__
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("version", REFUSED)
def test_import_refuses_another_torch(version, import_outcomes):
    """``import longtail`` under a torch other than 2.13 raises ImportError naming both the
    installed and the required version (instead of failing on undefined symbols)."""
    out = import_outcomes[version]
    assert out.startswith("IMPORT-ERROR:"), out
    assert version in out
    assert "2.13" in out


def test_import_accepts_a_2_13_build_with_a_local_tag(import_outcomes):
    assert import_outcomes[ACCEPTED] == f"IMPORTED {longtail.__version__}"
