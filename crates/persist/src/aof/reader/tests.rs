use super::*;

/// Reads one byte at a time, to exercise refilling at every position.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(slot)) => {
                *slot = b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    crate::aof::encode_command(&mut out, &args);
    out
}

fn drain<R: Read>(reader: &mut AofReader<R>) -> Result<Vec<Entry>, ReadError> {
    let mut all = Vec::new();
    while let Some(e) = reader.next_entry()? {
        all.push(e);
    }
    Ok(all)
}

#[test]
fn reads_commands_and_annotations_in_any_chunking() {
    let mut file = cmd(&["SELECT", "0"]);
    file.extend_from_slice(b"#TS:1700000000\r\n");
    file.extend(cmd(&["SET", "k", "line\r\nbreak"]));
    file.extend(cmd(&["MULTI"]));
    file.extend(cmd(&["INCR", "n"]));
    file.extend(cmd(&["EXEC"]));
    let whole = drain(&mut AofReader::new(file.as_slice(), 0)).unwrap();
    let mut trickled = AofReader::new(Trickle(&file), 0);
    assert_eq!(drain(&mut trickled).unwrap(), whole);
    assert_eq!(whole.len(), 6);
    assert_eq!(whole[1], Entry::Annotation(b"#TS:1700000000".to_vec()));
    assert_eq!(whole[2], Entry::Command(vec![b"SET".to_vec(), b"k".to_vec(), b"line\r\nbreak".to_vec()]));
    assert_eq!(trickled.offset(), file.len() as u64);
    assert_eq!(trickled.valid_up_to(), file.len() as u64);
    // Lines: SELECT 0 (5), SET (7), MULTI (3), INCR (5), EXEC (3), plus one.
    assert_eq!(trickled.line(), 24);
    assert_eq!(read_all(&file).unwrap().len(), 5);
}

#[test]
fn a_torn_tail_is_truncation_at_the_last_complete_command() {
    let mut file = cmd(&["INCR", "foo"]).repeat(5);
    let good = file.len() as u64;
    let last = cmd(&["INCR", "foo"]);
    file.extend_from_slice(&last[..last.len() - 1]);
    let mut reader = AofReader::new(file.as_slice(), 0);
    for _ in 0..5 {
        assert!(matches!(reader.next_entry(), Ok(Some(Entry::Command(_)))));
    }
    match reader.next_entry() {
        Err(ReadError::Truncated { valid_up_to, at, line }) => {
            assert_eq!((valid_up_to, at), (good, good));
            assert_eq!(line, 1 + 5 * 5 + 4);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unfinished_multi_is_truncation_before_it() {
    let mut file = cmd(&["SET", "foo", "hello"]);
    let before_multi = file.len() as u64;
    file.extend(cmd(&["MULTI"]));
    file.extend(cmd(&["SET", "bar", "world"]));
    let mut reader = AofReader::new(file.as_slice(), 0);
    let err = drain(&mut reader).unwrap_err();
    assert!(
        matches!(err, ReadError::Truncated { valid_up_to, at, .. } if valid_up_to == before_multi && at == before_multi),
        "{err:?}"
    );
    // The same with the tail torn inside the block.
    let torn = &file[..file.len() - 3];
    let err = drain(&mut AofReader::new(torn, 0)).unwrap_err();
    assert!(matches!(err, ReadError::Truncated { valid_up_to, .. } if valid_up_to == before_multi), "{err:?}");
}

#[test]
fn garbage_in_the_middle_is_corruption_with_its_offset() {
    let mut file = cmd(&["SET", "foo", "hello"]);
    let bad = file.len() as u64;
    file.extend_from_slice(b"!!!");
    file.extend(cmd(&["SET", "foo", "hello"]));
    match drain(&mut AofReader::new(Trickle(&file), 0)) {
        Err(ReadError::Corrupt { at, line, item_start, valid_up_to, what }) => {
            assert_eq!((at, item_start, valid_up_to, line), (bad, bad, bad, 8));
            assert_eq!(what, CorruptWhat::Format(Corruption::Prefix { expected: b'*', got: b'!' }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stray_exec_and_nested_multi_are_corruption() {
    let exec = cmd(&["EXEC"]);
    assert!(matches!(
        drain(&mut AofReader::new(exec.as_slice(), 0)),
        Err(ReadError::Corrupt { what: CorruptWhat::UnexpectedExec, .. })
    ));
    let nested = [cmd(&["MULTI"]), cmd(&["multi"])].concat();
    assert!(matches!(
        drain(&mut AofReader::new(nested.as_slice(), 0)),
        Err(ReadError::Corrupt { what: CorruptWhat::UnexpectedMulti, .. })
    ));
}

#[test]
fn offsets_count_from_the_start_given() {
    let file = cmd(&["PING"]);
    let mut reader = AofReader::new(file.as_slice(), 1000);
    drain(&mut reader).unwrap();
    assert_eq!(reader.offset(), 1000 + file.len() as u64);
}

#[test]
fn random_bytes_never_panic_and_end_in_an_answer() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
    let alphabet = b"*$#\r\n0123-9abc";
    for _ in 0..2000 {
        let len = rng.random_range(0..60);
        let bytes: Vec<u8> = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        let mut reader = AofReader::new(Trickle(&bytes), 0);
        let end = drain(&mut reader);
        assert!(reader.offset() <= bytes.len() as u64);
        if end.is_ok() {
            assert_eq!(reader.offset(), bytes.len() as u64);
        }
    }
}
