//! Command table: set commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[];
