//! COMMAND INFO and COMMAND DOCS replies, produced from the table.

use shoal_resp::ReplyBuf;

use crate::registry::{table, Command, KeyFlags};
use crate::spec::{Begin, Find};

/// One COMMAND INFO entry (10 elements).
pub fn write_info(out: &mut ReplyBuf, cmd: &Command) {
    out.array(10);
    out.bulk_str(cmd.name);
    out.int(cmd.arity as i64);
    let flags: Vec<&str> = cmd.flags.names().collect();
    out.set(flags.len());
    flags.iter().for_each(|f| out.simple(f));
    out.int(cmd.legacy.first as i64);
    out.int(cmd.legacy.last as i64);
    out.int(cmd.legacy.step as i64);
    let categories: Vec<&str> = cmd.acl.names().collect();
    out.set(categories.len());
    categories.iter().for_each(|c| out.simple(&format!("@{c}")));
    let tips: Vec<&str> = cmd.spec.tips.split_whitespace().collect();
    out.set(tips.len());
    tips.iter().for_each(|t| out.bulk_str(t));
    out.set(cmd.key_specs.len());
    for spec in &cmd.key_specs {
        out.map(3);
        out.bulk_str("flags");
        write_key_flags(out, spec.flags);
        out.bulk_str("begin_search");
        write_begin(out, spec.begin);
        out.bulk_str("find_keys");
        write_find(out, spec.find);
    }
    if cmd.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(cmd.subcommands.len());
        for id in &cmd.subcommands {
            write_info(out, table().get(*id));
        }
    }
}

/// Key-spec flags as a set of status replies.
pub fn write_key_flags(out: &mut ReplyBuf, flags: KeyFlags) {
    let names: Vec<&str> = flags.names().collect();
    out.set(names.len());
    names.iter().for_each(|n| out.simple(n));
}

fn write_begin(out: &mut ReplyBuf, begin: Begin) {
    out.map(2);
    out.bulk_str("type");
    match begin {
        Begin::Index(pos) => {
            out.bulk_str("index");
            out.bulk_str("spec");
            out.map(1);
            out.bulk_str("index");
            out.int(pos as i64);
        }
        Begin::Keyword { keyword, start_from } => {
            out.bulk_str("keyword");
            out.bulk_str("spec");
            out.map(2);
            out.bulk_str("keyword");
            out.bulk_str(keyword);
            out.bulk_str("startfrom");
            out.int(start_from as i64);
        }
        Begin::Unknown => {
            out.bulk_str("unknown");
            out.bulk_str("spec");
            out.map(0);
        }
    }
}

fn write_find(out: &mut ReplyBuf, find: Find) {
    out.map(2);
    out.bulk_str("type");
    match find {
        Find::Range { last_key, step, limit } => {
            out.bulk_str("range");
            out.bulk_str("spec");
            out.map(3);
            out.bulk_str("lastkey");
            out.int(last_key as i64);
            out.bulk_str("keystep");
            out.int(step as i64);
            out.bulk_str("limit");
            out.int(limit as i64);
        }
        Find::KeyNum { key_num_index, first_key, step } => {
            out.bulk_str("keynum");
            out.bulk_str("spec");
            out.map(3);
            out.bulk_str("keynumidx");
            out.int(key_num_index as i64);
            out.bulk_str("firstkey");
            out.int(first_key as i64);
            out.bulk_str("keystep");
            out.int(step as i64);
        }
        Find::Unknown => {
            out.bulk_str("unknown");
            out.bulk_str("spec");
            out.map(0);
        }
    }
}

/// One COMMAND DOCS entry (a map).
pub fn write_docs(out: &mut ReplyBuf, cmd: &Command) {
    let spec = cmd.spec;
    let fields = 1
        + usize::from(!spec.summary.is_empty())
        + usize::from(!spec.since.is_empty())
        + usize::from(!spec.complexity.is_empty())
        + usize::from(!cmd.subcommands.is_empty());
    out.map(fields);
    if !spec.summary.is_empty() {
        out.bulk_str("summary");
        out.bulk_str(spec.summary);
    }
    if !spec.since.is_empty() {
        out.bulk_str("since");
        out.bulk_str(spec.since);
    }
    out.bulk_str("group");
    out.bulk_str(cmd.group);
    if !spec.complexity.is_empty() {
        out.bulk_str("complexity");
        out.bulk_str(spec.complexity);
    }
    if !cmd.subcommands.is_empty() {
        out.bulk_str("subcommands");
        out.map(cmd.subcommands.len());
        for id in &cmd.subcommands {
            let sub = table().get(*id);
            out.bulk_str(sub.name);
            write_docs(out, sub);
        }
    }
}
