//! The sigmoid-family loss of [`super::sigmoid`] written as libtorch ops, for tensors the CPU
//! kernel cannot take (CUDA). Same formula, same gradient, same reductions, same statistics.

use tch::{Kind, Tensor};

use super::sigmoid::SigmoidNormalization;
use super::{check_tensor_shape, on_host, Reduction};
use crate::error::{CoreError, Result};

/// How each row's target is given (see `SigmoidTarget`).
pub enum SigmoidTargetTensor {
    Labels {
        labels: Tensor,
        num_labels: i64,
        ignore_index: i64,
    },
    Dense(Tensor),
}

/// The tensor-valued parameters of the sigmoid-family loss (see `SigmoidLossParams`).
pub struct SigmoidLossTensors {
    pub gamma: f64,
    pub alpha: Option<f64>,
    pub weight: Option<Tensor>,
    pub label_weight: Option<Tensor>,
    pub pos_weight: Option<Tensor>,
    pub neg_weight: Option<Tensor>,
    pub neg_weight_fg_only: bool,
    pub reduction: Reduction,
    pub normalization: SigmoidNormalization,
    pub avg_factor: Option<f64>,
}

/// Returns `(loss, grad, stats)` as the CPU kernel does; `stats` is `(2, C)` when asked for.
/// `input` has C = its last dimension columns; label targets need a 2-D input.
pub fn sigmoid_loss_tch(
    input: &Tensor,
    target: &SigmoidTargetTensor,
    p: &SigmoidLossTensors,
    collect_stats: bool,
) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let shape = input.size();
    let c = *shape.last().unwrap_or(&0);
    if c == 0 {
        return Err(CoreError::shape(
            "input should have at least one class, but got C = 0",
        ));
    }
    let n = input.numel() as i64 / c;
    match target {
        SigmoidTargetTensor::Labels {
            labels, num_labels, ..
        } => {
            if labels.numel() as i64 != n {
                return Err(CoreError::shape(format!(
                    "target should have one label per row of input ({n}), but got {}",
                    labels.numel()
                )));
            }
            check_tensor_shape(
                "label_weight",
                p.label_weight.as_ref(),
                &[*num_labels],
                "label",
            )?;
        }
        SigmoidTargetTensor::Dense(t) => {
            if t.numel() != input.numel() {
                return Err(CoreError::shape(format!(
                    "target should have as many elements as input ({}), but got {}",
                    input.numel(),
                    t.numel()
                )));
            }
            if p.label_weight.is_some() {
                return Err(CoreError::invalid(
                    "label_weight needs integer labels, but got a dense target",
                ));
            }
        }
    }
    check_tensor_shape("weight", p.weight.as_ref(), &[n], "sample")?;
    check_tensor_shape("pos_weight", p.pos_weight.as_ref(), &[c], "class")?;
    check_tensor_shape("neg_weight", p.neg_weight.as_ref(), &[c], "class")?;
    let x = input.f_reshape([-1, c])?;
    let kind = x.kind();
    let dev = x.device();
    let ones_n = Tensor::f_ones([n], (kind, dev))?;
    let (t, valid, fg, row_w) = match target {
        SigmoidTargetTensor::Labels {
            labels,
            num_labels,
            ignore_index,
        } => {
            let valid = labels.f_ne(*ignore_index)?;
            let bad = labels
                .f_lt(0)?
                .f_logical_or(&labels.f_ge(*num_labels)?)?
                .f_logical_and(&valid)?;
            if on_host(input) && bad.f_any()?.f_int64_value(&[])? != 0 {
                let pos = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
                let val = labels.f_int64_value(&[pos])?;
                return Err(CoreError::out_of_range(format!(
                    "target should contain labels in [0, {num_labels}) or ignore_index={ignore_index}, but got \
                     target={val} at position {pos}"
                )));
            }
            let safe = labels.f_where_scalarother(&valid, 0)?;
            // Labels >= C (background) fall into a dropped extra column.
            let col = safe.f_clamp_max(c)?.f_unsqueeze(1)?;
            let t = Tensor::f_zeros([n, c + 1], (kind, dev))?
                .f_scatter_value(1, &col, 1.0)?
                .f_narrow(1, 0, c)?;
            let fg = safe.f_lt(c)?.f_logical_and(&valid)?;
            let v = match &p.label_weight {
                Some(v) => v.f_index_select(0, &safe)?,
                None => ones_n.shallow_clone(),
            };
            (t, valid.f_to_kind(kind)?, Some(fg), v)
        }
        SigmoidTargetTensor::Dense(t) => (
            t.f_reshape([-1, c])?.f_to_kind(kind)?,
            ones_n.shallow_clone(),
            None,
            ones_n.shallow_clone(),
        ),
    };
    let used = valid.f_gt(0.0)?;
    let nan_rows = x.f_isnan()?.f_any_dim(1, false)?.f_logical_and(&used)?;
    if on_host(input) && nan_rows.f_any()?.f_int64_value(&[])? != 0 {
        let i = nan_rows.f_nonzero()?.f_int64_value(&[0, 0])?;
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    // Ignored rows read zero logits: finite, and dropped by their zero weight (a NaN or an
    // infinity there would otherwise make 0·NaN of the loss, the gradient and the statistics).
    let x = match fg {
        Some(_) => x.f_where_scalarother(&used.f_unsqueeze(1)?, 0.0)?,
        None => x,
    };
    let one_m_t = t.f_neg()?.f_add_scalar(1.0)?;
    let mut row = row_w.f_mul(&valid)?;
    if let Some(w) = &p.weight {
        row = row.f_mul(w)?;
    }
    let mut w = row.f_unsqueeze(1)?.f_expand([n, c], false)?;
    if let Some(a) = p.alpha {
        w = w.f_mul(&t.f_mul_scalar(a)?.f_add(&one_m_t.f_mul_scalar(1.0 - a)?)?)?;
    }
    if p.pos_weight.is_some() || p.neg_weight.is_some() {
        let ones_c = Tensor::f_ones([c], (kind, dev))?;
        let pw = p.pos_weight.as_ref().unwrap_or(&ones_c).f_unsqueeze(0)?;
        let mut qw = p
            .neg_weight
            .as_ref()
            .unwrap_or(&ones_c)
            .f_unsqueeze(0)?
            .f_expand([n, c], false)?;
        if let (true, Some(fg)) = (p.neg_weight_fg_only, &fg) {
            qw = qw.f_where_scalarother(&fg.f_unsqueeze(1)?, 1.0)?;
        }
        w = w.f_mul(&t.f_mul(&pw)?.f_add(&one_m_t.f_mul(&qw)?)?)?;
    }
    // σ(z) and σ(−z) separately, and BCE as log1p(e^{−|z|}) plus the linear part of the
    // side the logit lies on: no difference of nearly equal numbers, so an easy positive
    // (t = 1, z ≫ 0) keeps its float32 relative precision, as in the CPU kernel.
    let s = x.f_sigmoid()?;
    let s_neg = x.f_neg()?.f_sigmoid()?;
    let linear = x
        .f_mul(&one_m_t)?
        .f_where_self(&x.f_ge(0.0)?, &x.f_neg()?.f_mul(&t)?)?;
    let b = x.f_abs()?.f_neg()?.f_exp()?.f_log1p()?.f_add(&linear)?;
    let s_minus_t = s.f_mul(&one_m_t)?.f_sub(&s_neg.f_mul(&t)?)?;
    let (elem, dl) = if p.gamma > 0.0 {
        let q = s.f_mul(&one_m_t)?.f_add(&s_neg.f_mul(&t)?)?;
        let m = q.f_pow_tensor_scalar(p.gamma)?;
        let dq = s
            .f_mul(&s_neg)?
            .f_mul(&t.f_mul_scalar(-2.0)?.f_add_scalar(1.0)?)?;
        let dm = m
            .f_div(&q)?
            .f_mul_scalar(p.gamma)?
            .f_mul(&dq)?
            .f_where_scalarother(&q.f_gt(0.0)?, 0.0)?;
        (m.f_mul(&b)?, dm.f_mul(&b)?.f_add(&m.f_mul(&s_minus_t)?)?)
    } else {
        (b.shallow_clone(), s_minus_t.shallow_clone())
    };
    let elem = elem.f_mul(&w)?;
    let stats = if collect_stats {
        let a = s_minus_t.f_abs()?.f_mul(&w)?;
        let pos = a.f_mul(&t)?.f_sum_dim_intlist(0, false, kind)?;
        let neg = a.f_mul(&one_m_t)?.f_sum_dim_intlist(0, false, kind)?;
        Some(Tensor::f_stack(&[pos, neg], 0)?)
    } else {
        None
    };
    let divisor = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => None,
        (Reduction::Mean, Some(f)) => Some(
            Tensor::f_from_slice(&[f])?
                .f_to_kind(kind)?
                .f_to_device(dev)?
                .f_squeeze()?,
        ),
        (Reduction::Mean, None) => {
            let rows = valid.f_sum(kind)?;
            Some(match p.normalization {
                SigmoidNormalization::Elements => rows.f_mul_scalar(c)?,
                SigmoidNormalization::Rows => rows,
            })
        }
    };
    let mut grad = dl.f_mul(&w)?;
    if let Some(dv) = &divisor {
        grad = grad.f_div(&dv.f_where_scalarother(&dv.f_ne(0.0)?, f64::INFINITY)?)?;
    }
    let grad = grad.f_reshape(shape.as_slice())?.f_contiguous()?;
    let loss = match (p.reduction, divisor) {
        (Reduction::None, _) => elem.f_reshape(shape.as_slice())?.f_contiguous()?,
        (Reduction::Sum, _) => elem.f_sum(Kind::Double)?.f_to_kind(kind)?,
        (Reduction::Mean, Some(dv)) => elem.f_sum(Kind::Double)?.f_to_kind(kind)?.f_div(&dv)?,
        (Reduction::Mean, None) => unreachable!("mean always has a divisor"),
    };
    Ok((loss, grad, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::sigmoid::{sigmoid_loss, SigmoidLossParams, SigmoidTarget};
    use crate::losses::tch_testing::{
        assert_close, assert_kind_shape, cast, labels, long, tensor, to_f64, uniform, values,
        zeros, Float,
    };

    /// How the case's targets are drawn.
    #[derive(Clone, Copy, Debug)]
    enum Targets {
        /// Labels in `[0, num_labels)` (those ≥ C are background), some rows ignored.
        Labels { num_labels: usize },
        /// A target in `[0, 1]` per element; `hard`: only 0 and 1.
        Dense { hard: bool },
    }

    #[derive(Clone)]
    struct Case {
        /// `(N, C)`, or any shape with C last for dense targets.
        shape: Vec<usize>,
        targets: Targets,
        ignored: Vec<usize>,
        ignore_index: i64,
        gamma: f64,
        alpha: Option<f64>,
        weight: bool,
        label_weight: bool,
        pos_weight: bool,
        neg_weight: bool,
        neg_weight_fg_only: bool,
        reduction: Reduction,
        normalization: SigmoidNormalization,
        avg_factor: Option<f64>,
        stats: bool,
        special: Vec<(usize, f64)>,
    }

    fn base(shape: &[usize], targets: Targets) -> Case {
        Case {
            shape: shape.to_vec(),
            targets,
            ignored: Vec::new(),
            ignore_index: -100,
            gamma: 0.0,
            alpha: None,
            weight: false,
            label_weight: false,
            pos_weight: false,
            neg_weight: false,
            neg_weight_fg_only: false,
            reduction: Reduction::Mean,
            normalization: SigmoidNormalization::Elements,
            avg_factor: None,
            stats: false,
            special: Vec::new(),
        }
    }

    /// The data of a case in `T`: logits, labels or dense targets, and the weights asked for.
    struct Data<T> {
        z: Vec<T>,
        labels: Vec<i64>,
        dense: Vec<T>,
        weight: Option<Vec<T>>,
        label_weight: Option<Vec<T>>,
        pos_weight: Option<Vec<T>>,
        neg_weight: Option<Vec<T>>,
    }

    fn data<T: Float>(case: &Case) -> Data<T> {
        let c = *case.shape.last().unwrap();
        let len: usize = case.shape.iter().product();
        let n = len / c;
        let mut z = uniform(len, 11, -6.0, 6.0);
        for &(k, v) in &case.special {
            z[k] = v;
        }
        let (labels, dense, num_labels) = match case.targets {
            Targets::Labels { num_labels } => {
                let mut t = labels(n, 12, num_labels);
                for &r in &case.ignored {
                    t[r] = case.ignore_index;
                }
                (t, Vec::new(), num_labels)
            }
            Targets::Dense { hard } => {
                let t = uniform(len, 13, 0.0, 1.0);
                let t = if hard {
                    t.iter().map(|&v| if v < 0.3 { 1.0 } else { 0.0 }).collect()
                } else {
                    t
                };
                (Vec::new(), cast(&t), 0)
            }
        };
        let some =
            |on: bool, len: usize, seed: u64| on.then(|| cast(&uniform(len, seed, 0.1, 2.0)));
        Data {
            z: cast(&z),
            labels,
            dense,
            weight: some(case.weight, n, 14),
            label_weight: some(case.label_weight, num_labels, 15),
            pos_weight: some(case.pos_weight, c, 16),
            neg_weight: some(case.neg_weight, c, 17),
        }
    }

    fn tensors<T: Float>(case: &Case, d: &Data<T>) -> SigmoidLossTensors {
        let one_d = |v: &Option<Vec<T>>| v.as_ref().map(|v| tensor(v, &[v.len() as i64]));
        SigmoidLossTensors {
            gamma: case.gamma,
            alpha: case.alpha,
            weight: one_d(&d.weight),
            label_weight: one_d(&d.label_weight),
            pos_weight: one_d(&d.pos_weight),
            neg_weight: one_d(&d.neg_weight),
            neg_weight_fg_only: case.neg_weight_fg_only,
            reduction: case.reduction,
            normalization: case.normalization,
            avg_factor: case.avg_factor,
        }
    }

    fn target_tensor<T: Float>(case: &Case, d: &Data<T>, shape: &[i64]) -> SigmoidTargetTensor {
        match case.targets {
            Targets::Labels { num_labels } => SigmoidTargetTensor::Labels {
                labels: long(&d.labels, &[d.labels.len() as i64]),
                num_labels: num_labels as i64,
                ignore_index: case.ignore_index,
            },
            Targets::Dense { .. } => SigmoidTargetTensor::Dense(tensor(&d.dense, shape)),
        }
    }

    fn check<T: Float>(case: &Case, what: &str) {
        let d = data::<T>(case);
        let c = *case.shape.last().unwrap();
        let params = SigmoidLossParams {
            gamma: T::from_f64(case.gamma),
            alpha: case.alpha.map(T::from_f64),
            weight: d.weight.as_deref(),
            label_weight: d.label_weight.as_deref(),
            pos_weight: d.pos_weight.as_deref(),
            neg_weight: d.neg_weight.as_deref(),
            neg_weight_fg_only: case.neg_weight_fg_only,
            reduction: case.reduction,
            normalization: case.normalization,
            avg_factor: case.avg_factor,
        };
        let target = match case.targets {
            Targets::Labels { num_labels } => SigmoidTarget::Labels {
                labels: &d.labels,
                num_labels,
                ignore_index: case.ignore_index,
            },
            Targets::Dense { .. } => SigmoidTarget::Dense(&d.dense),
        };
        let none = case.reduction == Reduction::None;
        let mut loss = zeros::<T>(if none { d.z.len() } else { 1 });
        let mut grad = zeros::<T>(d.z.len());
        let mut stats = zeros::<T>(2 * c);
        let st = case.stats.then_some(&mut stats[..]);
        sigmoid_loss(&d.z, target, c, &params, &mut loss, &mut grad, st).unwrap();

        let shape: Vec<i64> = case.shape.iter().map(|&v| v as i64).collect();
        let (tl, tg, ts) = sigmoid_loss_tch(
            &tensor(&d.z, &shape),
            &target_tensor(case, &d, &shape),
            &tensors(case, &d),
            case.stats,
        )
        .unwrap();
        assert_kind_shape::<T>(&tl, if none { &shape } else { &[] }, what);
        assert_kind_shape::<T>(&tg, &shape, what);
        let what = format!("{what} ({:?})", T::KIND);
        assert_close(
            &values(&tl),
            &to_f64(&loss),
            T::RTOL,
            &format!("{what} loss"),
        );
        assert_close(
            &values(&tg),
            &to_f64(&grad),
            T::RTOL,
            &format!("{what} grad"),
        );
        match ts {
            Some(ts) => {
                assert!(case.stats, "{what}: stats not asked for");
                assert_kind_shape::<T>(&ts, &[2, c as i64], &what);
                assert_close(
                    &values(&ts),
                    &to_f64(&stats),
                    T::RTOL,
                    &format!("{what} stats"),
                );
            }
            None => assert!(!case.stats, "{what}: no stats"),
        }
    }

    fn check_both(case: &Case, what: &str) {
        check::<f32>(case, what);
        check::<f64>(case, what);
    }

    #[test]
    fn label_targets_match_the_cpu_kernel_for_each_option_and_reduction() {
        // 9 classes, labels in [0, 12): about a quarter of the rows are background.
        let b = Case {
            ignored: vec![2, 7],
            ..base(&[41, 9], Targets::Labels { num_labels: 12 })
        };
        let cases: Vec<(&str, Case)> = vec![
            ("BCE", b.clone()),
            (
                "BCE, no ignored row",
                Case {
                    ignored: Vec::new(),
                    ..b.clone()
                },
            ),
            (
                "focal γ=2 α",
                Case {
                    gamma: 2.0,
                    alpha: Some(0.25),
                    ..b.clone()
                },
            ),
            (
                "focal γ=1",
                Case {
                    gamma: 1.0,
                    ..b.clone()
                },
            ),
            (
                "focal γ=3",
                Case {
                    gamma: 3.0,
                    ..b.clone()
                },
            ),
            (
                "focal γ=4",
                Case {
                    gamma: 4.0,
                    ..b.clone()
                },
            ),
            (
                "focal γ=1.5",
                Case {
                    gamma: 1.5,
                    alpha: Some(0.6),
                    ..b.clone()
                },
            ),
            (
                "focal γ=0.5",
                Case {
                    gamma: 0.5,
                    ..b.clone()
                },
            ),
            (
                "sample weights",
                Case {
                    weight: true,
                    ..b.clone()
                },
            ),
            (
                "class-balanced",
                Case {
                    label_weight: true,
                    ..b.clone()
                },
            ),
            (
                "EQLv2 weights with stats",
                Case {
                    pos_weight: true,
                    neg_weight: true,
                    stats: true,
                    ..b.clone()
                },
            ),
            (
                "EQL, foreground rows only",
                Case {
                    neg_weight: true,
                    neg_weight_fg_only: true,
                    ..b.clone()
                },
            ),
            (
                "rows normalization",
                Case {
                    normalization: SigmoidNormalization::Rows,
                    ..b.clone()
                },
            ),
            (
                "avg_factor",
                Case {
                    avg_factor: Some(3.5),
                    ..b.clone()
                },
            ),
            (
                "an ignore_index that is a label",
                Case {
                    ignore_index: 10,
                    ignored: vec![0, 1],
                    ..b.clone()
                },
            ),
            (
                "everything",
                Case {
                    gamma: 2.0,
                    alpha: Some(0.25),
                    weight: true,
                    label_weight: true,
                    pos_weight: true,
                    neg_weight: true,
                    neg_weight_fg_only: true,
                    normalization: SigmoidNormalization::Rows,
                    stats: true,
                    ..b.clone()
                },
            ),
        ];
        for (name, case) in &cases {
            for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                let case = Case {
                    reduction,
                    ..case.clone()
                };
                check_both(&case, &format!("{name}, {reduction:?}"));
            }
        }
    }

    #[test]
    fn dense_targets_match_the_cpu_kernel() {
        for hard in [false, true] {
            let b = base(&[23, 6], Targets::Dense { hard });
            let cases: Vec<(&str, Case)> = vec![
                ("BCE", b.clone()),
                (
                    "focal",
                    Case {
                        gamma: 2.0,
                        alpha: Some(0.25),
                        ..b.clone()
                    },
                ),
                (
                    "focal γ=1.5",
                    Case {
                        gamma: 1.5,
                        ..b.clone()
                    },
                ),
                (
                    "weights and stats",
                    Case {
                        weight: true,
                        pos_weight: true,
                        neg_weight: true,
                        stats: true,
                        ..b.clone()
                    },
                ),
                (
                    "rows normalization",
                    Case {
                        normalization: SigmoidNormalization::Rows,
                        ..b.clone()
                    },
                ),
                (
                    "avg_factor",
                    Case {
                        avg_factor: Some(2.0),
                        ..b.clone()
                    },
                ),
                // Leading dimensions: C is the last one.
                (
                    "(2, 5, 3, 6)",
                    Case {
                        gamma: 2.0,
                        stats: true,
                        ..base(&[2, 5, 3, 6], b.targets)
                    },
                ),
            ];
            for (name, case) in &cases {
                for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                    let case = Case {
                        reduction,
                        ..case.clone()
                    };
                    check_both(&case, &format!("{name}, hard={hard}, {reduction:?}"));
                }
            }
        }
    }

    /// One row, one class, no rows, an all-ignored batch, many blocks, saturated logits.
    #[test]
    fn edge_shapes_and_values_match() {
        let labels = |num_labels| Targets::Labels { num_labels };
        let mut cases = vec![
            base(&[1, 5], labels(6)),
            base(&[7, 1], labels(2)),
            base(&[0, 4], labels(5)),
            base(&[0, 4], Targets::Dense { hard: false }),
            Case {
                ignored: vec![0, 1, 2],
                ..base(&[3, 4], labels(5))
            },
            Case {
                gamma: 2.0,
                stats: true,
                ..base(&[700, 13], labels(14))
            },
            Case {
                gamma: 2.0,
                special: vec![(0, 40.0), (1, -40.0), (4, 90.0), (5, -90.0)],
                ..base(&[3, 4], Targets::Dense { hard: true })
            },
        ];
        cases.push(Case {
            normalization: SigmoidNormalization::Rows,
            ..cases[4].clone()
        });
        for case in &cases {
            for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                let case = Case {
                    reduction,
                    stats: true,
                    ..case.clone()
                };
                check_both(
                    &case,
                    &format!("{:?} {:?}, {reduction:?}", case.shape, case.targets),
                );
            }
        }
    }

    /// A NaN or infinite logit in an ignored row is no error and enters neither the loss, the
    /// gradient nor the statistics, as in the CPU kernel.
    #[test]
    fn non_finite_logits_of_ignored_rows_enter_nothing() {
        let b = Case {
            ignored: vec![1, 3],
            special: vec![
                (4 + 2, f64::NAN),
                (12, f64::INFINITY),
                (13, f64::NEG_INFINITY),
            ],
            stats: true,
            ..base(&[5, 4], Targets::Labels { num_labels: 6 })
        };
        for (name, case) in [
            ("BCE", b.clone()),
            (
                "focal, all weights",
                Case {
                    gamma: 2.0,
                    alpha: Some(0.25),
                    weight: true,
                    label_weight: true,
                    pos_weight: true,
                    neg_weight: true,
                    ..b.clone()
                },
            ),
        ] {
            for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                check_both(
                    &Case {
                        reduction,
                        ..case.clone()
                    },
                    &format!("{name}, {reduction:?}"),
                );
            }
        }
    }

    /// Bad labels, NaN logits and bad shapes give an error, never a panic.
    #[test]
    fn bad_input_gives_an_error() {
        let case = base(&[3, 4], Targets::Labels { num_labels: 6 });
        let d = data::<f32>(&case);
        let p = || tensors(&case, &d);
        let z = tensor(&d.z, &[3, 4]);
        let lab = |t: &[i64]| SigmoidTargetTensor::Labels {
            labels: long(t, &[t.len() as i64]),
            num_labels: 6,
            ignore_index: -100,
        };
        for (bad, pos) in [(6i64, 0), (-1, 2)] {
            let mut t = vec![0i64, 5, 1];
            t[pos] = bad;
            match sigmoid_loss_tch(&z, &lab(&t), &p(), false) {
                Err(CoreError::OutOfRange(m)) => {
                    assert!(
                        m.contains(&format!("target={bad} at position {pos}")),
                        "{m}"
                    )
                }
                other => panic!("label {bad}: {:?}", other.map(|_| ())),
            }
        }
        let mut zn = d.z.clone();
        zn[6] = f32::NAN;
        let zn = tensor(&zn, &[3, 4]);
        match sigmoid_loss_tch(&zn, &lab(&[0, 1, 2]), &p(), false) {
            Err(CoreError::InvalidArgument(m)) => assert!(m.contains("row 1"), "{m}"),
            other => panic!("NaN: {:?}", other.map(|_| ())),
        }
        let dense = SigmoidTargetTensor::Dense(tensor(&[0.5f32; 12], &[3, 4]));
        assert!(matches!(
            sigmoid_loss_tch(&zn, &dense, &p(), false),
            Err(CoreError::InvalidArgument(_))
        ));

        let shape_err = |r: Result<(Tensor, Tensor, Option<Tensor>)>, what: &str| match r {
            Err(CoreError::Shape(_)) => {}
            other => panic!(
                "{what}: expected a shape error, got {:?}",
                other.map(|_| ())
            ),
        };
        for t in [lab(&[0, 1]), lab(&[0]), lab(&[0, 1, 2, 3])] {
            shape_err(sigmoid_loss_tch(&z, &t, &p(), false), "labels");
        }
        for t in [tensor(&[0.5f32; 8], &[2, 4]), tensor(&[0.5f32; 4], &[4])] {
            let t = SigmoidTargetTensor::Dense(t);
            shape_err(sigmoid_loss_tch(&z, &t, &p(), false), "dense target");
        }
        for input in [tensor::<f32>(&[], &[3, 0]), tensor(&[0.5f32], &[])] {
            shape_err(
                sigmoid_loss_tch(&input, &lab(&[0, 1, 2]), &p(), false),
                "input",
            );
        }
        let v = |len: usize| Some(tensor(&vec![1.0f32; len], &[len as i64]));
        for (name, p) in [
            (
                "weight",
                SigmoidLossTensors {
                    weight: v(4),
                    ..p()
                },
            ),
            (
                "weight",
                SigmoidLossTensors {
                    weight: v(1),
                    ..p()
                },
            ),
            (
                "label_weight",
                SigmoidLossTensors {
                    label_weight: v(5),
                    ..p()
                },
            ),
            (
                "pos_weight",
                SigmoidLossTensors {
                    pos_weight: v(3),
                    ..p()
                },
            ),
            (
                "neg_weight",
                SigmoidLossTensors {
                    neg_weight: v(1),
                    ..p()
                },
            ),
        ] {
            match sigmoid_loss_tch(&z, &lab(&[0, 1, 2]), &p, true) {
                Err(CoreError::Shape(m)) => assert!(m.starts_with(name), "{m}"),
                other => panic!("{name}: {:?}", other.map(|_| ())),
            }
        }
        // label_weight needs labels.
        let dense = SigmoidTargetTensor::Dense(tensor(&[0.5f32; 12], &[3, 4]));
        let p = SigmoidLossTensors {
            label_weight: v(6),
            ..p()
        };
        assert!(matches!(
            sigmoid_loss_tch(&z, &dense, &p, false),
            Err(CoreError::InvalidArgument(_))
        ));
    }
}
