//! Sampler bindings: NumPy arrays in, one epoch out, either whole (an int64 array, reserved
//! fallibly: a refused allocation is a `MemoryError` naming the size) or as a lazy
//! [`IndexStream`] read in pieces. Every call runs the core inside `guard` with the GIL
//! released, and hands the result's buffer to NumPy without a copy.

use std::borrow::Cow;
use std::collections::TryReserveError;

use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;

use super::errors::guard;
use crate::samplers::repeat_factor::{self, Rounding};
use crate::samplers::stream::EpochStream;
use crate::samplers::{class_aware, group_labels, resample, two_level, weighted};

/// The array's memory when it is contiguous, a copy otherwise.
fn slice<'a, T: Element + Copy>(a: &'a PyReadonlyArray1<'_, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

type Array1<'py, T> = Bound<'py, PyArray1<T>>;

fn memory_error(n: u64, _: TryReserveError) -> PyErr {
    let gib = n as f64 * 8.0 / f64::from(1u32 << 30);
    PyMemoryError::new_err(format!(
        "the epoch should fit in memory as one array, but got an epoch of {n} indices \
         ({gib:.3e} GiB); iterate over the sampler instead, which streams the epoch"
    ))
}

/// Reads a whole stream into one array, or raises `MemoryError`.
fn whole_epoch(py: Python<'_>, stream: PyResult<EpochStream>) -> PyResult<Array1<'_, i64>> {
    let stream = stream?;
    let n = stream.remaining();
    let out = py
        .allow_threads(|| guard(|| Ok::<_, PyErr>(stream.into_vec())))?
        .map_err(|e| memory_error(n, e))?;
    Ok(out.into_pyarray(py))
}

/// One epoch of a sampler, read front to back: `read(max)` returns the next (at most `max`)
/// indices, `skip(n)` passes `n` of them, `len()` counts the indices left.
#[pyclass(module = "longtail._core", name = "IndexStream")]
pub struct IndexStream {
    inner: EpochStream,
}

#[pymethods]
impl IndexStream {
    fn __len__(&self) -> usize {
        // An epoch is at most 2**63 - 1 indices long, which fits a 64-bit usize.
        usize::try_from(self.inner.remaining()).unwrap_or(usize::MAX)
    }

    /// The indices not yet read.
    #[getter]
    fn remaining(&self) -> u64 {
        self.inner.remaining()
    }

    /// The next `min(max, remaining)` indices as an int64 array.
    fn read<'py>(&mut self, py: Python<'py>, max: u64) -> PyResult<Array1<'py, i64>> {
        let n = max.min(self.inner.remaining());
        let inner = &mut self.inner;
        let out = py
            .allow_threads(|| guard(|| Ok::<_, PyErr>(inner.read(max))))?
            .map_err(|e| memory_error(n, e))?;
        Ok(out.into_pyarray(py))
    }

    /// Passes the next `n` indices.
    fn skip(&mut self, py: Python<'_>, n: u64) -> PyResult<()> {
        let inner = &mut self.inner;
        py.allow_threads(|| guard(|| inner.skip(n)))
    }

    fn __repr__(&self) -> String {
        format!("IndexStream(remaining={})", self.inner.remaining())
    }
}

fn stream_py(stream: PyResult<EpochStream>) -> PyResult<IndexStream> {
    stream.map(|inner| IndexStream { inner })
}

/// `group_labels(labels) -> (classes, offsets, members)`: the dataset's indices sorted by class.
#[pyfunction(name = "group_labels")]
fn group_labels_py<'py>(
    py: Python<'py>,
    labels: PyReadonlyArray1<'py, i64>,
) -> PyResult<(Array1<'py, i64>, Array1<'py, i64>, Array1<'py, i64>)> {
    let labels = slice(&labels);
    let g = py.allow_threads(|| guard(|| group_labels(&labels)))?;
    Ok((
        g.classes.into_pyarray(py),
        g.offsets.into_pyarray(py),
        g.members.into_pyarray(py),
    ))
}

fn weighted(
    py: Python<'_>,
    weights: &PyReadonlyArray1<'_, f64>,
    num_samples: u64,
    replacement: bool,
    seed: u64,
    epoch: u64,
) -> PyResult<EpochStream> {
    let weights = slice(weights);
    py.allow_threads(|| {
        guard(|| weighted::weighted_stream(&weights, num_samples, replacement, seed, epoch))
    })
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
    whole_epoch(
        py,
        weighted(py, &weights, num_samples, replacement, seed, epoch),
    )
}

/// `weighted_stream(weights, num_samples, replacement, seed, epoch) -> IndexStream`.
#[pyfunction(name = "weighted_stream")]
fn weighted_stream_py(
    py: Python<'_>,
    weights: PyReadonlyArray1<'_, f64>,
    num_samples: u64,
    replacement: bool,
    seed: u64,
    epoch: u64,
) -> PyResult<IndexStream> {
    stream_py(weighted(
        py,
        &weights,
        num_samples,
        replacement,
        seed,
        epoch,
    ))
}

#[allow(clippy::too_many_arguments)]
fn class_weighted(
    py: Python<'_>,
    offsets: &PyReadonlyArray1<'_, i64>,
    members: &PyReadonlyArray1<'_, i64>,
    class_weights: &PyReadonlyArray1<'_, f64>,
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> PyResult<EpochStream> {
    let (offsets, members, w) = (slice(offsets), slice(members), slice(class_weights));
    py.allow_threads(|| {
        guard(|| two_level::class_weighted_stream(&offsets, &members, &w, num_samples, seed, epoch))
    })
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
    let stream = class_weighted(
        py,
        &offsets,
        &members,
        &class_weights,
        num_samples,
        seed,
        epoch,
    );
    whole_epoch(py, stream)
}

/// `class_weighted_stream(offsets, members, class_weights, num_samples, seed, epoch)`.
#[pyfunction(name = "class_weighted_stream")]
fn class_weighted_stream_py(
    py: Python<'_>,
    offsets: PyReadonlyArray1<'_, i64>,
    members: PyReadonlyArray1<'_, i64>,
    class_weights: PyReadonlyArray1<'_, f64>,
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> PyResult<IndexStream> {
    stream_py(class_weighted(
        py,
        &offsets,
        &members,
        &class_weights,
        num_samples,
        seed,
        epoch,
    ))
}

fn class_aware(
    py: Python<'_>,
    offsets: &PyReadonlyArray1<'_, i64>,
    members: &PyReadonlyArray1<'_, i64>,
    samples_per_class: u64,
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> PyResult<EpochStream> {
    let (offsets, members) = (slice(offsets), slice(members));
    py.allow_threads(|| {
        guard(|| {
            class_aware::class_aware_stream(
                &offsets,
                &members,
                samples_per_class,
                num_samples,
                seed,
                epoch,
            )
        })
    })
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
    let stream = class_aware(
        py,
        &offsets,
        &members,
        samples_per_class,
        num_samples,
        seed,
        epoch,
    );
    whole_epoch(py, stream)
}

/// `class_aware_stream(offsets, members, samples_per_class, num_samples, seed, epoch)`.
#[pyfunction(name = "class_aware_stream")]
fn class_aware_stream_py(
    py: Python<'_>,
    offsets: PyReadonlyArray1<'_, i64>,
    members: PyReadonlyArray1<'_, i64>,
    samples_per_class: u64,
    num_samples: u64,
    seed: u64,
    epoch: u64,
) -> PyResult<IndexStream> {
    stream_py(class_aware(
        py,
        &offsets,
        &members,
        samples_per_class,
        num_samples,
        seed,
        epoch,
    ))
}

fn resample(
    py: Python<'_>,
    offsets: &PyReadonlyArray1<'_, i64>,
    members: &PyReadonlyArray1<'_, i64>,
    targets: &PyReadonlyArray1<'_, i64>,
    seed: u64,
    epoch: u64,
) -> PyResult<EpochStream> {
    let (offsets, members, targets) = (slice(offsets), slice(members), slice(targets));
    py.allow_threads(|| {
        guard(|| resample::resample_stream(&offsets, &members, &targets, seed, epoch))
    })
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
    let stream = resample(py, &offsets, &members, &targets, seed, epoch);
    whole_epoch(py, stream)
}

/// `resample_stream(offsets, members, targets, seed, epoch) -> IndexStream`.
#[pyfunction(name = "resample_stream")]
fn resample_stream_py(
    py: Python<'_>,
    offsets: PyReadonlyArray1<'_, i64>,
    members: PyReadonlyArray1<'_, i64>,
    targets: PyReadonlyArray1<'_, i64>,
    seed: u64,
    epoch: u64,
) -> PyResult<IndexStream> {
    stream_py(resample(py, &offsets, &members, &targets, seed, epoch))
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
    let out = py.allow_threads(|| {
        guard(|| repeat_factor::repeat_factors(&offsets, &cats, threshold, sqrt))
    })?;
    Ok(out.into_pyarray(py))
}

fn repeat(
    py: Python<'_>,
    repeat_factors: &PyReadonlyArray1<'_, f64>,
    rounding: &str,
    seed: u64,
    epoch: u64,
) -> PyResult<EpochStream> {
    let factors = slice(repeat_factors);
    py.allow_threads(|| {
        guard(|| {
            let rounding: Rounding = rounding.parse()?;
            repeat_factor::repeat_factor_stream(&factors, rounding, seed, epoch)
        })
    })
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
    let stream = repeat(py, &repeat_factors, rounding, seed, epoch);
    whole_epoch(py, stream)
}

/// `repeat_factor_stream(repeat_factors, rounding, seed, epoch) -> IndexStream`.
#[pyfunction(name = "repeat_factor_stream")]
fn repeat_factor_stream_py(
    py: Python<'_>,
    repeat_factors: PyReadonlyArray1<'_, f64>,
    rounding: &str,
    seed: u64,
    epoch: u64,
) -> PyResult<IndexStream> {
    stream_py(repeat(py, &repeat_factors, rounding, seed, epoch))
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
    let factors = slice(&repeat_factors);
    py.allow_threads(|| {
        guard(|| {
            let rounding: Rounding = rounding.parse()?;
            repeat_factor::repeat_factor_epoch_length(&factors, rounding, seed, epoch)
        })
    })
}

/// Adds the sampler functions and the stream class to `_core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<IndexStream>()?;
    m.add_function(wrap_pyfunction!(group_labels_py, m)?)?;
    m.add_function(wrap_pyfunction!(weighted_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(weighted_stream_py, m)?)?;
    m.add_function(wrap_pyfunction!(class_weighted_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(class_weighted_stream_py, m)?)?;
    m.add_function(wrap_pyfunction!(class_aware_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(class_aware_stream_py, m)?)?;
    m.add_function(wrap_pyfunction!(resample_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(resample_stream_py, m)?)?;
    m.add_function(wrap_pyfunction!(repeat_factors_py, m)?)?;
    m.add_function(wrap_pyfunction!(repeat_factor_indices_py, m)?)?;
    m.add_function(wrap_pyfunction!(repeat_factor_stream_py, m)?)?;
    m.add_function(wrap_pyfunction!(repeat_factor_epoch_length_py, m)?)?;
    Ok(())
}
