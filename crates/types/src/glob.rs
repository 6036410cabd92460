//! Glob-style pattern matching with Redis's rules (KEYS, SCAN MATCH,
//! PSUBSCRIBE, CONFIG GET, ACL key patterns).
//!
//! `*` any run, `?` one byte, `[abc]`, `[^abc]`, `[a-z]` (bounds may come in
//! either order), `\x` a literal `x`. An unterminated `[` class ends at the
//! end of the pattern. Range bounds compare as C `char`s (signed), as Redis's
//! matcher does on x86-64.

/// True if `subject` matches `pattern`.
pub fn glob_match(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    let mut give_up = false;
    match_from(pattern, subject, nocase, &mut give_up)
}

fn lower(c: u8) -> u8 {
    c.to_ascii_lowercase()
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        lower(a) == lower(b)
    } else {
        a == b
    }
}

fn match_from(mut p: &[u8], mut s: &[u8], nocase: bool, give_up: &mut bool) -> bool {
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_from(&p[1..], s, nocase, give_up) {
                        return true;
                    }
                    if *give_up {
                        return false;
                    }
                    s = &s[1..];
                }
                // Nothing after this star matches anywhere in the rest of the
                // subject: earlier stars cannot help either.
                *give_up = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                let (matched, rest) = match_class(&p[1..], s[0], nocase);
                if !matched {
                    return false;
                }
                s = &s[1..];
                // `rest` starts at the closing `]` (or is empty if unterminated).
                p = rest;
                if p.is_empty() {
                    // Unterminated class: Redis treats the end as its close.
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !eq(p[0], s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if !eq(c, s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Matches one byte against the class whose body starts at `p` (after `[`).
/// Returns whether it matched and the pattern from the closing `]`.
fn match_class(mut p: &[u8], c: u8, nocase: bool) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        match p {
            [] => break,
            [b'\\', escaped, ..] => {
                if *escaped == c {
                    matched = true;
                }
                p = &p[2..];
            }
            [b']', ..] => break,
            [start, b'-', end, ..] => {
                // Bounds compare as signed chars, like the C matcher.
                let (mut lo, mut hi, mut x) = (*start as i8 as i32, *end as i8 as i32, c as i8 as i32);
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                if nocase {
                    lo = c_tolower(lo);
                    hi = c_tolower(hi);
                    x = c_tolower(x);
                }
                if x >= lo && x <= hi {
                    matched = true;
                }
                p = &p[3..];
            }
            [other, ..] => {
                if eq(*other, c, nocase) {
                    matched = true;
                }
                p = &p[1..];
            }
        }
    }
    (matched != negate, p)
}

fn c_tolower(c: i32) -> i32 {
    if (b'A' as i32..=b'Z' as i32).contains(&c) {
        c + 32
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let table: &[(&str, &str, bool)] = &[
            ("*", "", false), // Redis special-cases a lone "*" in KEYS and SCAN.
            ("*", "anything", true),
            ("a*", "abc", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h[ae]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[^e]llo", "hallo", true),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("foo*", "foo", true),
            ("foo**", "foo", true),
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("[abc", "a", true),
            ("[a\\]]", "]", true),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
            ("key:*", "key:1", true),
            ("key:??", "key:12", true),
        ];
        for (pattern, subject, expected) in table {
            assert_eq!(
                glob_match(pattern.as_bytes(), subject.as_bytes(), false),
                *expected,
                "{pattern:?} vs {subject:?}"
            );
        }
        assert!(glob_match(b"HELLO*", b"hello world", true));
        assert!(!glob_match(b"HELLO*", b"hello world", false));
    }

    #[test]
    fn pathological_patterns_finish() {
        let pattern = "a*".repeat(30) + "b";
        let subject = "a".repeat(60);
        assert!(!glob_match(pattern.as_bytes(), subject.as_bytes(), false));
    }
}
