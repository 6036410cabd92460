//! Splitting of inline command lines (and redis.conf lines) into arguments.
//!
//! The rules are redis-server's: arguments are separated by whitespace;
//! double quotes allow `\n \r \t \b \a \xHH` and `\<char>` escapes; single
//! quotes allow only `\'`; a closing quote must be followed by whitespace or
//! the end of the line; a NUL byte ends the line as it does for a C string.
//! `quote` writes bytes back in the double-quoted form (Redis's `repr`).

/// Splits `line`, appending each argument's bytes to `scratch` and its range
/// to `ranges`. Returns false on unbalanced quotes.
pub fn split_args(line: &[u8], scratch: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> bool {
    let line = match memchr::memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return true;
        }
        let start = scratch.len();
        match split_one(line, &mut i, scratch) {
            Some(()) => ranges.push((start, scratch.len())),
            None => return false,
        }
    }
}

/// Convenience form returning owned arguments, or None on unbalanced quotes.
pub fn split_args_owned(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut scratch = Vec::new();
    let mut ranges = Vec::new();
    if !split_args(line, &mut scratch, &mut ranges) {
        return None;
    }
    Some(ranges.into_iter().map(|(s, e)| scratch[s..e].to_vec()).collect())
}

enum Quote {
    None,
    Double,
    Single,
}

/// Reads one argument starting at `line[*i]` (not a space).
fn split_one(line: &[u8], i: &mut usize, out: &mut Vec<u8>) -> Option<()> {
    let mut quote = Quote::None;
    loop {
        let c = line.get(*i).copied();
        match quote {
            Quote::None => match c {
                None => return Some(()),
                Some(b' ' | b'\n' | b'\r' | b'\t') => {
                    *i += 1;
                    return Some(());
                }
                Some(b'"') => quote = Quote::Double,
                Some(b'\'') => quote = Quote::Single,
                Some(other) => out.push(other),
            },
            Quote::Double => match c {
                None => return None,
                Some(b'\\') if line.get(*i + 1) == Some(&b'x') && hex_pair(line, *i + 2).is_some() => {
                    out.push(hex_pair(line, *i + 2).unwrap_or_default());
                    *i += 3;
                }
                Some(b'\\') if *i + 1 < line.len() => {
                    *i += 1;
                    out.push(match line[*i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                }
                Some(b'"') => return close_quote(line, i),
                Some(other) => out.push(other),
            },
            Quote::Single => match c {
                None => return None,
                Some(b'\\') if line.get(*i + 1) == Some(&b'\'') => {
                    *i += 1;
                    out.push(b'\'');
                }
                Some(b'\'') => return close_quote(line, i),
                Some(other) => out.push(other),
            },
        }
        *i += 1;
    }
}

/// A closing quote must be followed by whitespace or the end of the line.
fn close_quote(line: &[u8], i: &mut usize) -> Option<()> {
    match line.get(*i + 1) {
        Some(&c) if !is_space(c) => None,
        _ => {
            *i += 1;
            Some(())
        }
    }
}

fn hex_pair(line: &[u8], at: usize) -> Option<u8> {
    let hi = (*line.get(at)? as char).to_digit(16)?;
    let lo = (*line.get(at + 1)? as char).to_digit(16)?;
    Some((hi * 16 + lo) as u8)
}

/// C's `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Appends `bytes` in double quotes, escaped as Redis shows binary data.
pub fn quote(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Option<Vec<String>> {
        split_args_owned(s.as_bytes())
            .map(|v| v.into_iter().map(|a| String::from_utf8_lossy(&a).into_owned()).collect())
    }

    #[test]
    fn splitting_rules() {
        let table: &[(&str, Option<&[&str]>)] = &[
            ("set a b", Some(&["set", "a", "b"])),
            ("  set   a  ", Some(&["set", "a"])),
            ("", Some(&[])),
            ("\"a b\" c", Some(&["a b", "c"])),
            ("\"\\x41\\n\"", Some(&["A\n"])),
            ("\"\\xZZ\"", Some(&["xZZ"])),
            ("'it\\'s'", Some(&["it's"])),
            ("'a\\nb'", Some(&["a\\nb"])),
            ("a\"b c\"", Some(&["ab c"])),
            ("\"ab\"c", None),
            ("\"abc", None),
            ("'abc", None),
            ("\"\"\"x\"\"\"", None),
            ("a\0b c", Some(&["a"])),
        ];
        for (input, expected) in table {
            let expected = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(split(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn quotes_like_redis() {
        let mut out = Vec::new();
        quote(&mut out, b"a \"b\"\\\n\r\t\x07\x08\x00\xff~");
        assert_eq!(out, b"\"a \\\"b\\\"\\\\\\n\\r\\t\\a\\b\\x00\\xff~\"");
    }
}
