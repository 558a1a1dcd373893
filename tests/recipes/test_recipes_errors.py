"""Bad input to the recipes raises built-in exceptions with torch-style messages."""

from __future__ import annotations

import pytest
import torch
from longtail import DeferredReweighting, bbn, decoupling
from longtail.samplers import MetaSampler
from torch import nn


@pytest.mark.parametrize("tau", [-0.1, float("nan"), float("inf")])
def test_negative_or_non_finite_tau(tau):
    w = torch.ones(3, 2)
    with pytest.raises(ValueError, match="tau should be a finite number >= 0"):
        decoupling.tau_normalize(w, tau)
    with pytest.raises(ValueError, match="tau should be a finite number >= 0"):
        decoupling.TauNormClassifier(w, tau)
    with pytest.raises(ValueError, match="tau should be a finite number >= 0"):
        decoupling.search_tau(torch.ones(4, 2), torch.zeros(4).long(), [0.5, tau], weight=w)


def test_tau_of_wrong_type():
    with pytest.raises(TypeError, match="tau should be a real number"):
        decoupling.tau_normalize(torch.ones(3, 2), "1")


@pytest.mark.parametrize("bad", [nn.Conv1d(2, 3, 1), nn.Sequential(nn.Linear(2, 3)), None])
def test_classifier_that_is_not_a_linear(bad):
    with pytest.raises(TypeError, match="should be a torch.nn.Linear classifier"):
        decoupling.TauNormClassifier.from_linear(bad, 1.0)
    with pytest.raises(TypeError, match="should be a torch.nn.Linear classifier"):
        decoupling.LWSClassifier.from_linear(bad)


def test_search_tau_with_a_module_that_is_not_a_linear():
    with pytest.raises(TypeError, match="weight should be a torch.nn.Linear classifier"):
        decoupling.search_tau(torch.ones(4, 2), torch.zeros(4).long(), weight=nn.Conv1d(2, 3, 1))


def test_features_and_labels_of_different_length():
    with pytest.raises(ValueError, match="features and labels should have the same length"):
        decoupling.NCMClassifier.fit(torch.ones(5, 2), torch.zeros(4).long(), 2)
    with pytest.raises(ValueError, match="features and labels should have the same length"):
        decoupling.search_tau(torch.ones(5, 2), torch.zeros(4).long(), weight=torch.ones(3, 2))
    with pytest.raises(ValueError, match="logits and labels should have the same length"):
        decoupling.balanced_accuracy(torch.ones(5, 2), torch.zeros(4).long())


def test_other_bad_decoupling_input():
    with pytest.raises(ValueError, match="weight should have shape"):
        decoupling.tau_normalize(torch.ones(3), 1.0)
    with pytest.raises(TypeError, match="labels should be an integer tensor"):
        decoupling.NCMClassifier.fit(torch.ones(4, 2), torch.zeros(4), 2)
    with pytest.raises(ValueError, match="num_classes should be > every label"):
        decoupling.NCMClassifier.fit(torch.ones(4, 2), torch.tensor([0, 1, 2, 3]), 3)
    with pytest.raises(ValueError, match="feat_type should be one of"):
        decoupling.NCMClassifier.fit(torch.ones(4, 2), torch.zeros(4).long(), 2, feat_type="x")
    with pytest.raises(ValueError, match="dist_type should be one of"):
        decoupling.NCMClassifier.fit(torch.ones(4, 2), torch.zeros(4).long(), 2, dist_type="l1")
    with pytest.raises(ValueError, match="weight should be the classifier"):
        decoupling.search_tau(torch.ones(4, 2), torch.zeros(4).long())
    with pytest.raises(ValueError, match="weight should be None when source is a logits_fn"):
        decoupling.search_tau(lambda t: torch.ones(4, 2), torch.zeros(4).long(),
                              weight=torch.ones(2, 2))
    with pytest.raises(ValueError, match="taus should hold at least one candidate"):
        decoupling.search_tau(torch.ones(4, 2), torch.zeros(4).long(), [], weight=torch.ones(3, 2))


def test_prepare_crt_bad_classifier():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="classifier should be a submodule of model"):
        decoupling.prepare_crt(model, nn.Linear(3, 2))
    with pytest.raises(ValueError, match="classifier should name a submodule of model"):
        decoupling.prepare_crt(model, "fc")
    with pytest.raises(TypeError, match="classifier should be a torch.nn.Module"):
        decoupling.prepare_crt(model, 3)
    # Nothing was frozen by the failed calls.
    assert all(p.requires_grad for p in model.parameters())


def test_bad_bbn_input():
    with pytest.raises(ValueError, match="epoch should be a positive integer"):
        bbn.cumulative_alpha(0, 200)  # BBN counts epochs from 1
    with pytest.raises(ValueError, match=r"epoch should be in \[1, total_epochs=200\]"):
        bbn.cumulative_alpha(201, 200)
    with pytest.raises(ValueError, match="alpha should be in"):
        bbn.bbn_loss(torch.zeros(2, 3), torch.zeros(2).long(), torch.zeros(2).long(), 1.5)
    with pytest.raises(ValueError, match="reversed_target should have shape"):
        bbn.bbn_loss(torch.zeros(2, 3), torch.zeros(2).long(), torch.zeros(3).long(), 0.5)
    with pytest.raises(ValueError, match="same shape"):
        bbn.BBNClassifier(4, 3)(torch.zeros(2, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="in_features should be even"):
        bbn.BBNClassifier(5, 3)
    with pytest.raises(TypeError, match="index should be a pair"):
        bbn.BilateralDataset([1, 2, 3])[0]


def test_bad_drw_and_meta_sampler_input():
    with pytest.raises(ValueError, match="epoch should be a non-negative integer"):
        DeferredReweighting([5, 1])(-1)
    with pytest.raises(ValueError, match="start_epoch should be a non-negative integer"):
        DeferredReweighting([5, 1], start_epoch=-3)
    with pytest.raises(ValueError, match="beta should be <= 1.0"):
        DeferredReweighting([5, 1], beta=1.5)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        MetaSampler([0, 1, 1], batch_size=0)
    with pytest.raises(ValueError, match="num_classes should be > every label"):
        MetaSampler([0, 1, 2], batch_size=2, num_classes=2)
    with pytest.raises(ValueError, match="init_pow should be a finite number >= 0"):
        MetaSampler([0, 1, 2], batch_size=2, init_pow=-1.0)
