"""Meta Sampler (BALMS, Ren et al. NeurIPS 2020, arXiv:2007.10740): initialisation, class law,
Gumbel draws and the bilevel step against a hand-written float64 version of the official
``meta_forward``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from longtail.samplers import MetaSampler, meta
from scipy import stats
from torch import nn

COUNTS = [60, 25, 10, 4, 1]
LABELS = np.random.default_rng(0).permutation(np.repeat(np.arange(5), COUNTS))


def _official_init(counts, init_pow):
    # SampleLearner.init_weights_sampler, written out in float64.
    pi = np.asarray(counts, dtype=np.float64) / sum(counts)
    q = 1.0 / pi**init_pow
    q = q / (q.min() + q.max())
    return np.log(q) - np.log(1 - q)


@pytest.mark.parametrize("init_pow", [0.0, 0.5, 1.0])
def test_initial_logits(init_pow):
    sampler = MetaSampler(LABELS, batch_size=8, init_pow=init_pow)
    np.testing.assert_allclose(
        sampler.logits.detach().numpy(), _official_init(COUNTS, init_pow), rtol=1e-12, atol=1e-14
    )


def test_default_init_is_instance_balanced():
    sampler = MetaSampler(LABELS, batch_size=8)
    torch.testing.assert_close(sampler.logits.detach(), torch.zeros(5, dtype=torch.float64))
    np.testing.assert_allclose(
        sampler.class_probabilities().numpy(), np.array(COUNTS) / sum(COUNTS), rtol=1e-15
    )


def test_class_law_is_count_times_sigmoid():
    sampler = MetaSampler(LABELS, batch_size=256, num_batches=150, seed=3)
    w = np.array([-1.5, 0.0, 0.7, 2.0, 3.0])
    with torch.no_grad():
        sampler.logits.copy_(torch.from_numpy(w))
    law = np.array(COUNTS) / (1 + np.exp(-w))
    law /= law.sum()
    np.testing.assert_allclose(sampler.class_probabilities().numpy(), law, rtol=1e-14)
    batches = list(sampler)
    assert len(batches) == 150 and all(len(b) == 256 for b in batches)
    observed = np.bincount(LABELS[np.concatenate(batches)], minlength=5)
    # Fixed seed: deterministic; a wrong law (σ(w) alone, or n alone) gives p < 1e-100.
    assert stats.chisquare(observed, law * observed.sum()).pvalue > 1e-4


def test_unused_class_is_never_drawn_and_keeps_logit():
    sampler = MetaSampler(LABELS, batch_size=64, num_classes=7, init_pow=1.0)
    assert sampler.class_counts.tolist() == [*COUNTS, 0, 0]
    assert sampler.logits[5:].tolist() == [0.0, 0.0]
    assert sampler.class_probabilities()[5:].tolist() == [0.0, 0.0]


def test_epochs_are_deterministic_and_differ():
    a, b = MetaSampler(LABELS, 16, seed=5), MetaSampler(LABELS, 16, seed=5)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    assert len(a) == len(LABELS) // 16


def _soft_and_hard(sampler, draw, w):
    """The official straight-through one-hot (B, N) of a draw, rebuilt from its noise."""
    generator = torch.Generator().manual_seed(draw.noise_seed)
    labels = torch.from_numpy(LABELS)
    idx = torch.from_numpy(draw.indices)
    phi = F.logsigmoid(w.detach())[labels]
    g = torch.cat(list(meta._conditional_gumbel_rows(phi, idx, generator)))
    soft = torch.softmax(F.logsigmoid(w)[labels] + g, dim=1)
    hard = F.one_hot(idx, len(LABELS)).to(soft.dtype)
    return soft, hard, phi + g


def test_gumbel_perturbations_are_consistent_with_the_drawn_indices():
    sampler = MetaSampler(LABELS, batch_size=32, seed=2, init_pow=0.5)
    next(iter(sampler))
    draw = sampler._pending[0]
    _, _, perturbed = _soft_and_hard(sampler, draw, sampler.logits)
    np.testing.assert_array_equal(perturbed.argmax(dim=1).numpy(), draw.indices)
    assert (draw.labels.numpy() == LABELS[draw.indices]).all()
    torch.testing.assert_close(draw.weight.detach(), torch.ones(32, dtype=torch.float64))


def test_conditional_gumbel_has_the_unconditional_law():
    # The row maximum minus logsumexp(phi) is a standard Gumbel, whatever index is drawn.
    phi = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64))
    idx = torch.tensor([0, 3] * 2000)
    rows = meta._conditional_gumbel_rows(phi, idx, torch.Generator().manual_seed(0))
    g = torch.cat(list(rows))
    top = (phi + g).max(dim=1).values - torch.logsumexp(phi, 0)
    assert stats.kstest(top.numpy(), stats.gumbel_r.cdf).pvalue > 1e-4
    # A non-drawn entry, given the drawn one is the maximum: P(phi_1 + g_1 < T) = 1, and its
    # law is Gumbel(phi_1) conditioned on being below T: check the CDF identity
    # P(X <= x | X < T) = F(x) / F(T) averaged over T.
    x1 = (phi[1] + g[:, 1]).numpy()
    t = (phi + g).max(dim=1).values.numpy()
    grid = np.linspace(-2, 2, 9)
    emp = [(x1 <= x).mean() for x in grid]
    cdf = lambda x: np.exp(-np.exp(-(x - phi[1].item())))  # noqa: E731
    theo = [np.mean(np.minimum(cdf(x) / cdf(t), 1.0)) for x in grid]
    np.testing.assert_allclose(emp, theo, atol=0.03)


def _hand_written_step(sampler, draw, w0, weight, bias, x, y, mx, my, lr):
    """Official meta_forward for a linear classifier, with its inner gradient in closed form."""
    w = w0.clone().requires_grad_()
    soft, hard, _ = _soft_and_hard(sampler, draw, w)
    h = hard - soft.detach() + soft
    coef = (h.detach() * h).sum(dim=1)  # per-row weight of ℓ_b in forward_loss (value 1)
    log_n = torch.log(torch.tensor(COUNTS, dtype=torch.float64))
    p = torch.softmax(x @ weight.T + bias + log_n, dim=1)  # Balanced Softmax probabilities
    delta = (p - F.one_hot(y, 5)) * coef.unsqueeze(1) / len(y)  # ∂ inner / ∂ z
    weight1 = weight - lr * delta.T @ x
    bias1 = bias - lr * delta.sum(dim=0)
    outer = F.cross_entropy(mx @ weight1.T + bias1, my)
    (grad,) = torch.autograd.grad(outer, w)
    return outer.detach(), grad


def test_step_gradient_matches_hand_written_bilevel_step():
    sampler = MetaSampler(LABELS, batch_size=24, seed=4, init_pow=0.5, lr=0.01)
    torch.manual_seed(0)
    fc = nn.Linear(3, 5).double()
    rng = np.random.default_rng(1)
    features = torch.from_numpy(rng.standard_normal((len(LABELS), 3)))
    meta_idx = np.concatenate([np.flatnonzero(LABELS == c)[:2] for c in range(5)])
    mx, my = features[meta_idx], torch.from_numpy(LABELS[meta_idx])

    batches = iter(sampler)
    for _ in range(2):  # two consecutive steps: the second starts from updated logits
        idx = next(batches)
        draw = sampler._pending[0]
        x, y = features[idx], torch.from_numpy(LABELS[idx])
        w0 = sampler.logits.detach().clone()
        state = {k: v.clone() for k, v in fc.state_dict().items()}
        expected_loss, expected_grad = _hand_written_step(
            sampler, draw, w0, fc.weight.detach(), fc.bias.detach(), x, y, mx, my, lr=0.5
        )
        loss = sampler.step(fc, x, y, mx, my, lr=0.5)
        torch.testing.assert_close(loss, expected_loss, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(sampler.logits.grad, expected_grad, rtol=1e-9, atol=1e-14)
        assert expected_grad.abs().max() > 1e-6  # the step does move the logits
        # The classifier is untouched; the logits take Adam steps.
        for k, v in fc.state_dict().items():
            torch.testing.assert_close(v, state[k], rtol=0, atol=0)
        assert fc.weight.grad is None
        assert not torch.equal(sampler.logits.detach(), w0)


def test_first_step_is_an_adam_step():
    sampler = MetaSampler(LABELS, batch_size=24, seed=4, lr=0.05)
    torch.manual_seed(0)
    fc = nn.Linear(3, 5).double()
    features = torch.from_numpy(np.random.default_rng(1).standard_normal((len(LABELS), 3)))
    idx = next(iter(sampler))
    x, y = features[idx], torch.from_numpy(LABELS[idx])
    sampler.step(fc, x, y, features[:10], torch.from_numpy(LABELS[:10]), lr=0.5)
    g = sampler.logits.grad
    # Adam's first step: m̂ = g, v̂ = g², so w ← w − lr·g/(|g| + eps).
    torch.testing.assert_close(sampler.logits.detach(), -0.05 * g / (g.abs() + 1e-8))


def test_step_order_and_target_are_checked():
    sampler = MetaSampler(LABELS, batch_size=8, seed=0)
    fc = nn.Linear(3, 5).double()
    x = torch.zeros(8, 3, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="should follow a batch drawn"):
        sampler.step(fc, x, torch.zeros(8, dtype=torch.long), x, torch.zeros(8).long(), lr=0.1)
    idx = next(iter(sampler))
    wrong = (torch.from_numpy(LABELS[idx]) + 1) % 5
    with pytest.raises(ValueError, match="target should be the labels of the oldest batch"):
        sampler.step(fc, x, wrong, x, wrong, lr=0.1)
    with pytest.raises(ValueError, match="lr should be a finite number > 0"):
        sampler.step(fc, x, torch.from_numpy(LABELS[idx]), x, wrong, lr=0.0)
    with pytest.raises(TypeError, match=r"classifier should be a torch\.nn\.Module"):
        sampler.step("fc", x, torch.from_numpy(LABELS[idx]), x, wrong, lr=0.1)


def test_pickle_and_state_dict_round_trip():
    sampler = MetaSampler(LABELS, batch_size=8, seed=0, init_pow=1.0)
    next(iter(sampler))
    clone = pickle.loads(pickle.dumps(sampler))
    torch.testing.assert_close(clone.logits, sampler.logits)
    assert len(clone._pending) == 0
    other = MetaSampler(LABELS, batch_size=8, seed=9)
    other.load_state_dict(sampler.state_dict())
    torch.testing.assert_close(other.logits.detach(), sampler.logits.detach())
    assert list(other) == list(clone)


# -- bad constructor arguments -----------------------------------------------------------------


def test_bad_meta_sampler_input():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        MetaSampler([0, 1, 1], batch_size=0)
    with pytest.raises(ValueError, match="num_classes should be > every label"):
        MetaSampler([0, 1, 2], batch_size=2, num_classes=2)
    with pytest.raises(ValueError, match="init_pow should be a finite number >= 0"):
        MetaSampler([0, 1, 2], batch_size=2, init_pow=-1.0)


def test_meta_sampler_rejects_an_init_pow_that_overflows():
    with pytest.raises(ValueError, match="init_pow should be small enough"):
        MetaSampler([0] * 50 + [1], 4, init_pow=1e308)
