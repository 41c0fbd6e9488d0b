//! The outside services' clients, against local fakes of the services.

mod animator;
mod sandbox;
