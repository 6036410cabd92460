//! Command table: list commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[];
