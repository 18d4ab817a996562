//! Input parsed once at the edge: past a `parse`, a value is valid by construction.

mod email;
mod password;
mod username;

pub use email::{Email, EmailText};
pub use password::{NewPassword, OfferedPassword, Password};
pub use username::{NewUsername, Username};

/// Which field is wrong and why; becomes a 400 naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

impl From<FieldError> for shared::ApiError {
    fn from(err: FieldError) -> Self {
        shared::ApiError::invalid_field(err.field, format!("{}: {}", err.field, err.reason))
    }
}
