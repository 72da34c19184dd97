//! `MapService` over the store.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use landmeter_proto::v1::{
    GetStoreRequest, GetStoreResponse, ListStoresRequest, ListStoresResponse, SummaryRequest,
    SummaryResponse, map_service_server::MapService,
};

use super::status::to_status;
use crate::store::{GroupField, MapStore, Scope, StoreError};

/// Default and largest page of `ListStores`.
pub const DEFAULT_PAGE: usize = 500;
pub const MAX_PAGE: usize = 5_000;

pub struct MapApi {
    store: Arc<dyn MapStore>,
}

impl MapApi {
    pub fn new(store: Arc<dyn MapStore>) -> Self {
        Self { store }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn MapStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Status> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| Status::internal("query task failed"))?
            .map_err(to_status)
    }
}

/// Until operator authentication lands, every caller sees every tenant.
fn scope<T>(_req: &Request<T>) -> Scope {
    Scope::AllTenants
}

#[tonic::async_trait]
impl MapService for MapApi {
    async fn list_stores(
        &self,
        request: Request<ListStoresRequest>,
    ) -> Result<Response<ListStoresResponse>, Status> {
        let scope = scope(&request);
        let req = request.into_inner();
        let page = match req.page_size as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let filter = req.filter.unwrap_or_default();
        let (stores, next_page_token) = self
            .blocking(move |s| s.list_stores(&scope, &filter, page, &req.page_token))
            .await?;
        Ok(Response::new(ListStoresResponse {
            stores,
            next_page_token,
        }))
    }

    async fn get_store(
        &self,
        request: Request<GetStoreRequest>,
    ) -> Result<Response<GetStoreResponse>, Status> {
        let scope = scope(&request);
        let id = request.into_inner().id;
        let found = self
            .blocking({
                let id = id.clone();
                move |s| s.get_store(&scope, &id)
            })
            .await?;
        found
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no store {id:?}")))
    }

    async fn summary(
        &self,
        request: Request<SummaryRequest>,
    ) -> Result<Response<SummaryResponse>, Status> {
        let scope = scope(&request);
        let req = request.into_inner();
        let fields = req
            .group_by
            .iter()
            .map(|f| GroupField::parse(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(to_status)?;
        let filter = req.filter.unwrap_or_default();
        let rows = self
            .blocking(move |s| s.summary(&scope, &filter, &fields))
            .await?;
        Ok(Response::new(SummaryResponse {
            group_by: req.group_by,
            rows,
        }))
    }
}
