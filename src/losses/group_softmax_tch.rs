//! The group-softmax kernel of [`super::group_softmax`] written as libtorch ops (CUDA tensors).

use tch::{Kind, Tensor};

use super::{check_tensor_shape, on_host, Reduction};
use crate::error::{CoreError, Result};

/// Returns `(loss, grad)` as the CPU kernel does; `targets` and `weights` are `(N, G)`.
pub fn group_softmax_loss_tch(
    input: &Tensor,
    offsets: &[i64],
    targets: &Tensor,
    weights: &Tensor,
    reduction: Reduction,
) -> Result<(Tensor, Tensor)> {
    if offsets.len() < 2 || offsets[0] != 0 || offsets.windows(2).any(|w| w[1] <= w[0]) {
        return Err(CoreError::invalid(format!(
            "offsets should start at 0 and increase strictly (every group non-empty), but got offsets={offsets:?}"
        )));
    }
    let g_count = offsets.len() - 1;
    let k = offsets[g_count];
    let shape = input.size();
    if shape.len() != 2 || shape[1] != k {
        return Err(CoreError::shape(format!(
            "input should have shape (N, {k}), {k} the groups' total, but got input of shape {shape:?}"
        )));
    }
    let n = shape[0];
    let want = [n, g_count as i64];
    check_tensor_shape("targets", Some(targets), &want, "row and group")?;
    check_tensor_shape("weights", Some(weights), &want, "row and group")?;
    let kind = input.kind();
    let nan_rows = input.f_isnan()?.f_any_dim(1, false)?;
    let mut row = Tensor::f_zeros([n], (kind, input.device()))?;
    let mut grads = Vec::with_capacity(g_count);
    for g in 0..g_count {
        let (a, b) = (offsets[g], offsets[g + 1]);
        let t = targets.f_select(1, g as i64)?;
        let size = b - a;
        let bad = t.f_lt(0)?.f_logical_or(&t.f_ge(size)?)?;
        if on_host(input) && bad.f_any()?.f_int64_value(&[])? != 0 {
            let i = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
            return Err(CoreError::out_of_range(format!(
                "targets should lie in [0, {size}) for group {g}, but got {} at row {i}",
                t.f_int64_value(&[i])?
            )));
        }
        let w = weights.f_select(1, g as i64)?;
        let keep = w.f_ne(0.0)?;
        let logp = input.f_narrow(1, a, size)?.f_log_softmax(1, kind)?;
        let col = t.f_unsqueeze(1)?;
        let ce = logp.f_gather(1, &col, false)?.f_squeeze_dim(1)?.f_neg()?;
        row = row.f_add(&ce.f_mul(&w)?.f_where_scalarother(&keep, 0.0)?)?;
        let onehot = logp.f_zeros_like()?.f_scatter_value(1, &col, 1.0)?;
        let gg = logp.f_exp()?.f_sub(&onehot)?.f_mul(&w.f_unsqueeze(1)?)?;
        grads.push(gg.f_where_scalarother(&keep.f_unsqueeze(1)?, 0.0)?);
    }
    if on_host(input)
        && nan_rows
            .f_logical_and(&weights.f_ne(0.0)?.f_any_dim(1, false)?)?
            .f_any()?
            .f_int64_value(&[])?
            != 0
    {
        let i = nan_rows.f_nonzero()?.f_int64_value(&[0, 0])?;
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    let grad = Tensor::f_cat(&grads, 1)?.f_contiguous()?;
    let loss = match reduction {
        Reduction::None => row,
        _ => row.f_sum(Kind::Double)?.f_to_kind(kind)?,
    };
    Ok((loss, grad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::group_softmax::{group_softmax_loss, GroupSoftmaxParams};
    use crate::losses::tch_testing::{
        assert_close, assert_kind_shape, cast, long, tensor, to_f64, uniform, values, zeros, Float,
    };

    #[derive(Clone)]
    struct Case {
        n: usize,
        /// Group sizes.
        sizes: Vec<usize>,
        /// Share of (row, group) weights set to 0 (the group skipped for that row).
        skipped: f64,
        reduction: Reduction,
        /// Logits overwritten after drawing: `(flat index, value)`.
        special: Vec<(usize, f64)>,
        /// Weights overwritten after drawing: `(flat (row, group) index, value)`.
        weight_at: Vec<(usize, f64)>,
    }

    fn base(n: usize, sizes: &[usize]) -> Case {
        Case {
            n,
            sizes: sizes.to_vec(),
            skipped: 0.3,
            reduction: Reduction::Sum,
            special: Vec::new(),
            weight_at: Vec::new(),
        }
    }

    fn check<T: Float>(case: &Case, what: &str) {
        let n = case.n;
        let g = case.sizes.len();
        let mut offsets = vec![0usize];
        for s in &case.sizes {
            offsets.push(offsets.last().unwrap() + s);
        }
        let k = *offsets.last().unwrap();
        let mut z = uniform(n * k, 31, -5.0, 5.0);
        for &(i, v) in &case.special {
            z[i] = v;
        }
        let z: Vec<T> = cast(&z);
        let pos = uniform(n * g, 32, 0.0, 1.0);
        let targets: Vec<i64> = pos
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                ((u * case.sizes[i % g] as f64) as i64).min(case.sizes[i % g] as i64 - 1)
            })
            .collect();
        let keep = uniform(n * g, 33, 0.0, 1.0);
        let mut weights: Vec<f64> = uniform(n * g, 34, 0.1, 2.0)
            .iter()
            .zip(&keep)
            .map(|(&w, &u)| if u < case.skipped { 0.0 } else { w })
            .collect();
        for &(i, v) in &case.weight_at {
            weights[i] = v;
        }
        let weights: Vec<T> = cast(&weights);
        let params = GroupSoftmaxParams {
            offsets: &offsets,
            targets: &targets,
            weights: &weights,
            reduction: case.reduction,
        };
        let none = case.reduction == Reduction::None;
        let mut loss = zeros::<T>(if none { n } else { 1 });
        let mut grad = zeros::<T>(z.len());
        group_softmax_loss(&z, &params, &mut loss, &mut grad).unwrap();

        let (ni, gi) = (n as i64, g as i64);
        let offsets: Vec<i64> = offsets.iter().map(|&o| o as i64).collect();
        let (tl, tg) = group_softmax_loss_tch(
            &tensor(&z, &[ni, k as i64]),
            &offsets,
            &long(&targets, &[ni, gi]),
            &tensor(&weights, &[ni, gi]),
            case.reduction,
        )
        .unwrap();
        let loss_shape: &[i64] = if none { &[ni] } else { &[] };
        assert_kind_shape::<T>(&tl, loss_shape, what);
        assert_kind_shape::<T>(&tg, &[ni, k as i64], what);
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

    #[test]
    fn matches_the_cpu_kernel() {
        let cases = [
            ("BAGS-like groups", base(37, &[1, 4, 9, 20])),
            ("one group", base(20, &[7])),
            ("groups of one column", base(9, &[1, 1, 1])),
            (
                "nothing skipped",
                Case {
                    skipped: 0.0,
                    ..base(15, &[3, 5])
                },
            ),
            (
                "everything skipped",
                Case {
                    skipped: 1.0,
                    ..base(6, &[3, 5])
                },
            ),
            ("one row", base(1, &[2, 3])),
            ("no rows", base(0, &[2, 3])),
            ("many blocks", base(500, &[2, 30, 11])),
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

    /// A NaN or infinite logit in a row whose every group is skipped enters nothing; an
    /// infinite logit in a skipped group of a kept row neither.
    #[test]
    fn non_finite_logits_of_skipped_groups_enter_nothing() {
        // Row 2 has every weight 0; row 1 skips group 0 (columns 0..3) only.
        let weights = vec![(4, 0.0), (5, 0.0), (2, 0.0), (3, 1.0)];
        let b = Case {
            skipped: 0.0,
            weight_at: weights,
            ..base(4, &[3, 5])
        };
        for (name, special) in [
            ("NaN in a skipped row", vec![(16 + 1, f64::NAN)]),
            ("inf in a skipped row", vec![(16 + 6, f64::INFINITY)]),
            ("-inf in a skipped group", vec![(8 + 1, f64::NEG_INFINITY)]),
        ] {
            for reduction in [Reduction::Sum, Reduction::None] {
                let case = Case {
                    special: special.clone(),
                    reduction,
                    ..b.clone()
                };
                check_both(&case, &format!("{name}, {reduction:?}"));
            }
        }
    }

    #[test]
    fn bad_input_gives_an_error() {
        let z = tensor(&uniform(15, 1, -1.0, 1.0), &[3, 5]);
        let t = long(&[0, 1, 2, 0, 1, 1], &[3, 2]);
        let w = tensor(&[1.0f64; 6], &[3, 2]);
        let run = |z: &Tensor, offsets: &[i64], t: &Tensor, w: &Tensor| {
            group_softmax_loss_tch(z, offsets, t, w, Reduction::Sum)
        };
        let (l, _) = run(&z, &[0, 3, 5], &t, &w).unwrap();
        assert!(l.double_value(&[]).is_finite());
        match run(&z, &[0, 3, 5], &long(&[0, 1, 3, 0, 1, 1], &[3, 2]), &w) {
            Err(CoreError::OutOfRange(m)) => {
                assert!(m.contains("[0, 3) for group 0, but got 3 at row 1"), "{m}")
            }
            other => panic!("target: {:?}", other.map(|_| ())),
        }
        match run(&z, &[0, 3, 5], &long(&[0, -1, 2, 0, 1, 1], &[3, 2]), &w) {
            Err(CoreError::OutOfRange(m)) => assert!(m.contains("group 1"), "{m}"),
            other => panic!("target: {:?}", other.map(|_| ())),
        }
        let mut zn = values(&z);
        zn[7] = f64::NAN;
        match run(&tensor(&zn, &[3, 5]), &[0, 3, 5], &t, &w) {
            Err(CoreError::InvalidArgument(m)) => assert!(m.contains("row 1"), "{m}"),
            other => panic!("NaN: {:?}", other.map(|_| ())),
        }
        for offsets in [&[][..], &[0], &[1, 3, 5], &[0, 3, 3, 5], &[0, 4, 3, 5]] {
            assert!(
                matches!(run(&z, offsets, &t, &w), Err(CoreError::InvalidArgument(_))),
                "offsets {offsets:?}"
            );
        }
        let shape_err = |r: Result<(Tensor, Tensor)>, what: &str| match r {
            Err(CoreError::Shape(m)) => m,
            other => panic!(
                "{what}: expected a shape error, got {:?}",
                other.map(|_| ())
            ),
        };
        shape_err(run(&z, &[0, 3, 4], &t, &w), "offsets short of the columns");
        shape_err(run(&z, &[0, 3, 6], &t, &w), "offsets past the columns");
        shape_err(
            run(&tensor(&[0.5f64; 5], &[5]), &[0, 3, 5], &t, &w),
            "1-D input",
        );
        let m = shape_err(run(&z, &[0, 3, 5], &long(&[0; 3], &[3]), &w), "targets");
        assert!(m.starts_with("targets"), "{m}");
        let m = shape_err(
            run(&z, &[0, 3, 5], &t, &tensor(&[1.0f64; 4], &[2, 2])),
            "weights",
        );
        assert!(m.starts_with("weights"), "{m}");
    }
}
