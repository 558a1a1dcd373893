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
    # tomllib is Python 3.11+; the [package] version line is all this needs
    version = re.search(r'^version = "([^"]+)"', cargo.read_text(), re.MULTILINE)
    assert version is not None and longtail.__version__ == version.group(1)


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("ShapeError", ValueError),
        ("InvalidArgumentError", ValueError),
        ("OutOfRangeError", IndexError),
        ("DTypeError", TypeError),
        ("TorchError", RuntimeError),
        ("InternalError", RuntimeError),
    ],
)
def test_exception_classes(name, base):
    cls = getattr(exceptions, name)
    assert name in exceptions.__all__
    assert issubclass(cls, base) and issubclass(cls, exceptions.LongtailError)
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


TORCH_VERSIONS = ["2.4.1", "2.11.0+cu130", "2.12.1", "2.13.1+cpu", "2.15.0+cu132"]


@pytest.fixture(scope="module")
def import_outcomes(tmp_path_factory) -> dict[str, list[str]]:
    """One subprocess imports longtail under several faked ``torch.__version__`` values, beside
    a fake accelerator package built for torch 2.13 whose native module records that it was
    imported, and reports for each version ``[import outcome, accelerator status]``."""
    fake = tmp_path_factory.mktemp("accelerator") / "longtail_tch"
    fake.mkdir()
    (fake / "__init__.py").write_text('BUILT_FOR_TORCH = "2.13"\n')
    (fake / "_tch.py").write_text(
        "import os\n__version__ = 'fake'\nos.environ['FAKE_TCH_IMPORTED'] = '1'\n"
    )
    package_root = str(Path(longtail.__file__).resolve().parents[1])
    env = dict(os.environ)
    # the fake first: a real longtail_tch may sit in site-packages beside longtail
    env["PYTHONPATH"] = os.pathsep.join([str(fake.parent), package_root, env.get("PYTHONPATH", "")])
    env.pop("LONGTAIL_ACCELERATOR", None)
    code = textwrap.dedent(
        f"""
        import json, os, sys
        import torch
        out = {{}}
        for version in {TORCH_VERSIONS!r}:
            torch.__version__ = version
            os.environ.pop("FAKE_TCH_IMPORTED", None)
            for name in [m for m in sys.modules if m.startswith(("longtail", "longtail_tch"))]:
                del sys.modules[name]
            try:
                import longtail
            except ImportError as err:
                out[version] = ["IMPORT-ERROR: " + str(err), ""]
                continue
            status = longtail._accelerator.status()[1]
            imported = os.environ.get("FAKE_TCH_IMPORTED")
            native = "native imported" if imported else "native not imported"
            out[version] = ["IMPORTED " + longtail.__version__, status + "; " + native]
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


@pytest.mark.parametrize("version", TORCH_VERSIONS)
def test_import_works_beside_any_torch(version, import_outcomes):
    """``_core`` links no libtorch: ``import longtail`` works whatever torch is installed."""
    assert import_outcomes[version][0] == f"IMPORTED {longtail.__version__}"


@pytest.mark.parametrize("version", [v for v in TORCH_VERSIONS if not v.startswith("2.13")])
def test_accelerator_is_not_loaded_beside_another_torch(version, import_outcomes):
    """The accelerator's native module is never imported beside a torch it was not built for
    (it would fail on undefined symbols), and the status line says why."""
    status = import_outcomes[version][1]
    assert f"built for torch 2.13, but torch {version} is installed" in status
    assert status.endswith("native not imported")


def test_accelerator_is_loaded_beside_its_torch(import_outcomes):
    status = import_outcomes["2.13.1+cpu"][1]
    assert status.startswith("loaded (longtail_tch fake, built for torch 2.13)")
    assert status.endswith("native imported")


def test_accelerator_can_be_turned_off(monkeypatch):
    from longtail import _accelerator

    monkeypatch.setenv("LONGTAIL_ACCELERATOR", "0")
    assert _accelerator._load() == (None, "turned off by LONGTAIL_ACCELERATOR")


def test_show_config(capsys):
    config = longtail.show_config(mode="dicts")
    assert config["torch"] == torch.__version__
    assert config["cpu_kernels"]["instruction_set"] in ("avx2+fma", "baseline")
    assert config["cpu_kernels"]["rayon_threads"] >= 1
    assert isinstance(config["cuda_accelerator"]["loaded"], bool)
    assert longtail.show_config() is None
    out = capsys.readouterr().out
    assert out.startswith(f"longtail {longtail.__version__}\n")
    for fragment in ("python:", f"torch: {torch.__version__}", "CPU kernels:", "accelerator"):
        assert fragment in out
    with pytest.raises(ValueError, match="mode should be"):
        longtail.show_config(mode="json")


def test_core_links_no_libtorch():
    """The extension's only NEEDED libraries are the C runtime's (``readelf -d``)."""
    import shutil

    if shutil.which("readelf") is None:
        pytest.skip("readelf is not installed")
    out = subprocess.run(
        ["readelf", "-d", _core.__file__], capture_output=True, text=True, check=True
    ).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+?)\]", out)
    assert needed, out
    assert not [n for n in needed if "torch" in n or "c10" in n], needed
