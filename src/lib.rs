//! nova: brings up, previews and tears down a secure production environment on AWS by
//! calling the AWS APIs directly.
//!
//! Data flows `config` -> `stack` (the blueprint: desired resources) -> `plan` (pure diff
//! against `state`, optionally refreshed through `provider`) -> `apply` (parallel executor
//! writing `state`). `engine` runs those steps in order as library functions; `graph`
//! orders resources and operations; `cli` is the command-line edge.

pub mod apply;
pub mod assets;
pub mod cli;
pub mod config;
pub mod engine;
pub mod graph;
pub mod model;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod refresh;
pub mod stack;
pub mod state;
