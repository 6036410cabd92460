//! DUMP payloads: the value's type byte and RDB form, then the RDB
//! version (2 bytes LE) and a CRC64 (8 bytes LE) of everything before it.

use shoal_types::Value;

use super::decode::{decode_value, DecodeLimits};
use super::encode::{encode_value, EncodeOptions};
use super::error::Result;
use super::input::Input;
use super::{crc64, RDB_VERSION};

const FOOTER: usize = 10;

/// DUMP's serialization of `value`.
pub fn dump_payload(value: &Value, options: EncodeOptions) -> Vec<u8> {
    let mut out = vec![0];
    let kind = encode_value(value, &mut out, options);
    out[0] = kind;
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a payload's footer; returns its type byte (None if the payload
/// is only a footer) and the value bytes, or None when the version is
/// newer than ours or the checksum is wrong (`check_crc` false: the
/// checksum is not looked at, as with DEBUG SET-SKIP-CHECKSUM-VALIDATION).
pub fn verify_payload(payload: &[u8], check_crc: bool) -> Option<(Option<u8>, &[u8])> {
    if payload.len() < FOOTER {
        return None;
    }
    let (body, footer) = payload.split_at(payload.len() - FOOTER);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if u32::from(version) > RDB_VERSION {
        return None;
    }
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if check_crc && crc != crc64(&payload[..payload.len() - 8]) {
        return None;
    }
    match body.split_first() {
        Some((&kind, rest)) => Some((Some(kind), rest)),
        None => Some((None, body)),
    }
}

/// Decodes a verified payload's value.
pub fn decode_payload(kind: u8, body: &[u8], limits: &DecodeLimits) -> Result<Value> {
    decode_value(kind, &mut Input::new(body), limits)
}

/// FUNCTION DUMP's payload: each library's code as a FUNCTION2 item (the
/// opcode and the code as an RDB string), then the footer DUMP uses.
pub fn function_dump_payload(codes: &[&[u8]], compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(super::opcode::FUNCTION2);
        super::output::string(&mut out, code, compress);
    }
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The library codes of a FUNCTION RESTORE payload, or why it is refused
/// (Redis's messages).
pub fn function_restore_codes(payload: &[u8], check_crc: bool) -> std::result::Result<Vec<Vec<u8>>, &'static str> {
    if payload.len() < FOOTER {
        return Err("payload version or checksum are wrong");
    }
    let (body, footer) = payload.split_at(payload.len() - FOOTER);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if u32::from(version) > RDB_VERSION || (check_crc && crc != crc64(&payload[..payload.len() - 8])) {
        return Err("payload version or checksum are wrong");
    }
    let mut input = Input::new(body);
    let mut codes = Vec::new();
    while !input.is_empty() {
        match input.byte() {
            Ok(super::opcode::FUNCTION2) => {}
            Ok(super::opcode::FUNCTION_PRE_GA) => return Err("Pre-GA function format not supported"),
            _ => return Err("given type is not a function"),
        }
        let code = input.bytes().map_err(|_| "function payload is corrupt")?;
        codes.push(code.into_owned());
    }
    Ok(codes)
}
