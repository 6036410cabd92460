//! Command table: geo commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[];
