//! Command table: hyperloglog commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[];
