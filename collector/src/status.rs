//! The one place where store errors become gRPC statuses (and gRPC codes HTTP statuses),
//! shared by every surface: ingest, the map API, the HTTP side.

use tonic::{Code, Status};

/// The HTTP status for a gRPC status code (the JSON API answers with the same errors).
pub fn http_status(code: Code) -> u16 {
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        _ => 500,
    }
}

use crate::store::StoreError;

pub fn to_status(e: StoreError) -> Status {
    match e {
        StoreError::UnknownField(_)
        | StoreError::BadPageToken
        | StoreError::UnknownName { .. }
        | StoreError::NoScans { .. } => Status::invalid_argument(e.to_string()),
        StoreError::UnknownScan(_) => Status::not_found(e.to_string()),
        StoreError::ScanOwnedElsewhere { .. } => Status::permission_denied(e.to_string()),
        StoreError::MissingBatches { .. } => Status::failed_precondition(e.to_string()),
        StoreError::Forbidden(_) => Status::permission_denied(e.to_string()),
        StoreError::UnsupportedUrl(_)
        | StoreError::AmbiguousStore { .. }
        | StoreError::SchemaBehind { .. } => Status::failed_precondition(e.to_string()),
        StoreError::Backend(_)
        | StoreError::Corrupt(_)
        | StoreError::Poisoned
        | StoreError::Io(_) => {
            tracing::error!(error = %e, "query failed");
            Status::internal("internal error")
        }
    }
}
