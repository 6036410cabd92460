//! Command table: stream commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[];
