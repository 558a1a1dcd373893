r"""Decoupling representation and classifier (Kang et al. ICLR 2020; official code
facebookresearch/classifier-balancing), also importable as :mod:`longtail.decoupling`.

Stage 1 trains the whole network as usual (instance-balanced sampling, plain CE). Stage 2
keeps the features and re-balances only the classifier, in one of four ways:

* **cRT** — :func:`prepare_crt` freezes everything but the classifier and re-initialises it;
  retrain it with :class:`longtail.samplers.ClassAwareSampler` (``samples_per_class=4`` in the
  official configs; 10 epochs, lr 0.2, cosine schedule).
* **τ-normalisation** — :class:`TauNormClassifier`, post-hoc: every class row of the weight is
  divided by its L2 norm to the power τ and **the bias is dropped**; :func:`search_tau` picks τ
  on a held-out balanced set (the official sweep is ``linspace(0, 2, 21)``).
* **LWS** — :class:`LWSClassifier`, a learnable per-class scale of the logits (bias included),
  trained with class-aware sampling while everything else stays frozen.
* **NCM** — :class:`NCMClassifier`, nearest class mean on (by default) centred and
  L2-normalised features.

A two-stage cRT in a user's script::

    from longtail.decoupling import prepare_crt
    from longtail.samplers import ClassAwareSampler

    # stage 1: ordinary training of `model` (backbone + `model.fc`) with plain CE
    ...
    # stage 2: classifier re-training
    params = prepare_crt(model, model.fc)          # backbone frozen, fc re-initialised
    model.backbone.eval()                          # optional: keep BatchNorm statistics fixed
    sampler = ClassAwareSampler(train_labels, samples_per_class=4, seed=0)
    loader = DataLoader(train_set, batch_size=512, sampler=sampler)
    optimizer = torch.optim.SGD(params, lr=0.2, momentum=0.9)
    for epoch in range(10):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()

τ-normalisation of the stage-1 classifier instead, with τ chosen on a balanced validation set::

    result = search_tau(val_features, val_labels, weight=model.fc)
    model.fc = TauNormClassifier.from_linear(model.fc, tau=result.tau)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from longtail import metrics
from longtail._validation import check_int, check_real

__all__ = [
    "LWSClassifier",
    "NCMClassifier",
    "TauNormClassifier",
    "TauSearchResult",
    "balanced_accuracy",
    "prepare_crt",
    "search_tau",
    "tau_normalize",
]

_FEAT_TYPES = ("cl2n", "l2n", "un")
_DIST_TYPES = ("l2", "cos")


# --------------------------------------------------------------------------------------------
# Argument checks (torch-style messages).


def _check_tau(tau: float) -> float:
    try:
        return check_real("tau", tau, low=0.0)
    except ValueError:
        raise ValueError(f"tau should be a finite number >= 0, but got tau={tau}") from None


def _check_weight(weight: Tensor, name: str = "weight") -> Tensor:
    if not isinstance(weight, Tensor):
        raise TypeError(f"{name} should be a torch.Tensor, but got {name} of type {type(weight)}")
    if not weight.is_floating_point():
        raise TypeError(f"{name} should be a floating-point tensor, but got dtype={weight.dtype}")
    if weight.dim() != 2:
        raise ValueError(
            f"{name} should have shape (num_classes, in_features), but got {name} of shape "
            f"{tuple(weight.shape)}"
        )
    return weight


def _check_linear(linear: nn.Module, name: str = "linear") -> nn.Linear:
    if not isinstance(linear, nn.Linear):
        raise TypeError(
            f"{name} should be a torch.nn.Linear classifier, but got {name} of type "
            f"{type(linear).__name__}"
        )
    return linear


def _check_features_labels(
    features: Tensor, labels: Tensor, name: str = "features"
) -> tuple[Tensor, Tensor]:
    if not isinstance(features, Tensor):
        raise TypeError(f"{name} should be a torch.Tensor, but got {name} of type {type(features)}")
    if not features.is_floating_point():
        raise TypeError(f"{name} should be a floating-point tensor, but got dtype={features.dtype}")
    if features.dim() != 2:
        raise ValueError(
            f"{name} should have shape (N, {'C' if name == 'logits' else 'in_features'}), but "
            f"got {name} of shape {tuple(features.shape)}"
        )
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"labels should be an integer tensor of class indices, but got dtype={labels.dtype}"
        )
    if labels.dim() != 1:
        raise ValueError(f"labels should be 1-D, but got labels of shape {tuple(labels.shape)}")
    if labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"{name} and labels should have the same length, but got "
            f"{features.shape[0]} {name} and {labels.shape[0]} labels"
        )
    if labels.numel() == 0:
        raise ValueError(f"{name} and labels should be non-empty, but got 0 samples")
    if (labels < 0).any():
        raise ValueError(
            f"labels should be non-negative class indices, but got min label {int(labels.min())}"
        )
    return features, labels.to(device=features.device, dtype=torch.long)


def _row_norm(x: Tensor) -> Tensor:
    # The exact L2 norm; clamped only where it is 0 (a 0 row stays 0 instead of becoming NaN).
    return torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


# --------------------------------------------------------------------------------------------
# τ-normalisation.


def tau_normalize(weight: Tensor, tau: float) -> Tensor:
    r"""τ-normalised classifier weights, row by row (one row per class):

    .. math:: \tilde w_c = \frac{w_c}{\lVert w_c \rVert_2^{\,\tau}}

    ``tau=0`` returns the weights unchanged and ``tau=1`` unit-norm rows. This is the official
    ``pnorm`` of ``tau_norm.py``; the norm is taken per class row, not per feature column. A
    row of zeros stays zero (the official code gives NaN there).

    Args:
        weight: the classifier weight, ``(num_classes, in_features)``, as in ``nn.Linear``.
        tau: the exponent ``τ >= 0``.

    Returns:
        A new tensor of the same shape, dtype and device; differentiable in ``weight``.

    Example::

        >>> w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
        >>> tau_normalize(w, 1.0)
        tensor([[0.6000, 0.8000],
                [0.6000, 0.8000]])
    """
    weight = _check_weight(weight)
    tau = _check_tau(tau)
    if tau == 0.0:
        return weight.clone()
    # Scale each row to max |w| = 1 before the norm, so that ‖w‖² cannot overflow (rows of 1e20)
    # or underflow (1e-25) in float32: w / ‖w‖^τ = (w/s) / ‖w/s‖^τ · s^{1−τ} for any s > 0.
    # s is a constant for autograd (the identity holds for every s), so the gradient is exact.
    tiny = torch.finfo(weight.dtype).tiny
    scale = weight.detach().abs().amax(dim=1, keepdim=True).clamp_min(tiny)
    unit = weight / scale
    out = unit / _row_norm(unit).pow(tau)
    return out if tau == 1.0 else out * scale.pow(1.0 - tau)


class TauNormClassifier(nn.Module):
    r"""A post-hoc τ-normalised linear classifier without bias (Kang et al. ICLR 2020):

    .. math:: z = x \tilde W^\top, \qquad \tilde w_c = w_c / \lVert w_c \rVert_2^{\,\tau}

    The bias of the original classifier is dropped, as in the official evaluation
    (``dotproduct_similarity``). The original weight is kept in the buffer ``weight``, so
    ``tau`` can be changed at any time (e.g. after :func:`search_tau`).

    Args:
        weight: the trained classifier weight ``(num_classes, in_features)``; copied.
        tau: the exponent ``τ >= 0`` (the paper's sweep is ``[0, 2]``).

    Shape:
        input ``(N, in_features)``, output ``(N, num_classes)``.

    Example::

        >>> fc = torch.nn.Linear(16, 5)
        >>> clf = TauNormClassifier.from_linear(fc, tau=1.0)
        >>> clf(torch.randn(8, 16)).shape
        torch.Size([8, 5])
    """

    weight: Tensor

    def __init__(self, weight: Tensor, tau: float = 1.0) -> None:
        super().__init__()
        weight = _check_weight(weight)
        self.tau = _check_tau(tau)
        self.register_buffer("weight", weight.detach().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear, tau: float = 1.0) -> TauNormClassifier:
        """The τ-normalised version of a trained ``nn.Linear`` (its bias is dropped)."""
        linear = _check_linear(linear)
        return cls(linear.weight, tau)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    def normalized_weight(self) -> Tensor:
        """The τ-normalised weight used by :meth:`forward`."""
        return tau_normalize(self.weight, _check_tau(self.tau))

    def forward(self, input: Tensor) -> Tensor:
        return input @ self.normalized_weight().t()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, tau={self.tau}"


def balanced_accuracy(logits: Tensor, labels: Tensor, num_classes: int | None = None) -> float:
    """Class-averaged top-1 accuracy (the mean per-class recall over classes present in
    ``labels``), the official ``tau_norm.py`` / ``shot_acc`` metric. On a balanced set it equals
    plain top-1 accuracy.

    Args:
        logits: ``(N, C)`` scores; the prediction is their ``argmax``.
        labels: ``(N,)`` class indices.
        num_classes: ``C``; defaults to ``logits.shape[1]``.
    """
    logits, labels = _check_features_labels(logits, labels, "logits")
    c = logits.shape[1] if num_classes is None else int(num_classes)
    if int(labels.max()) >= c:
        raise ValueError(f"labels should be < num_classes ({c}), but got label {int(labels.max())}")
    return metrics.balanced_accuracy(logits, labels, c)


class TauSearchResult(NamedTuple):
    """What :func:`search_tau` found: the chosen ``tau`` with its ``accuracy``, and every
    candidate (``taus``) with its accuracy (``accuracies``), both float64 tensors."""

    tau: float
    accuracy: float
    taus: Tensor
    accuracies: Tensor


def search_tau(
    source: Callable[[float], Tensor] | Tensor,
    labels: Tensor,
    taus: Iterable[float] | Tensor | None = None,
    *,
    weight: Tensor | nn.Linear | None = None,
    balanced: bool = True,
) -> TauSearchResult:
    r"""Chooses τ for :class:`TauNormClassifier` by accuracy on a held-out balanced set.

    The paper sweeps ``τ ∈ linspace(0, 2, 21)`` (the default ``taus``) and keeps the τ with the
    best validation accuracy; ties go to the smallest τ. Give either

    * the held-out ``features`` ``(N, in_features)`` together with ``weight=`` (the stage-1
      ``nn.Linear`` or its weight): logits are ``features @ tau_normalize(W, τ).T``; or
    * a callable ``logits_fn(tau) -> (N, C) logits`` for anything else (e.g. a whole model
      whose last layer you τ-normalise yourself).

    Args:
        source: held-out features, or ``logits_fn``.
        labels: ``(N,)`` class indices of the held-out samples.
        taus: the candidate values (each ``>= 0``); default ``linspace(0, 2, 21)``.
        weight: the classifier, required with features and not allowed with a callable.
        balanced: score by class-averaged accuracy (default, as ``tau_norm.py`` reports);
            ``False`` for plain top-1. The two agree on a balanced set.

    Returns:
        :class:`TauSearchResult` ``(tau, accuracy, taus, accuracies)``.

    Example::

        >>> fc = torch.nn.Linear(16, 5)
        >>> feats, labels = torch.randn(50, 16), torch.arange(50) % 5
        >>> result = search_tau(feats, labels, weight=fc)
        >>> clf = TauNormClassifier.from_linear(fc, tau=result.tau)
    """
    if taus is None:
        candidates = torch.linspace(0.0, 2.0, 21, dtype=torch.float64)
    else:
        candidates = torch.as_tensor(
            taus.tolist() if isinstance(taus, Tensor) else list(taus), dtype=torch.float64
        ).reshape(-1)
        if candidates.numel() == 0:
            raise ValueError("taus should hold at least one candidate, but got taus=[]")
    values = [_check_tau(float(t)) for t in candidates]
    if isinstance(source, Tensor):
        if weight is None:
            raise ValueError(
                "weight should be the classifier (nn.Linear or its weight) when source is a "
                "features tensor, but got weight=None"
            )
        w = _check_linear(weight, "weight").weight if isinstance(weight, nn.Module) else weight
        w = _check_weight(w).detach()
        features, labels = _check_features_labels(source.detach(), labels)
        if features.shape[1] != w.shape[1]:
            raise ValueError(
                f"features should have {w.shape[1]} columns to match weight of shape "
                f"{tuple(w.shape)}, but got features of shape {tuple(features.shape)}"
            )
        w = w.to(device=features.device, dtype=features.dtype)

        def tau_logits(tau: float) -> Tensor:
            return features @ tau_normalize(w, tau).t()

        logits_fn: Callable[[float], Tensor] = tau_logits

    elif callable(source):
        if weight is not None:
            raise ValueError(
                "weight should be None when source is a logits_fn callable, but got a weight"
            )
        logits_fn = source
    else:
        raise TypeError(
            "source should be a features tensor or a callable logits_fn(tau), but got source "
            f"of type {type(source).__name__}"
        )
    accuracies = []
    with torch.no_grad():
        for tau in values:
            logits = logits_fn(tau)
            _, y = _check_features_labels(logits, labels, "logits")
            if balanced:
                accuracies.append(balanced_accuracy(logits, y))
            else:
                accuracies.append(float((logits.argmax(dim=1) == y).to(torch.float64).mean()))
    acc = torch.tensor(accuracies, dtype=torch.float64)
    best = int(torch.argmax(acc))  # the first maximum: ties go to the smallest listed tau
    return TauSearchResult(values[best], accuracies[best], torch.tensor(values), acc)


# --------------------------------------------------------------------------------------------
# Learnable weight scaling.


class LWSClassifier(nn.Module):
    r"""Learnable weight scaling (Kang et al. ICLR 2020; ``TauNormClassifier.py`` /
    ``cls_lws.yaml``):

    .. math:: z = (x W^\top + b) \odot f

    with a learnable per-class scale ``f`` (initialised to 1) that **multiplies the bias too**.
    ``W`` and ``b`` are frozen: they are buffers, so ``parameters()`` yields only ``scales``
    and an optimiser built from it trains nothing else. The official recipe trains ``f`` for
    5 epochs with class-aware sampling (``samples_per_class=4``).

    Args:
        weight: the trained classifier weight ``(num_classes, in_features)``; copied.
        bias: the trained bias ``(num_classes,)`` or ``None``; copied.

    Shape:
        input ``(N, in_features)``, output ``(N, num_classes)``.

    Example::

        >>> lws = LWSClassifier.from_linear(torch.nn.Linear(16, 5))
        >>> [name for name, _ in lws.named_parameters()]
        ['scales']
        >>> lws(torch.randn(8, 16)).sum().backward()
    """

    weight: Tensor
    bias: Tensor | None

    def __init__(self, weight: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        weight = _check_weight(weight)
        if bias is not None:
            if not isinstance(bias, Tensor) or bias.shape != (weight.shape[0],):
                raise ValueError(
                    f"bias should have shape ({weight.shape[0]},), one entry per class, but got "
                    f"bias of shape {tuple(bias.shape) if isinstance(bias, Tensor) else bias!r}"
                )
            bias = bias.detach().clone()
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", bias)
        self.scales = nn.Parameter(
            torch.ones(weight.shape[0], dtype=weight.dtype, device=weight.device)
        )

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> LWSClassifier:
        """Wraps a trained ``nn.Linear``: its weight and bias are copied and frozen."""
        linear = _check_linear(linear)
        return cls(linear.weight, linear.bias)

    def forward(self, input: Tensor) -> Tensor:
        return nn.functional.linear(input, self.weight, self.bias) * self.scales

    def extra_repr(self) -> str:
        return (
            f"in_features={self.weight.shape[1]}, num_classes={self.weight.shape[0]}, "
            f"bias={self.bias is not None}"
        )


# --------------------------------------------------------------------------------------------
# Nearest class mean.


class NCMClassifier(nn.Module):
    r"""Nearest-class-mean classifier (Kang et al. ICLR 2020; ``KNNClassifier.py``,
    ``get_knncentroids``). Build it with :meth:`fit` on the training features.

    Feature transform ``φ`` (``feat_type``):

    * ``"cl2n"`` (default): subtract the training-feature mean ``μ`` (over all training
      samples), then L2-normalise;
    * ``"l2n"``: L2-normalise; ``"un"``: unchanged.

    The centroid of class ``c`` is the mean of ``φ(x)`` over its training samples and is
    **not** re-normalised. Logits (``dist_type``):

    * ``"l2"`` (default): :math:`z_c = -\lVert \varphi(x) - \mu_c \rVert_2^2`;
    * ``"cos"``: :math:`z_c = \varphi(x) \cdot \mu_c / d` with ``d = in_features`` (the
      official ``cos_similarity``, a scaled dot product).

    Classes without training samples get logit ``-inf`` (they are never predicted).

    Args:
        centroids: ``(num_classes, in_features)`` class means of the transformed features.
        mean: ``(in_features,)`` training-feature mean (used by ``"cl2n"``).
        feat_type: ``"cl2n"``, ``"l2n"`` or ``"un"``.
        dist_type: ``"l2"`` or ``"cos"``.
        present: ``(num_classes,)`` bool, which classes had training samples (default all).

    Shape:
        input ``(N, in_features)``, output ``(N, num_classes)``.

    Example::

        >>> feats, labels = torch.randn(60, 8), torch.arange(60) % 3
        >>> ncm = NCMClassifier.fit(feats, labels, num_classes=3)
        >>> ncm(torch.randn(4, 8)).shape
        torch.Size([4, 3])
    """

    centroids: Tensor
    mean: Tensor
    present: Tensor

    def __init__(
        self,
        centroids: Tensor,
        mean: Tensor,
        feat_type: str = "cl2n",
        dist_type: str = "l2",
        present: Tensor | None = None,
    ) -> None:
        super().__init__()
        centroids = _check_weight(centroids, "centroids")
        if feat_type not in _FEAT_TYPES:
            raise ValueError(
                f"feat_type should be one of 'cl2n', 'l2n', 'un', but got feat_type={feat_type!r}"
            )
        if dist_type not in _DIST_TYPES:
            raise ValueError(
                f"dist_type should be one of 'l2', 'cos', but got dist_type={dist_type!r}"
            )
        if not isinstance(mean, Tensor) or mean.shape != (centroids.shape[1],):
            raise ValueError(
                f"mean should have shape ({centroids.shape[1]},), but got mean of shape "
                f"{tuple(mean.shape) if isinstance(mean, Tensor) else mean!r}"
            )
        if present is None:
            present = torch.ones(centroids.shape[0], dtype=torch.bool, device=centroids.device)
        self.feat_type, self.dist_type = feat_type, dist_type
        self.register_buffer("centroids", centroids.detach().clone())
        self.register_buffer("mean", mean.detach().to(centroids).clone())
        self.register_buffer("present", torch.as_tensor(present, dtype=torch.bool).clone())

    @classmethod
    def fit(
        cls,
        features: Tensor,
        labels: Tensor,
        num_classes: int,
        *,
        feat_type: str = "cl2n",
        dist_type: str = "l2",
    ) -> NCMClassifier:
        """Class means of the transformed training ``features`` ``(N, in_features)`` with
        ``labels`` ``(N,)`` in ``[0, num_classes)``."""
        features, labels = _check_features_labels(features.detach(), labels)
        num_classes = check_int("num_classes", num_classes)
        if num_classes < 1 or int(labels.max()) >= num_classes:
            raise ValueError(
                f"num_classes should be > every label (max {int(labels.max())}), but got "
                f"num_classes={num_classes}"
            )
        if feat_type not in _FEAT_TYPES:
            raise ValueError(
                f"feat_type should be one of 'cl2n', 'l2n', 'un', but got feat_type={feat_type!r}"
            )
        mean = features.mean(dim=0)
        transformed = _transform(features, mean, feat_type)
        sums = torch.zeros(
            num_classes, features.shape[1], dtype=features.dtype, device=features.device
        ).index_add_(0, labels, transformed)
        counts = torch.bincount(labels, minlength=num_classes)
        centroids = sums / counts.clamp_min(1).unsqueeze(1).to(features.dtype)
        return cls(centroids, mean, feat_type, dist_type, present=counts > 0)

    def forward(self, input: Tensor) -> Tensor:
        x = _transform(input, self.mean.to(input.dtype), self.feat_type)
        c = self.centroids.to(x.dtype)
        if self.dist_type == "l2":
            # ||x||² + ||c||² − 2 x·c, the official expansion (no (N, C, d) intermediate).
            logits = -(
                x.pow(2).sum(dim=1, keepdim=True) + c.pow(2).sum(dim=1).unsqueeze(0) - 2 * x @ c.t()
            )
        else:
            logits = x @ c.t() / x.shape[1]
        return logits.masked_fill(~self.present, float("-inf"))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.centroids.shape[1]}, num_classes={self.centroids.shape[0]}, "
            f"feat_type={self.feat_type!r}, dist_type={self.dist_type!r}"
        )


def _transform(x: Tensor, mean: Tensor, feat_type: str) -> Tensor:
    if feat_type == "cl2n":
        x = x - mean
    if feat_type in ("cl2n", "l2n"):
        x = x / _row_norm(x)
    return x


# --------------------------------------------------------------------------------------------
# Classifier re-training.


def _reset(module: nn.Module) -> int:
    count = 0
    for m in module.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()
            count += 1
    return count


def prepare_crt(
    model: nn.Module, classifier: nn.Module | str, *, reinitialize: bool = True
) -> list[nn.Parameter]:
    """Prepares classifier re-training (cRT, Kang et al. ICLR 2020): freezes every parameter of
    ``model`` except the classifier's, re-initialises the classifier (``reset_parameters()``
    of each of its submodules, as a fresh ``nn.Linear`` — the official ``stage1_weights:
    false``) and returns the classifier's parameters for the optimiser.

    Train them with :class:`longtail.samplers.ClassAwareSampler` to get cRT. Only
    ``requires_grad`` changes: BatchNorm running statistics of the backbone still update in
    ``train()`` mode (as in the official code); call ``.eval()`` on the backbone to fix them.
    Re-initialisation draws from torch's global generator, like any ``nn.Module`` init.

    Args:
        model: the whole stage-1 network.
        classifier: the classifier submodule of ``model``, or its name (``"fc"``,
            ``"head.linear"``).
        reinitialize: re-initialise the classifier (``False`` keeps the stage-1 weights).

    Returns:
        The classifier's parameters (all with ``requires_grad=True``).

    Example::

        >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
        ...                             torch.nn.Linear(16, 4))
        >>> params = prepare_crt(model, model[2])
        >>> optimizer = torch.optim.SGD(params, lr=0.2, momentum=0.9)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model should be a torch.nn.Module, but got model of type {type(model)}")
    if isinstance(classifier, str):
        try:
            classifier = model.get_submodule(classifier)
        except AttributeError as err:
            raise ValueError(
                f"classifier should name a submodule of model, but got classifier={classifier!r}"
            ) from err
    if not isinstance(classifier, nn.Module):
        raise TypeError(
            "classifier should be a torch.nn.Module or the name of one, but got classifier of "
            f"type {type(classifier).__name__}"
        )
    if not any(classifier is m for m in model.modules()):
        raise ValueError("classifier should be a submodule of model, but it is not one")
    params = list(classifier.parameters())
    if not params:
        raise ValueError("classifier should have parameters to train, but it has none")
    if not isinstance(reinitialize, bool):
        raise TypeError(f"reinitialize should be a bool, but got reinitialize={reinitialize!r}")
    # Validate everything before changing anything: a rejected call leaves the model as it was.
    if reinitialize and not any(
        callable(getattr(m, "reset_parameters", None)) for m in classifier.modules()
    ):
        raise ValueError(
            "classifier should have a reset_parameters() method (as nn.Linear has) to be "
            f"re-initialised, but got classifier of type {type(classifier).__name__} without "
            "one; pass reinitialize=False to keep its weights"
        )
    saved = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        if reinitialize:
            _reset(classifier)
    except BaseException:
        for p, flag in saved:
            p.requires_grad_(flag)
        raise
    for p in params:
        p.requires_grad_(True)
    return params
