//! Command table: bitmap commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[];
