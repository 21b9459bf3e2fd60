//! The registry side of `img`: a distribution-API client with Docker/Podman credentials and
//! token auth ([`client`]), `img push` ([`push`]), `img pull` ([`pull`]) and a small OCI
//! registry on local storage for tests and local use ([`server`]).

pub mod auth;
pub mod client;
pub mod credentials;
pub mod error;
pub mod log;
pub mod media;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod retry;
pub mod server;

pub use error::RegistryError;
