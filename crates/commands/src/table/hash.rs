//! Command table: hash commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[];
