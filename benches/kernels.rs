//! Criterion benchmarks of the Rust kernels alone (no Python, no torch): the loss kernels at
//! the shapes of the Python benchmark, and the sampler core at a million labels.
//!
//! `cargo bench --no-default-features --bench kernels` runs them; each group is kept short
//! (few samples) because the numbers that matter for users are the Python ratios in
//! `benches/python/`. These say where time goes inside the kernel.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use _core::losses::group_softmax::{group_softmax_loss, GroupSoftmaxParams};
use _core::losses::seesaw::{seesaw_loss, SeesawForm, SeesawParams};
use _core::losses::sigmoid::{sigmoid_loss, SigmoidLossParams, SigmoidTarget};
use _core::losses::softmax::{softmax_loss, SoftmaxLossParams};
use _core::losses::{Layout, Reduction};
use _core::samplers::{class_aware::class_aware_indices, group_labels, weighted};

/// Deterministic logits in about [-4, 4] (a fixed LCG: no RNG crate, no global state).
fn logits(len: usize) -> Vec<f32> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
        })
        .collect()
}

/// Labels with a long-tailed law: class k has weight ∝ 1/(k + 1).
fn long_tailed_labels(n: usize, c: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let u = ((i as u64).wrapping_mul(2_654_435_761) % 1_000_003) as f64 / 1_000_003.0;
            ((c as f64).powf(u) - 1.0).floor().min(c as f64 - 1.0) as i64
        })
        .collect()
}

/// Per-class counts of the long-tailed law, as the losses' parameters.
fn counts(c: usize) -> Vec<f32> {
    (0..c).map(|k| 1000.0 / (k as f32 + 1.0)).collect()
}

fn softmax_family(cr: &mut Criterion) {
    let mut group = cr.benchmark_group("softmax_loss");
    for (n, c) in [(256usize, 100usize), (1024, 1000), (8192, 1204)] {
        let input = logits(n * c);
        let target = long_tailed_labels(n, c);
        let log_prior: Vec<f32> = counts(c).iter().map(|v| v.ln()).collect();
        let margins: Vec<f32> = counts(c).iter().map(|v| 0.5 / v.powf(0.25)).collect();
        let layout = Layout { n, c, d: 1 };
        let mut grad = vec![0.0f32; n * c];
        let mut loss = [0.0f32];
        group.throughput(Throughput::Elements((n * c) as u64));
        let cases = [
            ("cross_entropy", SoftmaxLossParams::cross_entropy()),
            (
                "logit_adjusted",
                SoftmaxLossParams {
                    offsets: Some(&log_prior[..]),
                    ..SoftmaxLossParams::cross_entropy()
                },
            ),
            (
                "ldam",
                SoftmaxLossParams {
                    margins: Some(&margins[..]),
                    scale: 30.0,
                    ..SoftmaxLossParams::cross_entropy()
                },
            ),
            (
                "focal",
                SoftmaxLossParams {
                    gamma: 2.0,
                    ..SoftmaxLossParams::cross_entropy()
                },
            ),
        ];
        for (name, params) in cases {
            group.bench_with_input(
                BenchmarkId::new(name, format!("{n}x{c}")),
                &params,
                |b, p| {
                    b.iter(|| {
                        softmax_loss(black_box(&input), &target, layout, p, &mut loss, &mut grad)
                            .unwrap();
                        black_box(loss[0])
                    });
                },
            );
        }
    }
    group.finish();
}

fn detection_kernels(cr: &mut Criterion) {
    let (n, c) = (1024usize, 1000usize);
    let mut group = cr.benchmark_group("detection");
    group.throughput(Throughput::Elements((n * c) as u64));
    let mut loss = [0.0f32; 2];

    // Sigmoid focal loss with labels (C = background), mmdetection's form.
    let input = logits(n * c);
    let labels = long_tailed_labels(n, c + 1);
    let mut grad = vec![0.0f32; n * c];
    let focal = SigmoidLossParams {
        gamma: 2.0,
        alpha: Some(0.25),
        ..SigmoidLossParams::bce()
    };
    group.bench_function(BenchmarkId::new("sigmoid_focal", format!("{n}x{c}")), |b| {
        b.iter(|| {
            let target = SigmoidTarget::Labels {
                labels: &labels,
                num_labels: c + 1,
                ignore_index: -100,
            };
            sigmoid_loss(
                black_box(&input),
                target,
                c,
                &focal,
                &mut loss[..1],
                &mut grad,
                None,
            )
            .unwrap();
            black_box(loss[0])
        });
    });

    // Seesaw loss, classification form, with mitigation and compensation.
    let class_counts = counts(c);
    let labels = long_tailed_labels(n, c);
    let seesaw = SeesawParams {
        num_classes: c,
        form: SeesawForm::Classification,
        counts: Some(&class_counts),
        p: 0.8,
        q: 2.0,
        eps: 1e-2,
        factors: None,
        weight: None,
        ignore_index: -100,
        reduction: Reduction::Mean,
        avg_factor: None,
    };
    group.bench_function(BenchmarkId::new("seesaw", format!("{n}x{c}")), |b| {
        b.iter(|| {
            seesaw_loss(black_box(&input), &labels, &seesaw, &mut loss, &mut grad).unwrap();
            black_box(loss[0])
        });
    });

    // Group softmax: four groups of 250 columns, every row in every group.
    let offsets = [0usize, 250, 500, 750, 1000];
    let targets: Vec<i64> = (0..n * 4).map(|k| (k * 37 % 250) as i64).collect();
    let weights = vec![1.0f32 / n as f32; n * 4];
    let groups = GroupSoftmaxParams {
        offsets: &offsets,
        targets: &targets,
        weights: &weights,
        reduction: Reduction::Sum,
    };
    group.bench_function(BenchmarkId::new("group_softmax", format!("{n}x{c}")), |b| {
        b.iter(|| {
            group_softmax_loss(black_box(&input), &groups, &mut loss[..1], &mut grad).unwrap();
            black_box(loss[0])
        });
    });
    group.finish();
}

fn samplers(cr: &mut Criterion) {
    let n = 1_000_000usize;
    let mut group = cr.benchmark_group("samplers");
    group.throughput(Throughput::Elements(n as u64));
    let weights: Vec<f64> = (0..n).map(|i| 1.0 / (i % 1000 + 1) as f64).collect();
    group.bench_function("weighted_with_replacement/1e6", |b| {
        b.iter(|| black_box(weighted::weighted_indices(&weights, n as u64, true, 0, 1).unwrap()));
    });
    group.bench_function("weighted_without_replacement/1e6", |b| {
        b.iter(|| black_box(weighted::weighted_indices(&weights, n as u64, false, 0, 1).unwrap()));
    });
    let labels = long_tailed_labels(n, 1000);
    group.bench_function("group_labels/1e6", |b| {
        b.iter(|| black_box(group_labels(black_box(&labels)).unwrap()));
    });
    let grouping = group_labels(&labels).unwrap();
    group.bench_function("class_aware/1e6", |b| {
        b.iter(|| {
            black_box(
                class_aware_indices(&grouping.offsets, &grouping.members, 4, n as u64, 0, 1)
                    .unwrap(),
            )
        });
    });
    group.finish();
}

fn config() -> Criterion {
    // Short runs: the machine is shared, and the kernels' times are stable within a few %.
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = kernels;
    config = config();
    targets = softmax_family, detection_kernels, samplers
}
criterion_main!(kernels);
