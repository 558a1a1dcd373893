"""Decoupling (Kang et al. ICLR 2020, arXiv:1910.09217): τ-norm, LWS, NCM and cRT against float64
formulations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from longtail import decoupling as D
from sklearn.metrics import balanced_accuracy_score
from torch import nn


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


# -- τ-normalisation ----------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 1.0, 1.7, 2.0])
def test_tau_normalize_matches_row_norm_power(tau):
    w = _rng().standard_normal((7, 5)) * _rng(1).uniform(0.1, 5.0, size=(7, 1))
    expected = np.stack([row / np.sqrt((row**2).sum()) ** tau for row in w])
    out = D.tau_normalize(_t(w), tau)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13, atol=0)


def test_tau_normalize_is_per_class_row_and_keeps_zero_rows():
    w = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    out = D.tau_normalize(w, 1.0)
    torch.testing.assert_close(
        out, torch.tensor([[0.6, 0.8], [0.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    )
    # Column norms are not unit: the norm is taken over each class row only.
    assert not torch.allclose(out.norm(dim=0), torch.ones(2, dtype=torch.float64))


def test_tau_norm_classifier_drops_bias_and_follows_tau():
    torch.manual_seed(0)
    fc = nn.Linear(5, 4).double()
    with torch.no_grad():
        fc.bias.fill_(3.0)
    x = _t(_rng(2).standard_normal((6, 5)))
    w = fc.weight.detach().numpy()
    for tau in (0.0, 1.0, 1.5):
        clf = D.TauNormClassifier.from_linear(fc, tau=tau)
        wn = w / np.linalg.norm(w, axis=1, keepdims=True) ** tau
        np.testing.assert_allclose(clf(x).numpy(), x.numpy() @ wn.T, rtol=1e-12, atol=1e-14)
    # tau = 0 is the stage-1 classifier without its bias.
    clf = D.TauNormClassifier.from_linear(fc, tau=0.0)
    torch.testing.assert_close(clf(x), fc(x) - 3.0)
    # tau can be changed after construction; the original weight is kept.
    clf.tau = 1.0
    np.testing.assert_allclose(
        clf(x).numpy(), x.numpy() @ (w / np.linalg.norm(w, axis=1, keepdims=True)).T, rtol=1e-12
    )
    assert set(clf.state_dict()) == {"weight"} and list(clf.parameters()) == []


def test_balanced_accuracy_matches_sklearn():
    rng = _rng(3)
    logits = _t(rng.standard_normal((200, 5)))
    labels = _t(rng.integers(0, 5, 200))
    expected = balanced_accuracy_score(labels.numpy(), logits.argmax(1).numpy())
    assert D.balanced_accuracy(logits, labels) == pytest.approx(expected, abs=1e-15)


def _tau_problem():
    # Head classes have large weight norms: plain dot products favour them, τ-norm removes it.
    rng = _rng(4)
    directions = rng.standard_normal((4, 6))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    weight = directions * np.array([[4.0], [2.0], [1.0], [0.5]])
    labels = np.repeat(np.arange(4), 25)
    feats = directions[labels] + 0.6 * rng.standard_normal((100, 6))
    return _t(feats), _t(labels), _t(weight)


def test_search_tau_sweeps_and_picks_the_first_best():
    feats, labels, weight = _tau_problem()
    taus = np.linspace(0, 2, 21)
    expected = []
    for tau in taus:
        wn = weight.numpy() / np.linalg.norm(weight.numpy(), axis=1, keepdims=True) ** tau
        pred = (feats.numpy() @ wn.T).argmax(1)
        expected.append(balanced_accuracy_score(labels.numpy(), pred))
    result = D.search_tau(feats, labels, weight=weight)
    np.testing.assert_allclose(result.taus.numpy(), taus, atol=1e-15)
    np.testing.assert_allclose(result.accuracies.numpy(), expected, atol=1e-15)
    best = int(np.argmax(expected))
    assert result.tau == pytest.approx(taus[best]) and result.accuracy == expected[best]
    assert result.accuracy > expected[0]  # the imbalance of norms costs accuracy at tau = 0


def test_search_tau_callable_and_linear_agree_with_features_path():
    feats, labels, weight = _tau_problem()
    fc = nn.Linear(6, 4).double()
    with torch.no_grad():
        fc.weight.copy_(weight)
    taus = [0.0, 0.5, 1.0, 1.5]
    a = D.search_tau(feats, labels, taus, weight=fc)
    b = D.search_tau(lambda t: D.TauNormClassifier.from_linear(fc, t)(feats), labels, taus)
    c = D.search_tau(feats, labels, taus, weight=weight, balanced=False)  # balanced set
    assert a.tau == b.tau == c.tau
    torch.testing.assert_close(a.accuracies, b.accuracies)
    torch.testing.assert_close(a.accuracies, c.accuracies)


# -- LWS ------------------------------------------------------------------------------------


def test_lws_scales_logits_including_the_bias():
    torch.manual_seed(0)
    fc = nn.Linear(5, 4).double()
    lws = D.LWSClassifier.from_linear(fc)
    f = _rng(5).uniform(0.5, 2.0, 4)
    with torch.no_grad():
        lws.scales.copy_(_t(f))
    x = _t(_rng(6).standard_normal((8, 5)))
    w, b = fc.weight.detach().numpy(), fc.bias.detach().numpy()
    expected = (x.numpy() @ w.T + b) * f
    np.testing.assert_allclose(lws(x).detach().numpy(), expected, rtol=1e-13)


def test_lws_trains_only_the_scales():
    torch.manual_seed(0)
    fc = nn.Linear(5, 4)
    lws = D.LWSClassifier.from_linear(fc)
    assert [n for n, _ in lws.named_parameters()] == ["scales"]
    torch.testing.assert_close(lws.scales.detach(), torch.ones(4))
    assert set(lws.state_dict()) == {"weight", "bias", "scales"}
    x = torch.ones(3, 5)
    lws(x).sum().backward()
    assert lws.scales.grad is not None and fc.weight.grad is None
    # The wrapped weights are copies: later changes to the Linear do not leak in.
    with torch.no_grad():
        fc.weight.zero_()
    assert lws.weight.abs().sum() > 0


# -- NCM ------------------------------------------------------------------------------------


def _ncm_reference(train_x, train_y, x, num_classes, feat_type, dist_type):
    mean = train_x.mean(axis=0)

    def phi(a):
        if feat_type == "cl2n":
            a = a - mean
        if feat_type in ("cl2n", "l2n"):
            a = a / np.linalg.norm(a, axis=1, keepdims=True)
        return a

    tx, q = phi(train_x), phi(x)
    logits = np.full((len(x), num_classes), -np.inf)
    for c in range(num_classes):
        if (train_y == c).any():
            centroid = tx[train_y == c].mean(axis=0)  # not re-normalised
            if dist_type == "l2":
                logits[:, c] = -((q - centroid) ** 2).sum(axis=1)
            else:
                logits[:, c] = q @ centroid / x.shape[1]
    return logits


@pytest.mark.parametrize("feat_type", ["cl2n", "l2n", "un"])
@pytest.mark.parametrize("dist_type", ["l2", "cos"])
def test_ncm_logits_match_reference(feat_type, dist_type):
    rng = _rng(7)
    train_x = rng.standard_normal((60, 8)) + 1.5
    train_y = rng.integers(0, 4, 60)
    train_y[train_y == 2] = 1  # class 2 has no sample
    x = rng.standard_normal((9, 8)) + 1.0
    ncm = D.NCMClassifier.fit(_t(train_x), _t(train_y), 5, feat_type=feat_type, dist_type=dist_type)
    expected = _ncm_reference(train_x, train_y, x, 5, feat_type, dist_type)
    out = ncm(_t(x)).numpy()
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-10, atol=1e-12)
    assert ncm.present.tolist() == [True, True, False, True, False]


def test_ncm_default_is_cl2n_l2():
    ncm = D.NCMClassifier.fit(
        torch.randn(10, 3, generator=torch.Generator().manual_seed(0)), torch.arange(10) % 2, 2
    )
    assert (ncm.feat_type, ncm.dist_type) == ("cl2n", "l2")


# -- cRT ------------------------------------------------------------------------------------


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def test_prepare_crt_freezes_all_but_the_reinitialised_classifier():
    model = _model()
    before = model[3].weight.detach().clone()
    torch.manual_seed(1)
    params = D.prepare_crt(model, model[3])
    assert [p.data_ptr() for p in params] == [p.data_ptr() for p in model[3].parameters()]
    assert all(p.requires_grad for p in params)
    frozen = [p for m in model[:3] for p in m.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    assert not torch.equal(model[3].weight.detach(), before)
    model(torch.randn(5, 4, generator=torch.Generator().manual_seed(0))).sum().backward()
    assert all(p.grad is None for p in frozen)


def test_prepare_crt_by_name_and_without_reinitialisation():
    model = _model()
    before = model[3].weight.detach().clone()
    params = D.prepare_crt(model, "3", reinitialize=False)
    assert len(params) == 2
    torch.testing.assert_close(model[3].weight.detach(), before)


# -- bad input: built-in exceptions with torch-style messages ----------------------------------


@pytest.mark.parametrize("tau", [-0.1, float("nan"), float("inf")])
def test_negative_or_non_finite_tau(tau):
    w = torch.ones(3, 2)
    with pytest.raises(ValueError, match="tau should be a finite number >= 0"):
        D.tau_normalize(w, tau)
    with pytest.raises(ValueError, match="tau should be a finite number >= 0"):
        D.TauNormClassifier(w, tau)
    with pytest.raises(ValueError, match="tau should be a finite number >= 0"):
        D.search_tau(torch.ones(4, 2), torch.zeros(4).long(), [0.5, tau], weight=w)


def test_tau_of_wrong_type():
    with pytest.raises(TypeError, match="tau should be a real number"):
        D.tau_normalize(torch.ones(3, 2), "1")


@pytest.mark.parametrize("bad", [nn.Conv1d(2, 3, 1), nn.Sequential(nn.Linear(2, 3)), None])
def test_classifier_that_is_not_a_linear(bad):
    with pytest.raises(TypeError, match=r"should be a torch\.nn\.Linear classifier"):
        D.TauNormClassifier.from_linear(bad, 1.0)
    with pytest.raises(TypeError, match=r"should be a torch\.nn\.Linear classifier"):
        D.LWSClassifier.from_linear(bad)


def test_search_tau_with_a_module_that_is_not_a_linear():
    with pytest.raises(TypeError, match=r"weight should be a torch\.nn\.Linear classifier"):
        D.search_tau(torch.ones(4, 2), torch.zeros(4).long(), weight=nn.Conv1d(2, 3, 1))


def test_features_and_labels_of_different_length():
    with pytest.raises(ValueError, match="features and labels should have the same length"):
        D.NCMClassifier.fit(torch.ones(5, 2), torch.zeros(4).long(), 2)
    with pytest.raises(ValueError, match="features and labels should have the same length"):
        D.search_tau(torch.ones(5, 2), torch.zeros(4).long(), weight=torch.ones(3, 2))
    with pytest.raises(ValueError, match="logits and labels should have the same length"):
        D.balanced_accuracy(torch.ones(5, 2), torch.zeros(4).long())


def test_other_bad_decoupling_input():
    with pytest.raises(ValueError, match="weight should have shape"):
        D.tau_normalize(torch.ones(3), 1.0)
    with pytest.raises(TypeError, match="labels should be an integer tensor"):
        D.NCMClassifier.fit(torch.ones(4, 2), torch.zeros(4), 2)
    with pytest.raises(ValueError, match="num_classes should be > every label"):
        D.NCMClassifier.fit(torch.ones(4, 2), torch.tensor([0, 1, 2, 3]), 3)
    with pytest.raises(ValueError, match="feat_type should be one of"):
        D.NCMClassifier.fit(torch.ones(4, 2), torch.zeros(4).long(), 2, feat_type="x")
    with pytest.raises(ValueError, match="dist_type should be one of"):
        D.NCMClassifier.fit(torch.ones(4, 2), torch.zeros(4).long(), 2, dist_type="l1")
    with pytest.raises(ValueError, match="weight should be the classifier"):
        D.search_tau(torch.ones(4, 2), torch.zeros(4).long())
    with pytest.raises(ValueError, match="weight should be None when source is a logits_fn"):
        D.search_tau(lambda t: torch.ones(4, 2), torch.zeros(4).long(), weight=torch.ones(2, 2))
    with pytest.raises(ValueError, match="taus should hold at least one candidate"):
        D.search_tau(torch.ones(4, 2), torch.zeros(4).long(), [], weight=torch.ones(3, 2))


def test_prepare_crt_bad_classifier():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="classifier should be a submodule of model"):
        D.prepare_crt(model, nn.Linear(3, 2))
    with pytest.raises(ValueError, match="classifier should name a submodule of model"):
        D.prepare_crt(model, "fc")
    with pytest.raises(TypeError, match=r"classifier should be a torch\.nn\.Module"):
        D.prepare_crt(model, 3)
    # Nothing was frozen by the failed calls.
    assert all(p.requires_grad for p in model.parameters())
