//! The one place where store errors become gRPC statuses.

use tonic::Status;

use crate::store::StoreError;

pub fn to_status(e: StoreError) -> Status {
    match e {
        StoreError::UnknownField(_) | StoreError::BadPageToken => {
            Status::invalid_argument(e.to_string())
        }
        StoreError::UnknownScan(_) => Status::not_found(e.to_string()),
        StoreError::ScanOwnedElsewhere { .. } => Status::permission_denied(e.to_string()),
        StoreError::MissingBatches { .. } => Status::failed_precondition(e.to_string()),
        StoreError::Forbidden(_) => Status::permission_denied(e.to_string()),
        StoreError::Database(_) | StoreError::Corrupt(_) | StoreError::Poisoned => {
            tracing::error!(error = %e, "query failed");
            Status::internal("internal error")
        }
    }
}
