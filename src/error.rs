//! The one error type of the core. The binding maps each variant to one Python exception class.

/// Every way a core call can reject its input. Messages name the argument and say what was
/// expected and what was given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    /// An argument has the wrong shape or length.
    #[error("{0}")]
    Shape(String),
    /// An argument has a value outside its domain (a negative count, a NaN weight, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// An index-like value (a target label, a rank) lies outside its range.
    #[error("{0}")]
    OutOfRange(String),
    /// An argument has a dtype the call does not support.
    #[error("{0}")]
    DType(String),
    /// libtorch reported an error while running the tensor-op path (the CUDA accelerator).
    #[error("libtorch error: {0}")]
    Torch(String),
    /// A bug in longtail: a broken invariant (a caught panic). Never the user's fault.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, CoreError>;

impl CoreError {
    /// The error a caught panic becomes (a bug, never the caller's fault), with its message.
    pub fn from_panic(panic: &(dyn std::any::Any + Send)) -> Self {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        CoreError::Internal(format!("longtail internal error (please report): {msg}"))
    }

    /// The name of the `longtail.exceptions` class this error surfaces as in Python. The
    /// classes themselves are declared once, in `python/longtail/exceptions.py`; this is the
    /// one mapping, shared by both native modules.
    pub fn class_name(&self) -> &'static str {
        match self {
            CoreError::Shape(_) => "ShapeError",
            CoreError::InvalidArgument(_) => "InvalidArgumentError",
            CoreError::OutOfRange(_) => "OutOfRangeError",
            CoreError::DType(_) => "DTypeError",
            CoreError::Torch(_) => "TorchError",
            CoreError::Internal(_) => "InternalError",
        }
    }

    pub fn shape(msg: impl Into<String>) -> Self {
        CoreError::Shape(msg.into())
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        CoreError::InvalidArgument(msg.into())
    }
    pub fn out_of_range(msg: impl Into<String>) -> Self {
        CoreError::OutOfRange(msg.into())
    }
    pub fn dtype(msg: impl Into<String>) -> Self {
        CoreError::DType(msg.into())
    }
}

#[cfg(feature = "torch")]
impl From<tch::TchError> for CoreError {
    fn from(err: tch::TchError) -> Self {
        // libtorch appends a C++ stack trace after the message; keep the message.
        let text = err.to_string();
        let message = text
            .split("\nException raised from")
            .next()
            .unwrap_or(&text);
        CoreError::Torch(message.trim_end().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::CoreError;

    #[test]
    fn a_caught_panic_becomes_an_internal_error_with_its_message() {
        let caught = std::panic::catch_unwind(|| panic!("broken invariant {}", 7)).unwrap_err();
        let err = CoreError::from_panic(caught.as_ref());
        assert_eq!(err.class_name(), "InternalError");
        assert!(err.to_string().contains("broken invariant 7"), "{err}");
        let caught = std::panic::catch_unwind(|| panic!("static text")).unwrap_err();
        assert!(CoreError::from_panic(caught.as_ref())
            .to_string()
            .contains("static text"));
    }
}
