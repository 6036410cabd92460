use super::*;

fn command(buf: &[u8]) -> (Vec<Vec<u8>>, usize) {
    match parse_item(buf, false).unwrap() {
        Outcome::Item { item: Item::Command(args), len } => (args.iter().map(|a| a.to_vec()).collect(), len),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_command_and_its_length() {
    let buf = b"*2\r\n$3\r\nGET\r\n$5\r\na\r\nb\0\r\n*1";
    let (args, len) = command(buf);
    assert_eq!(args, [b"GET".to_vec(), b"a\r\nb\0".to_vec()]);
    assert_eq!(len, buf.len() - 2);
}

#[test]
fn every_proper_prefix_needs_more() {
    let buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n";
    for cut in 0..buf.len() {
        assert!(matches!(parse_item(&buf[..cut], false), Ok(Outcome::NeedMore { .. })), "cut at {cut}");
    }
    assert_eq!(command(buf).1, buf.len());
}

#[test]
fn need_more_counts_the_complete_lines() {
    let buf = b"*2\r\n$4\r\nincr\r\n$3\r\nfoo\r";
    assert_eq!(parse_item(buf, true), Ok(Outcome::NeedMore { line_ends: 4 }));
}

#[test]
fn corruption_has_a_position_and_a_reason() {
    let cases: [(&[u8], usize, Corruption); 7] = [
        (b"!!!", 0, Corruption::Prefix { expected: b'*', got: b'!' }),
        (b"*1\r\n+OK\r\n", 4, Corruption::Prefix { expected: b'$', got: b'+' }),
        (b"*1x\r\n", 2, Corruption::LineEnd([b'x', b'\r'])),
        (b"*1\r\n$2\r\nabcd\r\n", 10, Corruption::LineEnd([b'c', b'd'])),
        (b"*0\r\n", 0, Corruption::Range(0)),
        (b"*1\r\n$-1\r\n", 4, Corruption::Range(-1)),
        (b"*99999999999999999999\r\n", 0, Corruption::Range(i64::MAX)),
    ];
    for (input, at, what) in cases {
        let err = parse_item(input, false).unwrap_err();
        assert_eq!((err.at, err.what), (at, what), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn a_claimed_huge_count_or_length_allocates_nothing() {
    assert!(matches!(parse_item(b"*2147483647\r\n$1\r\na\r\n", false), Ok(Outcome::NeedMore { .. })));
    assert!(matches!(parse_item(b"*1\r\n$9223372036854775800\r\nabc", false), Ok(Outcome::NeedMore { .. })));
}

#[test]
fn annotations() {
    let buf = b"#TS:1628217470\r\n*1\r\n";
    assert_eq!(parse_item(buf, false), Ok(Outcome::Item { item: Item::Annotation(b"#TS:1628217470"), len: 16 }));
    assert_eq!(timestamp(b"#TS:1628217470"), Some(1628217470));
    assert_eq!(timestamp(b"#TS:x"), None);
    assert_eq!(timestamp(b"#other"), None);
    // Unterminated: more may come, unless the input ended.
    assert_eq!(parse_item(b"#TS:1", false), Ok(Outcome::NeedMore { line_ends: 0 }));
    assert_eq!(parse_item(b"#TS:1", true), Ok(Outcome::Item { item: Item::Annotation(b"#TS:1"), len: 5 }));
    let long = vec![b'#'; ANNOTATION_MAX + 10];
    assert_eq!(parse_item(&long, false).unwrap_err().what, Corruption::LongAnnotation);
}

#[test]
fn rdb_detection() {
    assert!(is_rdb(b"REDIS0010\xfa"));
    assert!(!is_rdb(b"*1\r\n"));
    assert!(!is_rdb(b"REDI"));
}
