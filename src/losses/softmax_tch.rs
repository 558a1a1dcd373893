//! The softmax-family loss of [`super::softmax`] written as libtorch ops, for tensors the CPU
//! kernel cannot take (CUDA). Same formula, same gradient, same reductions.

use tch::Tensor;

use super::{check_tensor_shape, on_host, Normalization, Reduction};
use crate::error::{CoreError, Result};

/// The tensor-valued parameters of the softmax-family loss (see `SoftmaxLossParams`).
pub struct SoftmaxLossTensors {
    pub offsets: Option<Tensor>,
    pub margins: Option<Tensor>,
    pub scale: f64,
    pub weight: Option<Tensor>,
    pub alpha: Option<Tensor>,
    pub gamma: f64,
    pub label_smoothing: f64,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub normalization: Normalization,
    pub avg_factor: Option<f64>,
}

/// Returns `(loss, grad)` as the CPU kernel does. `input` is `(N, C, d...)`, `target` `(N, d...)`.
pub fn softmax_loss_tch(
    input: &Tensor,
    target: &Tensor,
    p: &SoftmaxLossTensors,
) -> Result<(Tensor, Tensor)> {
    let shape = input.size();
    if shape.len() < 2 {
        return Err(CoreError::shape(format!(
            "input should have shape (N, C) or (N, C, d1, ...), but got input of shape {shape:?}"
        )));
    }
    let c = shape[1];
    if c == 0 {
        return Err(CoreError::shape(
            "input should have at least one class, but got C = 0",
        ));
    }
    let rows: i64 = shape[0] * shape[2..].iter().product::<i64>();
    if target.numel() as i64 != rows {
        return Err(CoreError::shape(format!(
            "target should have {rows} elements, one per row of input, but got {}",
            target.numel()
        )));
    }
    for (name, t) in [
        ("offsets", &p.offsets),
        ("margins", &p.margins),
        ("weight", &p.weight),
        ("alpha", &p.alpha),
    ] {
        check_tensor_shape(name, t.as_ref(), &[c], "class")?;
    }
    // Rows (N·D, C) with classes last.
    let x = input.f_movedim([1], [-1])?.f_reshape([-1, c])?;
    let kind = x.kind();
    let t_all = target.f_reshape([-1])?;
    let valid = t_all.f_ne(p.ignore_index)?;
    let bad = t_all
        .f_lt(0)?
        .f_logical_or(&t_all.f_ge(c)?)?
        .f_logical_and(&valid)?;
    if on_host(input) && bad.f_any()?.f_int64_value(&[])? != 0 {
        let pos = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
        let val = t_all.f_int64_value(&[pos])?;
        return Err(CoreError::out_of_range(format!(
            "target should contain class indices in [0, {c}) or ignore_index={}, but got target={val} at position {pos}",
            p.ignore_index
        )));
    }
    let t = t_all.f_where_scalarother(&valid, 0)?;
    // Ignored rows read zero logits: finite, and dropped by their zero weight below (a NaN or an
    // infinity there would otherwise make 0·NaN of the loss and the gradient).
    let x = x.f_where_scalarother(&valid.f_unsqueeze(1)?, 0.0)?;
    let t_col = t.f_unsqueeze(1)?;
    let validf = valid.f_to_kind(kind)?;
    let onehot = x.f_zeros_like()?.f_scatter_value(1, &t_col, 1.0)?;

    let mut u = x.f_mul_scalar(p.scale)?;
    if let Some(b) = &p.offsets {
        u = u.f_add(&b.f_unsqueeze(0)?)?;
    }
    if let Some(m) = &p.margins {
        let m_y = m
            .f_index_select(0, &t)?
            .f_mul_scalar(p.scale)?
            .f_unsqueeze(1)?;
        u = u.f_sub(&onehot.f_mul(&m_y)?)?;
    }
    let logp = u.f_log_softmax(1, kind)?;
    let prob = logp.f_exp()?;
    let ones = Tensor::f_ones([c], (kind, x.device()))?;
    let w = p.weight.as_ref().unwrap_or(&ones);
    let w_y = w.f_index_select(0, &t)?;
    let eps = p.label_smoothing;
    let a = w_y.f_mul_scalar(1.0 - eps)?;
    let bcoef = eps / c as f64;
    let mut l = a.f_mul(&logp.f_gather(1, &t_col, false)?.f_squeeze_dim(1)?.f_neg()?)?;
    let mut pcoef = a.shallow_clone();
    if eps > 0.0 {
        // Zero-weight classes are left out so that a -inf logit there does not give 0·inf.
        let wl = logp
            .f_mul(&w.f_unsqueeze(0)?)?
            .f_where_scalarother(&w.f_ne(0.0)?.f_unsqueeze(0)?, 0.0)?;
        l = l.f_sub(&wl.f_sum_dim_intlist(1, false, kind)?.f_mul_scalar(bcoef)?)?;
        pcoef = pcoef.f_add(&w.f_sum(kind)?.f_mul_scalar(bcoef)?)?;
    }
    let (value, dh) = if p.gamma > 0.0 {
        let tt = l.f_neg()?.f_expm1()?.f_neg()?.f_clamp_min(0.0)?;
        let tg = tt.f_pow_tensor_scalar(p.gamma)?;
        let dh = tg
            .f_div(&tt)?
            .f_mul_scalar(p.gamma)?
            .f_mul(&l.f_neg()?.f_exp()?)?
            .f_mul(&l)?
            .f_add(&tg)?;
        let dh = dh.f_where_scalarother(&tt.f_gt(0.0)?, 0.0)?;
        (tg.f_mul(&l)?, dh)
    } else {
        (l.shallow_clone(), l.f_ones_like()?)
    };
    let alpha_y = match &p.alpha {
        Some(al) => al.f_index_select(0, &t)?,
        None => Tensor::f_ones([rows], (kind, x.device()))?,
    };
    let row_loss = alpha_y.f_mul(&value)?.f_mul(&validf)?;
    // A zero divisor (all rows ignored) leaves the gradient 0 and the "mean" NaN, as in torch.
    let divisor = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => None,
        (Reduction::Mean, Some(f)) => Some(
            Tensor::f_from_slice(&[f])?
                .f_to_kind(kind)?
                .f_to_device(x.device())?
                .f_squeeze()?,
        ),
        (Reduction::Mean, None) => Some(match p.normalization {
            Normalization::Weight => w_y.f_mul(&validf)?.f_sum(kind)?,
            Normalization::Count => validf.f_sum(kind)?,
        }),
    };
    let mut k = alpha_y.f_mul(&dh)?.f_mul(&validf)?.f_mul_scalar(p.scale)?;
    if let Some(dv) = &divisor {
        let safe = dv.f_where_scalarother(&dv.f_ne(0.0)?, 1.0)?;
        k = k.f_div(&safe)?;
    }
    let k = k.f_unsqueeze(1)?;
    let mut g = prob
        .f_mul(&pcoef.f_unsqueeze(1)?)?
        .f_sub(&onehot.f_mul(&a.f_unsqueeze(1)?)?)?;
    if eps > 0.0 {
        g = g.f_sub(&w.f_unsqueeze(0)?.f_mul_scalar(bcoef)?)?;
    }
    let g = g.f_mul(&k)?;
    // Back to the input's layout (N, C, d...).
    let mut rows_shape: Vec<i64> = vec![shape[0]];
    rows_shape.extend_from_slice(&shape[2..]);
    rows_shape.push(c);
    let grad = g
        .f_reshape(rows_shape.as_slice())?
        .f_movedim([-1], [1])?
        .f_contiguous()?;
    let loss = match (p.reduction, divisor) {
        (Reduction::None, _) => row_loss.f_reshape(target.size().as_slice())?,
        (Reduction::Sum, _) => row_loss.f_sum(kind)?,
        (Reduction::Mean, Some(dv)) => row_loss.f_sum(kind)?.f_div(&dv)?,
        (Reduction::Mean, None) => unreachable!("mean always has a divisor"),
    };
    Ok((loss, grad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::softmax::{softmax_loss, SoftmaxLossParams};
    use crate::losses::tch_testing::{
        assert_close, assert_kind_shape, cast, labels, long, tensor, to_f64, uniform, values,
        zeros, Float,
    };
    use crate::losses::Layout;

    /// One option combination of the softmax family, with its data.
    #[derive(Clone)]
    struct Case {
        /// `(N, C, d...)`.
        shape: Vec<usize>,
        offsets: bool,
        margins: bool,
        scale: f64,
        weight: bool,
        alpha: bool,
        gamma: f64,
        label_smoothing: f64,
        /// Rows (of the N·D) set to `ignore_index`.
        ignored: Vec<usize>,
        ignore_index: i64,
        reduction: Reduction,
        normalization: Normalization,
        avg_factor: Option<f64>,
        /// Logits overwritten after drawing: `(flat index, value)`.
        special: Vec<(usize, f64)>,
        /// Per-class weights overwritten after drawing: `(class, value)`.
        weight_at: Vec<(usize, f64)>,
    }

    fn base(shape: &[usize]) -> Case {
        Case {
            shape: shape.to_vec(),
            offsets: false,
            margins: false,
            scale: 1.0,
            weight: false,
            alpha: false,
            gamma: 0.0,
            label_smoothing: 0.0,
            ignored: Vec::new(),
            ignore_index: -100,
            reduction: Reduction::Mean,
            normalization: Normalization::Weight,
            avg_factor: None,
            special: Vec::new(),
            weight_at: Vec::new(),
        }
    }

    /// Runs the case through both formulations in `T` and compares loss and gradient.
    fn check<T: Float>(case: &Case, what: &str) {
        let (n, c) = (case.shape[0], case.shape[1]);
        let d: usize = case.shape[2..].iter().product();
        let rows = n * d;
        let mut z = uniform(n * c * d, 1, -4.0, 4.0);
        for &(k, v) in &case.special {
            z[k] = v;
        }
        let mut t = labels(rows, 2, c);
        for &r in &case.ignored {
            t[r] = case.ignore_index;
        }
        let per_class = |seed: u64, lo: f64, hi: f64, on: bool| -> Option<Vec<T>> {
            on.then(|| cast(&uniform(c, seed, lo, hi)))
        };
        let offsets = per_class(3, -2.0, 2.0, case.offsets);
        let margins = per_class(4, 0.0, 0.8, case.margins);
        let mut weight = per_class(5, 0.2, 2.0, case.weight);
        if let Some(w) = weight.as_mut() {
            for &(j, v) in &case.weight_at {
                w[j] = T::from_f64(v);
            }
        }
        let alpha = per_class(6, 0.25, 1.5, case.alpha);
        let zt: Vec<T> = cast(&z);

        let params = SoftmaxLossParams {
            offsets: offsets.as_deref(),
            margins: margins.as_deref(),
            scale: T::from_f64(case.scale),
            weight: weight.as_deref(),
            alpha: alpha.as_deref(),
            gamma: T::from_f64(case.gamma),
            label_smoothing: T::from_f64(case.label_smoothing),
            ignore_index: case.ignore_index,
            reduction: case.reduction,
            normalization: case.normalization,
            avg_factor: case.avg_factor,
        };
        let none = case.reduction == Reduction::None;
        let mut loss = zeros(if none { rows } else { 1 });
        let mut grad = zeros(zt.len());
        softmax_loss(&zt, &t, Layout { n, c, d }, &params, &mut loss, &mut grad).unwrap();

        let shape: Vec<i64> = case.shape.iter().map(|&v| v as i64).collect();
        let mut target_shape = vec![shape[0]];
        target_shape.extend_from_slice(&shape[2..]);
        let per_class_t = |v: &Option<Vec<T>>| v.as_ref().map(|v| tensor(v, &[c as i64]));
        let tensors = SoftmaxLossTensors {
            offsets: per_class_t(&offsets),
            margins: per_class_t(&margins),
            scale: case.scale,
            weight: per_class_t(&weight),
            alpha: per_class_t(&alpha),
            gamma: case.gamma,
            label_smoothing: case.label_smoothing,
            ignore_index: case.ignore_index,
            reduction: case.reduction,
            normalization: case.normalization,
            avg_factor: case.avg_factor,
        };
        let (tl, tg) =
            softmax_loss_tch(&tensor(&zt, &shape), &long(&t, &target_shape), &tensors).unwrap();
        let loss_shape: &[i64] = if none { &target_shape } else { &[] };
        assert_kind_shape::<T>(&tl, loss_shape, what);
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
    }

    fn check_both(case: &Case, what: &str) {
        check::<f32>(case, what);
        check::<f64>(case, what);
    }

    /// Every option, alone and together, with every reduction.
    #[test]
    fn matches_the_cpu_kernel_for_each_option_and_reduction() {
        let b = base(&[37, 11]);
        let cases: Vec<(&str, Case)> = vec![
            ("plain cross-entropy", b.clone()),
            (
                "logit adjustment",
                Case {
                    offsets: true,
                    ..b.clone()
                },
            ),
            (
                "LDAM",
                Case {
                    margins: true,
                    scale: 30.0,
                    ..b.clone()
                },
            ),
            (
                "margin without scale",
                Case {
                    margins: true,
                    ..b.clone()
                },
            ),
            (
                "class weights",
                Case {
                    weight: true,
                    ..b.clone()
                },
            ),
            (
                "class weights, count normalization",
                Case {
                    weight: true,
                    normalization: Normalization::Count,
                    ..b.clone()
                },
            ),
            (
                "focal",
                Case {
                    gamma: 2.0,
                    ..b.clone()
                },
            ),
            (
                "focal, real gamma and alpha",
                Case {
                    gamma: 1.5,
                    alpha: true,
                    ..b.clone()
                },
            ),
            (
                "label smoothing",
                Case {
                    label_smoothing: 0.1,
                    ..b.clone()
                },
            ),
            (
                "label smoothing with weights",
                Case {
                    label_smoothing: 0.2,
                    weight: true,
                    ..b.clone()
                },
            ),
            (
                "ignore_index",
                Case {
                    ignored: vec![0, 5, 36],
                    weight: true,
                    ..b.clone()
                },
            ),
            (
                "an ignore_index that is a class",
                Case {
                    ignored: vec![1, 2, 3],
                    ignore_index: 4,
                    ..b.clone()
                },
            ),
            (
                "avg_factor",
                Case {
                    avg_factor: Some(7.5),
                    weight: true,
                    ..b.clone()
                },
            ),
            (
                "everything",
                Case {
                    offsets: true,
                    margins: true,
                    scale: 2.5,
                    weight: true,
                    alpha: true,
                    gamma: 1.5,
                    label_smoothing: 0.1,
                    ignored: vec![3, 9],
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

    /// `(N, C, d...)` logits: the classes are strided, and "none" keeps the target's shape.
    #[test]
    fn trailing_dimensions_match() {
        for shape in [vec![3, 5, 4], vec![2, 4, 3, 2], vec![1, 3, 2]] {
            for reduction in [Reduction::Mean, Reduction::None] {
                let case = Case {
                    weight: true,
                    gamma: 2.0,
                    label_smoothing: 0.05,
                    ignored: vec![1],
                    reduction,
                    ..base(&shape)
                };
                check_both(&case, &format!("{shape:?} {reduction:?}"));
            }
        }
    }

    /// Shapes at the edges: one row, one class, no rows, and a batch of many blocks.
    #[test]
    fn edge_shapes_match() {
        for shape in [[1, 7], [5, 1], [0, 4], [3000, 40]] {
            for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                let case = Case {
                    gamma: 1.0,
                    reduction,
                    ..base(&shape)
                };
                check_both(&case, &format!("{shape:?} {reduction:?}"));
            }
        }
    }

    /// An all-ignored "mean" is NaN with a zero gradient; a NaN logit makes its own row NaN;
    /// a `-inf` logit of a zero-weight class keeps label smoothing finite.
    #[test]
    fn non_finite_cases_match() {
        let b = base(&[4, 5]);
        let all_ignored = Case {
            ignored: vec![0, 1, 2, 3],
            ..b.clone()
        };
        check_both(&all_ignored, "all ignored");
        check_both(
            &Case {
                weight: true,
                ..all_ignored.clone()
            },
            "all ignored, weights",
        );
        let (tl, tg) = softmax_loss_tch(
            &tensor(&[0.5f32; 20], &[4, 5]),
            &long(&[-100; 4], &[4]),
            &tensors_for(&all_ignored),
        )
        .unwrap();
        assert!(tl.double_value(&[]).is_nan());
        assert!(values(&tg).iter().all(|&g| g == 0.0));
        for gamma in [0.0, 2.0] {
            let nan = Case {
                special: vec![(7, f64::NAN)],
                gamma,
                reduction: Reduction::None,
                ..b.clone()
            };
            check_both(&nan, &format!("NaN logit, gamma {gamma}"));
        }
        let weight_zero_at = |j: usize| Case {
            weight: true,
            weight_at: vec![(j, 0.0)],
            label_smoothing: 0.1,
            ..b.clone()
        };
        // Class 2 has weight 0 and a -inf logit in row 1 (whose label is not 2).
        let t = labels(4, 2, 5);
        assert_ne!(t[1], 2);
        let inf = Case {
            special: vec![(5 + 2, f64::NEG_INFINITY)],
            ..weight_zero_at(2)
        };
        check_both(&inf, "-inf logit of a zero-weight class");
        for reduction in [Reduction::Sum, Reduction::None] {
            check_both(
                &Case {
                    reduction,
                    ..inf.clone()
                },
                &format!("-inf, {reduction:?}"),
            );
        }
    }

    /// A NaN or infinite logit in an ignored row enters neither the loss nor the gradient, as in
    /// the CPU kernel and `F.cross_entropy`.
    #[test]
    fn non_finite_logits_of_ignored_rows_enter_nothing() {
        let b = Case {
            ignored: vec![1, 3],
            special: vec![
                (5 + 2, f64::NAN),
                (15, f64::INFINITY),
                (16, f64::NEG_INFINITY),
            ],
            ..base(&[4, 5])
        };
        for (name, case) in [
            ("plain", b.clone()),
            (
                "focal, smoothing, weights",
                Case {
                    gamma: 2.0,
                    label_smoothing: 0.1,
                    weight: true,
                    ..b.clone()
                },
            ),
            (
                "margins, offsets",
                Case {
                    margins: true,
                    offsets: true,
                    scale: 4.0,
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

    /// The tensors of a case without per-class parameters.
    fn tensors_for(case: &Case) -> SoftmaxLossTensors {
        SoftmaxLossTensors {
            offsets: None,
            margins: None,
            scale: case.scale,
            weight: None,
            alpha: None,
            gamma: case.gamma,
            label_smoothing: case.label_smoothing,
            ignore_index: case.ignore_index,
            reduction: case.reduction,
            normalization: case.normalization,
            avg_factor: case.avg_factor,
        }
    }

    /// Bad labels and bad shapes give an error, never a panic.
    #[test]
    fn bad_input_gives_an_error() {
        let p = tensors_for(&base(&[3, 4]));
        let z = tensor(&uniform(12, 1, -1.0, 1.0), &[3, 4]);
        for (bad, pos) in [(4i64, 1), (-1, 2), (-100 + 1, 0)] {
            let mut t = vec![0i64, 1, 2];
            t[pos] = bad;
            let err = softmax_loss_tch(&z, &long(&t, &[3]), &p).unwrap_err();
            assert!(
                matches!(err, CoreError::OutOfRange(ref m)
                    if m.contains(&format!("target={bad} at position {pos}"))),
                "{err:?}"
            );
        }
        // The ignore_index itself is fine, whatever its value.
        let p7 = SoftmaxLossTensors {
            ignore_index: 7,
            ..tensors_for(&base(&[3, 4]))
        };
        let (l, _) = softmax_loss_tch(&z, &long(&[7, 0, 7], &[3]), &p7).unwrap();
        assert!(l.double_value(&[]).is_finite());
        // A target with the wrong number of rows, a 1-D, 0-D or class-less input, a per-class
        // parameter of the wrong length: shape errors, checked before any op runs.
        let shape_err = |r: Result<(Tensor, Tensor)>, what: &str| match r {
            Err(CoreError::Shape(_)) => {}
            other => panic!(
                "{what}: expected a shape error, got {:?}",
                other.map(|_| ())
            ),
        };
        for t in [
            long(&[0, 1], &[2]),
            long(&[0, 1, 2, 3], &[4]),
            long(&[0; 6], &[3, 2]),
            long(&[0], &[1]),
        ] {
            shape_err(
                softmax_loss_tch(&z, &t, &p),
                &format!("target {:?}", t.size()),
            );
        }
        let t = long(&[0, 1, 2], &[3]);
        for input in [
            tensor(&[0.5f64; 3], &[3]),
            tensor(&[0.5f64], &[]),
            tensor::<f64>(&[], &[3, 0]),
        ] {
            let what = format!("input {:?}", input.size());
            shape_err(softmax_loss_tch(&input, &t, &p), &what);
        }
        let short = || Some(tensor(&[1.0f64; 3], &[3]));
        let long_2d = || Some(tensor(&[1.0f64; 8], &[2, 4]));
        let base = || tensors_for(&base(&[3, 4]));
        for (name, p) in [
            (
                "weight",
                SoftmaxLossTensors {
                    weight: short(),
                    ..base()
                },
            ),
            (
                "offsets",
                SoftmaxLossTensors {
                    offsets: short(),
                    ..base()
                },
            ),
            (
                "margins",
                SoftmaxLossTensors {
                    margins: long_2d(),
                    ..base()
                },
            ),
            (
                "alpha",
                SoftmaxLossTensors {
                    alpha: short(),
                    ..base()
                },
            ),
        ] {
            match softmax_loss_tch(&z, &t, &p) {
                Err(CoreError::Shape(m)) => assert!(m.starts_with(name), "{m}"),
                other => panic!("{name}: {:?}", other.map(|_| ())),
            }
        }
    }
}
