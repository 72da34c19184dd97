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

/// Binary metadata of an `InvalidArgument` about names (JSON: `what`, `given`, `known`, or
/// `tenant`, `known` for a tenant without scans), so a client can say it in its own language.
pub const NAME_ERROR_METADATA: &str = "landmeter-name-error-bin";

fn with_name_error(mut status: Status, detail: serde_json::Value) -> Status {
    if let Ok(bytes) = serde_json::to_vec(&detail) {
        status.metadata_mut().insert_bin(
            NAME_ERROR_METADATA,
            tonic::metadata::MetadataValue::from_bytes(&bytes),
        );
    }
    status
}

pub fn to_status(e: StoreError) -> Status {
    match e {
        StoreError::UnknownName {
            what,
            ref given,
            ref known,
        } => {
            let detail = serde_json::json!({"what": what, "given": given, "known": known});
            with_name_error(Status::invalid_argument(e.to_string()), detail)
        }
        StoreError::NoScans {
            ref tenant,
            ref known,
        } => {
            let detail = serde_json::json!({"tenant": tenant, "known": known});
            with_name_error(Status::invalid_argument(e.to_string()), detail)
        }
        StoreError::UnknownField(_) | StoreError::BadPageToken => {
            Status::invalid_argument(e.to_string())
        }
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
