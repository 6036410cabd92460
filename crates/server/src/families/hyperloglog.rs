//! HyperLogLog commands.
//!
//! Scaffolding: the family registers its commands when they are written.

use crate::dispatch::Registrar;

pub fn register(_r: &mut Registrar) {}
