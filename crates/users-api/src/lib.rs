//! # users-api: the `/users` contract, written once
//!
//! Everything that is the same in all three tiers lives here, so that a tier crate
//! holds only what differs: connecting, applying the schema, and its [`UserStore`].
//!
//! Module map, in reading order:
//!
//! * [`model`]: the resources `UserRead`, `PostRead`, `PostWithAuthor`, the validated
//!   bodies `UserCreate`, `UserUpdate`, `PostCreate`, and `Page` for the lists.
//! * [`validate`]: the body rules of the contract, reporting every failing field.
//! * [`store`]: the [`UserStore`] trait each tier implements.
//! * [`deadline`]: every store operation within 4.5 s, and the [`deadline::Lease`] that
//!   keeps a connection cut off half way out of its pool.
//! * [`error`]: [`StoreError`] (what a store can say) and [`ApiError`] (what HTTP
//!   answers), and their one mapping onto status codes and `problem+json`.
//! * [`extract`]: request extractors that reject in `problem+json`.
//! * [`routes`]: the handlers, generic over the store, with their OpenAPI docs.
//! * [`app`]: the router, `/openapi.json`, `/docs`, and the middleware stack.
//! * [`config`]: environment and `.env` configuration; the password stays secret.
//! * [`pool`]: the pool settings every tier shares (size, deadlines, idle check).
//! * [`pooler`]: the statement timeout behind a pooler that drops start-up options.
//! * [`server`]: `run_tier` (a tier's whole `main`), `serve` with graceful shutdown, and
//!   its own accept loop (timeouts, a cap on connections).
//! * [`schema`]: the SQL of `migrations/`, embedded for the tiers that apply it by hand.
//! * [`unread_body`]: a request body nobody read is drained before the answer leaves.
//! * [`sqlstate`]: what PostgreSQL's error codes and constraint names mean for the API.
//! * [`privacy`]: the log filter's caps that keep parameters and row values out of the log.

pub mod app;
pub mod config;
pub mod deadline;
pub mod error;
pub mod extract;
pub mod model;
pub mod pool;
pub mod pooler;
pub mod privacy;
pub mod routes;
pub mod schema;
pub mod server;
pub mod sqlstate;
pub mod store;
pub mod unread_body;
pub mod validate;

pub use app::{ApiDoc, router, router_with};
pub use config::{Config, DatabaseConfig, PipelineConfig, ServeConfig, TierInfo, quote_identifier};
pub use error::{ApiError, BoxError, StoreError};
pub use model::{
    Page, PostCreate, PostRead, PostWithAuthor, UserBatch, UserBatchCreated, UserCreate, UserRead,
    UserUpdate,
};
pub use server::{load_config, run_tier, serve, serve_tier, serve_with};
pub use store::{StoreResult, UserStore, UserStream};
