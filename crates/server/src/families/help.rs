//! Replies shared by the families' HELP subcommands.

use shoal_resp::ReplyBuf;

/// A HELP reply in Redis's layout: a heading, the lines, then HELP itself.
pub fn write_help(out: &mut ReplyBuf, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for line in lines {
        out.simple(line);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}
