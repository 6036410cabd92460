//! Command table: sorted set commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[];
