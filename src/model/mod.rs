//! The vocabulary every other module speaks: resource addresses, property values and desired resources.

mod address;
mod resource;
mod value;

pub use address::{Address, AddressError};
pub use resource::{Blueprint, Inputs, Outputs, Resource};
pub use value::{Reference, Value, ValueError};
