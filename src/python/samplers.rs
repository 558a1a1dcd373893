//! Sampler bindings: NumPy arrays in, one epoch's int64 indices out. Every call runs the core
//! with the GIL released and hands the result's buffer to NumPy without a copy.

use std::borrow::Cow;

use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use super::errors::to_py_err;
use crate::samplers::repeat_factor::{self, Rounding};
use crate::samplers::{class_aware, group_labels, resample, two_level, weighted};

/// The array's memory when it is contiguous, a copy otherwise.
fn slice<'a, T: Element + Copy>(a: &'a PyReadonlyArray1<'_, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

type Array1<'py, T> = Bound<'py, PyArray1<T>>;

/// `group_labels(labels) -> (classes, offsets, members)`: the dataset's indices sorted by class.
#[pyfunction(name = "group_labels")]
fn group_labels_py<'py>(
    py: Python<'py>,
    labels: PyReadonlyArray1<'py, i64>,
) -> PyResult<(Array1<'py, i64>, Array1<'py, i64>, Array1<'py, i64>)> {
    let labels = slice(&labels);
    let g = py
        .allow_threads(|| group_labels(&labels))
        .map_err(to_py_err)?;
    Ok((
        g.classes.into_pyarray(py),
        g.offsets.into_pyarray(py),
        g.members.into_pyarray(py),
    ))
}

/// `weighted_indices(weights, num_samples, replacement, seed, epoch)`.
#[pyfunction(name = "weighted_indices")]
fn weighted_indices_py<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray1<'py, f64>,
    num_samples: u64,
    replacement: bool,
    seed: u64,
    epoch: u64,
) -> PyResult<Array1<'py, i64>> {
    let weights = slice(&weights);
    let out = py
        .allow_threads(|| {
            weighted::weighted_indices(&weights, num_samples, replacement, seed, epoch)
        })
        .map_err(to_py_err)?;
    Ok(out.into_pyarray(py))
}

/// `class_weighted_indices(offsets, members, class_weights, num_samples, seed, epoch)`.
#[pyfunction(name = "class_weighted_indices")]
fn class_weighted_indices_py<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    members: PyReadonlyArray1<'py, i64>,
    class_weights: PyReadonlyArray1<'py, f64>,
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> PyResult<Array1<'py, i64>> {
    let (offsets, members, w) = (slice(&offsets), slice(&members), slice(&class_weights));
    let out = py
        .allow_threads(|| {
            two_level::class_weighted_indices(&offsets, &members, &w, num_samples, seed, epoch)
        })
        .map_err(to_py_err)?;
    Ok(out.into_pyarray(py))
}

/// `class_aware_indices(offsets, members, samples_per_class, num_samples, seed, epoch)`.
#[pyfunction(name = "class_aware_indices")]
fn class_aware_indices_py<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    members: PyReadonlyArray1<'py, i64>,
    samples_per_class: u64,
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> PyResult<Array1<'py, i64>> {
    let (offsets, members) = (slice(&offsets), slice(&members));
    let out = py
        .allow_threads(|| {
            class_aware::class_aware_indices(
                &offsets,
                &members,
                samples_per_class,
                num_samples,
                seed,
                epoch,
            )
        })
        .map_err(to_py_err)?;
    Ok(out.into_pyarray(py))
}

/// `resample_indices(offsets, members, targets, seed, epoch)`.
#[pyfunction(name = "resample_indices")]
fn resample_indices_py<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    members: PyReadonlyArray1<'py, i64>,
    targets: PyReadonlyArray1<'py, i64>,
    seed: u64,
    epoch: u64,
) -> PyResult<Array1<'py, i64>> {
    let (offsets, members, targets) = (slice(&offsets), slice(&members), slice(&targets));
    let out = py
        .allow_threads(|| resample::resample_indices(&offsets, &members, &targets, seed, epoch))
        .map_err(to_py_err)?;
    Ok(out.into_pyarray(py))
}

/// `repeat_factors(image_offsets, categories, threshold, sqrt)`: per-image LVIS factors.
#[pyfunction(name = "repeat_factors")]
fn repeat_factors_py<'py>(
    py: Python<'py>,
    image_offsets: PyReadonlyArray1<'py, i64>,
    categories: PyReadonlyArray1<'py, i64>,
    threshold: f64,
    sqrt: bool,
) -> PyResult<Array1<'py, f64>> {
    let (offsets, cats) = (slice(&image_offsets), slice(&categories));
    let out = py
        .allow_threads(|| repeat_factor::repeat_factors(&offsets, &cats, threshold, sqrt))
        .map_err(to_py_err)?;
    Ok(out.into_pyarray(py))
}

/// `repeat_factor_indices(repeat_factors, rounding, seed, epoch)`.
#[pyfunction(name = "repeat_factor_indices")]
fn repeat_factor_indices_py<'py>(
    py: Python<'py>,
    repeat_factors: PyReadonlyArray1<'py, f64>,
    rounding: &str,
    seed: u64,
    epoch: u64,
) -> PyResult<Array1<'py, i64>> {
    let rounding: Rounding = rounding.parse().map_err(to_py_err)?;
    let factors = slice(&repeat_factors);
    let out = py
        .allow_threads(|| repeat_factor::repeat_factor_indices(&factors, rounding, seed, epoch))
        .map_err(to_py_err)?;
    Ok(out.into_pyarray(py))
}

/// `repeat_factor_epoch_length(repeat_factors, rounding, seed, epoch) -> int`.
#[pyfunction(name = "repeat_factor_epoch_length")]
fn repeat_factor_epoch_length_py(
    py: Python<'_>,
    repeat_factors: PyReadonlyArray1<'_, f64>,
    rounding: &str,
    seed: u64,
    epoch: u64,
) -> PyResult<u64> {
    let rounding: Rounding = rounding.parse().map_err(to_py_err)?;
    let factors = slice(&repeat_factors);
    py.allow_threads(|| repeat_factor::repeat_factor_epoch_length(&factors, rounding, seed, epoch))
        .map_err(to_py_err)
}

/// Adds the sampler functions to `_core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(group_labels_py, m)?)?;
    m.add_function(wrap_pyfunction!(weighted_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(class_weighted_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(class_aware_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(resample_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(repeat_factors_py, m)?)?;
    m.add_function(wrap_pyfunction!(repeat_factor_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(repeat_factor_epoch_length_py, m)?)?;
    Ok(())
}
