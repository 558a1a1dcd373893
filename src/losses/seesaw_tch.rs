//! The Seesaw kernel of [`super::seesaw`] written as libtorch ops (for CUDA tensors), in log
//! space: `u = z + (log M + log C + log K) ⊙ (1 − onehot)` on the foreground columns of
//! foreground rows, then cross-entropy on `u` with the factors treated as constants.

use tch::{Kind, Tensor};

use super::seesaw::SeesawForm;
use super::{check_tensor_shape, on_host, Reduction};
use crate::error::{CoreError, Result};

/// The tensor-valued parameters of the Seesaw loss (see `SeesawParams`).
pub struct SeesawTensors {
    pub num_classes: i64,
    pub form: SeesawForm,
    pub counts: Option<Tensor>,
    pub p: f64,
    pub q: f64,
    pub eps: f64,
    pub factors: Option<Tensor>,
    pub weight: Option<Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub avg_factor: Option<f64>,
}

/// Returns `(loss, grad)` laid out as the CPU kernel's outputs.
pub fn seesaw_loss_tch(
    input: &Tensor,
    target: &Tensor,
    p: &SeesawTensors,
) -> Result<(Tensor, Tensor)> {
    let c = p.num_classes;
    if c < 1 {
        return Err(CoreError::shape(format!(
            "num_classes should be positive, but got num_classes={c}"
        )));
    }
    let k = p.form.columns(c as usize) as i64;
    let shape = input.size();
    if shape.len() != 2 || shape[1] != k {
        return Err(CoreError::shape(format!(
            "input should have shape (N, {k}) for num_classes={c} in the {:?} form, but got input \
             of shape {shape:?}",
            p.form
        )));
    }
    let n = shape[0];
    if target.size() != [n] {
        return Err(CoreError::shape(format!(
            "target should have shape [{n}], one label per row of input, but got target of shape \
             {:?}",
            target.size()
        )));
    }
    check_tensor_shape("counts", p.counts.as_ref(), &[c], "class")?;
    check_tensor_shape("factors", p.factors.as_ref(), &[n, c], "row and class")?;
    check_tensor_shape("weight", p.weight.as_ref(), &[n], "sample")?;
    let kind = input.kind();
    let dev = input.device();
    let num_labels = p.form.num_labels(c as usize) as i64;
    let valid = target.f_ne(p.ignore_index)?;
    let bad = target
        .f_lt(0)?
        .f_logical_or(&target.f_ge(num_labels)?)?
        .f_logical_and(&valid)?;
    if on_host(input) && bad.f_any()?.f_int64_value(&[])? != 0 {
        let pos = bad.f_nonzero()?.f_int64_value(&[0, 0])?;
        let val = target.f_int64_value(&[pos])?;
        return Err(CoreError::out_of_range(format!(
            "target should contain labels in [0, {num_labels}) or ignore_index={}, but got target={val} at position {pos}",
            p.ignore_index
        )));
    }
    let safe = target.f_where_scalarother(&valid, 0)?;
    let fg = safe.f_lt(c)?.f_logical_and(&valid)?;
    let ks = if p.form == SeesawForm::Background {
        c + 1
    } else {
        c
    };
    let nan_rows = input
        .f_isnan()?
        .f_any_dim(1, false)?
        .f_logical_and(&valid)?;
    if on_host(input) && nan_rows.f_any()?.f_int64_value(&[])? != 0 {
        let i = nan_rows.f_nonzero()?.f_int64_value(&[0, 0])?;
        return Err(CoreError::invalid(format!(
            "input should not contain NaN, but got NaN logits in row {i}"
        )));
    }
    // Ignored rows read zero logits: finite, and dropped by their zero weight (a NaN or an
    // infinity there would otherwise make 0·NaN of the gradient).
    let x = input.f_where_scalarother(&valid.f_unsqueeze(1)?, 0.0)?;
    let classes = x.f_narrow(1, 0, ks)?;
    // Rows of the class softmax: every valid row, except background rows of the objectness form.
    let in_cls = if p.form == SeesawForm::Objectness {
        fg.shallow_clone()
    } else {
        valid.shallow_clone()
    };
    let y_cls = safe.f_clamp_max(ks - 1)?;
    let onehot = classes
        .f_zeros_like()?
        .f_scatter_value(1, &y_cls.f_unsqueeze(1)?, 1.0)?;
    let mut log_s = Tensor::f_zeros([n, c], (kind, dev))?;
    let y_fg = safe.f_clamp_max(c - 1)?;
    if let (true, Some(counts)) = (p.p > 0.0, &p.counts) {
        let lc = counts.f_clamp_min(1.0)?.f_log()?;
        let ly = lc.f_index_select(0, &y_fg)?.f_unsqueeze(1)?;
        log_s = log_s.f_add(
            &lc.f_unsqueeze(0)?
                .f_sub(&ly)?
                .f_clamp_max(0.0)?
                .f_mul_scalar(p.p)?,
        )?;
    }
    if p.q > 0.0 {
        let logp = classes.f_log_softmax(1, kind)?.f_narrow(1, 0, c)?;
        let lsy = logp
            .f_gather(1, &y_fg.f_unsqueeze(1)?, false)?
            .f_clamp_min(p.eps.ln())?;
        log_s = log_s.f_add(&logp.f_sub(&lsy)?.f_clamp_min(0.0)?.f_mul_scalar(p.q)?)?;
    }
    if let Some(k) = &p.factors {
        log_s = log_s.f_add(&k.f_log()?)?;
    }
    if ks > c {
        log_s = Tensor::f_cat(&[log_s, Tensor::f_zeros([n, ks - c], (kind, dev))?], 1)?;
    }
    // Only non-target columns of foreground rows are adjusted.
    let adjust = onehot.f_eq(0.0)?.f_logical_and(&fg.f_unsqueeze(1)?)?;
    let u = classes.f_add(&log_s.f_where_scalarother(&adjust, 0.0)?)?;
    let logp = u.f_log_softmax(1, kind)?;
    let ones = Tensor::f_ones([n], (kind, dev))?;
    let w = p.weight.as_ref().unwrap_or(&ones);
    let w_cls = w.f_mul(&in_cls.f_to_kind(kind)?)?;
    let w_all = w.f_mul(&valid.f_to_kind(kind)?)?;
    let row_cls = logp
        .f_gather(1, &y_cls.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?
        .f_neg()?
        .f_mul(&w_cls)?;
    let row_cls = row_cls.f_where_scalarother(&in_cls, 0.0)?;
    // Background rows of the objectness form leave their class logits unused: a zero gradient,
    // also where such a logit is infinite.
    let g_cls = logp
        .f_exp()?
        .f_sub(&onehot)?
        .f_mul(&w_cls.f_unsqueeze(1)?)?
        .f_where_scalarother(&in_cls.f_unsqueeze(1)?, 0.0)?;
    let (row_obj, g_obj) = if p.form == SeesawForm::Objectness {
        let zo = x.f_narrow(1, c, 2)?;
        let o = safe.f_eq(c)?.f_to_kind(Kind::Int64)?.f_unsqueeze(1)?;
        let lo = zo.f_log_softmax(1, kind)?;
        let oh = zo.f_zeros_like()?.f_scatter_value(1, &o, 1.0)?;
        let r = lo
            .f_gather(1, &o, false)?
            .f_squeeze_dim(1)?
            .f_neg()?
            .f_mul(&w_all)?;
        let r = r.f_where_scalarother(&valid, 0.0)?;
        (
            Some(r),
            Some(lo.f_exp()?.f_sub(&oh)?.f_mul(&w_all.f_unsqueeze(1)?)?),
        )
    } else {
        (None, None)
    };
    let count = |m: &Tensor| -> Result<Tensor> { Ok(m.f_to_kind(kind)?.f_sum(kind)?) };
    let (div_cls, div_obj) = match (p.reduction, p.avg_factor) {
        (Reduction::None | Reduction::Sum, _) => (None, None),
        (Reduction::Mean, Some(f)) => {
            let t = Tensor::f_from_slice(&[f])?
                .f_to_kind(kind)?
                .f_to_device(dev)?
                .f_squeeze()?;
            (Some(t.shallow_clone()), Some(t))
        }
        (Reduction::Mean, None) => (Some(count(&in_cls)?), Some(count(&valid)?)),
    };
    let safe_div = |g: Tensor, d: &Option<Tensor>| -> Result<Tensor> {
        Ok(match d {
            Some(d) => g.f_div(&d.f_where_scalarother(&d.f_ne(0.0)?, f64::INFINITY)?)?,
            None => g,
        })
    };
    let g_cls = safe_div(g_cls, &div_cls)?;
    let mut parts = vec![g_cls];
    if let Some(g) = g_obj {
        parts.push(safe_div(g, &div_obj)?);
    }
    let grad = Tensor::f_cat(&parts, 1)?.f_contiguous()?;
    let loss = match p.reduction {
        Reduction::None => match &row_obj {
            Some(r) => Tensor::f_stack(&[row_cls, r.shallow_clone()], 1)?.f_reshape([-1])?,
            None => row_cls,
        },
        _ => {
            let total = |r: &Tensor, d: &Option<Tensor>| -> Result<Tensor> {
                let s = r.f_sum(Kind::Double)?.f_to_kind(kind)?;
                Ok(match d {
                    Some(d) => s.f_div(d)?,
                    None => s,
                })
            };
            let mut cls = total(&row_cls, &div_cls)?;
            if p.form == SeesawForm::Objectness {
                // mmdetection returns 0 for the class term of a batch without positives.
                cls = cls.f_where_scalarother(&in_cls.f_any()?, 0.0)?;
            }
            let obj = match &row_obj {
                Some(r) => total(r, &div_obj)?,
                None => Tensor::f_zeros([], (kind, dev))?,
            };
            Tensor::f_stack(&[cls, obj], 0)?
        }
    };
    Ok((loss, grad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::seesaw::{seesaw_loss, SeesawParams};
    use crate::losses::tch_testing::{
        assert_close, assert_kind_shape, cast, labels, long, tensor, to_f64, uniform, values,
        zeros, Float,
    };

    #[derive(Clone)]
    struct Case {
        n: usize,
        c: usize,
        form: SeesawForm,
        counts: bool,
        p: f64,
        q: f64,
        eps: f64,
        /// Per-element factors; `eql`: 0/1 ones (softmax EQL), else in (0, 1].
        factors: Option<bool>,
        weight: bool,
        ignored: Vec<usize>,
        ignore_index: i64,
        reduction: Reduction,
        avg_factor: Option<f64>,
        /// Labels overwritten after drawing: `(row, label)`.
        label_at: Vec<(usize, i64)>,
        /// Logits overwritten after drawing: `(flat index, value)`.
        special: Vec<(usize, f64)>,
    }

    fn base(n: usize, c: usize, form: SeesawForm) -> Case {
        Case {
            n,
            c,
            form,
            counts: true,
            p: 0.8,
            q: 2.0,
            eps: 1e-2,
            factors: None,
            weight: false,
            ignored: Vec::new(),
            ignore_index: -100,
            reduction: Reduction::Mean,
            avg_factor: None,
            label_at: Vec::new(),
            special: Vec::new(),
        }
    }

    /// Long-tailed cumulative counts, one of them 0 (clamped to 1 by the loss).
    fn counts(c: usize) -> Vec<f64> {
        (0..c)
            .map(|j| {
                if j == c / 2 {
                    0.0
                } else {
                    (2000.0 * 0.6f64.powi(j as i32)).round()
                }
            })
            .collect()
    }

    fn check<T: Float>(case: &Case, what: &str) {
        let (n, c) = (case.n, case.c);
        let k = case.form.columns(c);
        let mut z = uniform(n * k, 21, -5.0, 5.0);
        for &(i, v) in &case.special {
            z[i] = v;
        }
        let z: Vec<T> = cast(&z);
        let mut t = labels(n, 22, case.form.num_labels(c));
        for &r in &case.ignored {
            t[r] = case.ignore_index;
        }
        for &(r, y) in &case.label_at {
            t[r] = y;
        }
        let cnt: Option<Vec<T>> = case.counts.then(|| cast(&counts(c)));
        let factors: Option<Vec<T>> = case.factors.map(|eql| {
            let f = uniform(n * c, 23, 0.0, 1.0);
            let f: Vec<f64> = if eql {
                f.iter().map(|&v| if v < 0.3 { 0.0 } else { 1.0 }).collect()
            } else {
                f.iter().map(|&v| 0.05 + 0.95 * v).collect()
            };
            cast(&f)
        });
        let weight: Option<Vec<T>> = case.weight.then(|| cast(&uniform(n, 24, 0.2, 2.0)));
        let params = SeesawParams {
            num_classes: c,
            form: case.form,
            counts: cnt.as_deref(),
            p: T::from_f64(case.p),
            q: T::from_f64(case.q),
            eps: T::from_f64(case.eps),
            factors: factors.as_deref(),
            weight: weight.as_deref(),
            ignore_index: case.ignore_index,
            reduction: case.reduction,
            avg_factor: case.avg_factor,
        };
        let none = case.reduction == Reduction::None;
        let per_row = if case.form == SeesawForm::Objectness {
            2
        } else {
            1
        };
        let mut loss = zeros::<T>(if none { n * per_row } else { 2 });
        let mut grad = zeros::<T>(z.len());
        seesaw_loss(&z, &t, &params, &mut loss, &mut grad).unwrap();

        let (ni, ci) = (n as i64, c as i64);
        let tensors = SeesawTensors {
            num_classes: ci,
            form: case.form,
            counts: cnt.as_ref().map(|v| tensor(v, &[ci])),
            p: case.p,
            q: case.q,
            eps: case.eps,
            factors: factors.as_ref().map(|v| tensor(v, &[ni, ci])),
            weight: weight.as_ref().map(|v| tensor(v, &[ni])),
            ignore_index: case.ignore_index,
            reduction: case.reduction,
            avg_factor: case.avg_factor,
        };
        let input = tensor(&z, &[ni, k as i64]);
        let (tl, tg) = seesaw_loss_tch(&input, &long(&t, &[ni]), &tensors).unwrap();
        let loss_shape = if none { [ni * per_row as i64] } else { [2] };
        assert_kind_shape::<T>(&tl, &loss_shape, what);
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

    const FORMS: [SeesawForm; 3] = [
        SeesawForm::Classification,
        SeesawForm::Background,
        SeesawForm::Objectness,
    ];

    #[test]
    fn matches_the_cpu_kernel_in_every_form_option_and_reduction() {
        for form in FORMS {
            let b = Case {
                ignored: vec![1, 6],
                ..base(45, 8, form)
            };
            let cases: Vec<(&str, Case)> = vec![
                ("seesaw p=0.8 q=2", b.clone()),
                (
                    "mitigation only",
                    Case {
                        q: 0.0,
                        ..b.clone()
                    },
                ),
                (
                    "compensation only",
                    Case {
                        p: 0.0,
                        ..b.clone()
                    },
                ),
                (
                    "compensation without counts",
                    Case {
                        counts: false,
                        ..b.clone()
                    },
                ),
                (
                    "real exponents",
                    Case {
                        p: 1.3,
                        q: 1.5,
                        ..b.clone()
                    },
                ),
                (
                    "large eps",
                    Case {
                        eps: 0.3,
                        ..b.clone()
                    },
                ),
                (
                    "plain cross-entropy",
                    Case {
                        p: 0.0,
                        q: 0.0,
                        ..b.clone()
                    },
                ),
                (
                    "softmax EQL",
                    Case {
                        p: 0.0,
                        q: 0.0,
                        factors: Some(true),
                        ..b.clone()
                    },
                ),
                (
                    "factors with seesaw",
                    Case {
                        factors: Some(false),
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
                    "avg_factor",
                    Case {
                        avg_factor: Some(12.5),
                        ..b.clone()
                    },
                ),
                (
                    "an ignore_index that is a label",
                    Case {
                        ignore_index: 3,
                        ignored: vec![0, 2],
                        ..b.clone()
                    },
                ),
                (
                    "no ignored row",
                    Case {
                        ignored: Vec::new(),
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
                    check_both(&case, &format!("{form:?}, {name}, {reduction:?}"));
                }
            }
        }
    }

    /// One row, one class, no rows, all ignored, a batch without foreground (the objectness
    /// form's class term is then 0), many blocks.
    #[test]
    fn edge_shapes_match() {
        for form in FORMS {
            let mut cases = vec![
                base(1, 5, form),
                base(6, 1, form),
                base(0, 4, form),
                Case {
                    ignored: vec![0, 1, 2],
                    ..base(3, 4, form)
                },
                Case {
                    weight: true,
                    ..base(300, 17, form)
                },
            ];
            if form != SeesawForm::Classification {
                let background = (0..5).map(|r| (r, 3)).collect();
                cases.push(Case {
                    label_at: background,
                    ..base(5, 3, form)
                });
            }
            for case in &cases {
                for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                    let case = Case {
                        reduction,
                        ..case.clone()
                    };
                    let what = format!("{form:?} n={} c={} {reduction:?}", case.n, case.c);
                    check_both(&case, &what);
                }
            }
        }
    }

    /// A NaN or infinite logit in an ignored row is no error and enters neither the loss nor
    /// the gradient; nor does an infinite class logit of a background row of the objectness
    /// form, whose class logits are unused.
    #[test]
    fn non_finite_logits_of_unused_rows_enter_nothing() {
        for form in FORMS {
            let k = form.columns(4);
            let mut b = Case {
                ignored: vec![1, 3],
                special: vec![
                    (k + 2, f64::NAN),
                    (3 * k, f64::INFINITY),
                    (3 * k + 1, f64::NEG_INFINITY),
                ],
                weight: true,
                ..base(5, 4, form)
            };
            if form == SeesawForm::Objectness {
                b.label_at = vec![(4, 4)];
                b.special
                    .extend([(4 * k, f64::INFINITY), (4 * k + 1, f64::NEG_INFINITY)]);
            }
            for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                check_both(
                    &Case {
                        reduction,
                        ..b.clone()
                    },
                    &format!("{form:?}, {reduction:?}"),
                );
            }
        }
    }

    #[test]
    fn bad_input_gives_an_error() {
        let p = |form: SeesawForm| SeesawTensors {
            num_classes: 3,
            form,
            counts: Some(tensor(&[5.0f64, 50.0, 500.0], &[3])),
            p: 0.8,
            q: 2.0,
            eps: 1e-2,
            factors: None,
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            avg_factor: None,
        };
        let z = |k: i64| tensor(&uniform(4 * k as usize, 1, -1.0, 1.0), &[4, k]);
        for (form, bad) in [
            (SeesawForm::Classification, 3i64),
            (SeesawForm::Background, 4),
            (SeesawForm::Objectness, -2),
        ] {
            let k = form.columns(3) as i64;
            let t = long(&[0, 1, bad, 2], &[4]);
            match seesaw_loss_tch(&z(k), &t, &p(form)) {
                Err(CoreError::OutOfRange(m)) => {
                    assert!(m.contains(&format!("target={bad} at position 2")), "{m}")
                }
                other => panic!("{form:?}: {:?}", other.map(|_| ())),
            }
            let mut zn = values(&z(k));
            zn[k as usize + 1] = f64::NAN;
            let zn = tensor(&zn, &[4, k]);
            match seesaw_loss_tch(&zn, &long(&[0, 1, 2, 0], &[4]), &p(form)) {
                Err(CoreError::InvalidArgument(m)) => assert!(m.contains("row 1"), "{m}"),
                other => panic!("{form:?} NaN: {:?}", other.map(|_| ())),
            }
        }
        // The class logits of a background row are unused, but a NaN there is bad input too.
        let mut zn = values(&z(5));
        zn[5] = f64::NAN;
        let zn = tensor(&zn, &[4, 5]);
        assert!(matches!(
            seesaw_loss_tch(&zn, &long(&[0, 3, 1, 2], &[4]), &p(SeesawForm::Objectness)),
            Err(CoreError::InvalidArgument(_))
        ));

        let shape_err = |r: Result<(Tensor, Tensor)>, what: &str| match r {
            Err(CoreError::Shape(m)) => m,
            other => panic!(
                "{what}: expected a shape error, got {:?}",
                other.map(|_| ())
            ),
        };
        let t = long(&[0, 1, 2, 0], &[4]);
        let cls = SeesawForm::Classification;
        for input in [
            z(2),
            z(4),
            tensor(&[0.5f64; 4], &[4]),
            tensor(&[0.5f64], &[]),
        ] {
            let what = format!("input {:?}", input.size());
            shape_err(seesaw_loss_tch(&input, &t, &p(cls)), &what);
        }
        for t in [long(&[0, 1, 2], &[3]), long(&[0; 8], &[4, 2])] {
            shape_err(seesaw_loss_tch(&z(3), &t, &p(cls)), "target");
        }
        let none = SeesawTensors {
            num_classes: 0,
            ..p(cls)
        };
        shape_err(seesaw_loss_tch(&z(3), &t, &none), "num_classes=0");
        let v = |shape: &[i64]| {
            let len = shape.iter().product::<i64>() as usize;
            Some(tensor(&vec![1.0f64; len], shape))
        };
        for (name, tensors) in [
            (
                "counts",
                SeesawTensors {
                    counts: v(&[4]),
                    ..p(cls)
                },
            ),
            (
                "factors",
                SeesawTensors {
                    factors: v(&[4, 2]),
                    ..p(cls)
                },
            ),
            (
                "factors",
                SeesawTensors {
                    factors: v(&[3]),
                    ..p(cls)
                },
            ),
            (
                "weight",
                SeesawTensors {
                    weight: v(&[3]),
                    ..p(cls)
                },
            ),
            (
                "weight",
                SeesawTensors {
                    weight: v(&[1]),
                    ..p(cls)
                },
            ),
        ] {
            let m = shape_err(seesaw_loss_tch(&z(3), &t, &tensors), name);
            assert!(m.starts_with(name), "{m}");
        }
    }
}
