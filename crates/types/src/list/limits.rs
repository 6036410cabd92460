//! How large a list's nodes may grow, and helpers on one packed node that
//! both list representations use.

use crate::packed::{self, PackedVec};

/// Largest per-node entry count (what Redis allows for a positive
/// `list-max-listpack-size`).
const FILL_MAX: i64 = 32767;
/// Most negative `list-max-listpack-size` (-5: 64 KB nodes).
const FILL_MIN: i64 = -5;
/// Node byte limit for `list-max-listpack-size` -1; each step down doubles.
const SIZE_LEVEL_BASE: usize = 4096;
/// Byte limit of nodes limited by entry count.
const COUNT_LIMITED_MAX_BYTES: usize = 8192;
/// Elements at least this large get a plain node of their own by default.
pub const DEFAULT_PACKED_THRESHOLD: usize = 1 << 30;

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

/// How large nodes may grow, from `list-max-listpack-size` and the packed
/// threshold (DEBUG QUICKLIST-PACKED-THRESHOLD).
#[derive(Clone, Copy, Debug)]
pub struct ListLimits {
    max_bytes: usize,
    max_count: usize,
    packed_threshold: usize,
}

impl ListLimits {
    /// Limits for a `list-max-listpack-size` value (clamped to Redis's
    /// range: -5..=32767; 0 behaves as 1).
    pub fn new(fill: i64, packed_threshold: usize) -> ListLimits {
        let fill = fill.clamp(FILL_MIN, FILL_MAX);
        let (max_bytes, max_count) = if fill < 0 {
            (SIZE_LEVEL_BASE << (-fill - 1), usize::MAX)
        } else {
            (COUNT_LIMITED_MAX_BYTES, fill.max(1) as usize)
        };
        ListLimits { max_bytes, max_count, packed_threshold: packed_threshold.max(1) }
    }

    /// True when `value` must live in a plain node of its own.
    pub(crate) fn is_large(&self, value: &[u8]) -> bool {
        value.len() >= self.packed_threshold
    }

    /// True when a packed node of `bytes` and `count` entries may take
    /// `value` too.
    pub(crate) fn allows_insert(&self, node: &PackedVec, value: &[u8]) -> bool {
        if self.is_large(value) {
            return false;
        }
        if node.is_empty() {
            return true;
        }
        node.len() < self.max_count && self.fits_bytes(node.encoded_bytes() + packed::entry_bytes(value))
    }

    pub(crate) fn fits_bytes(&self, bytes: usize) -> bool {
        bytes <= self.max_bytes
    }

    /// True when a large list reduced to this one packed node should become
    /// small again.
    pub(crate) fn allows_shrink(&self, node: &PackedVec) -> bool {
        node.encoded_bytes() <= self.max_bytes / 2 && node.len() <= self.max_count / 2
    }
}

impl Default for ListLimits {
    fn default() -> Self {
        ListLimits::new(-2, DEFAULT_PACKED_THRESHOLD)
    }
}

/// Shrinks a buffer whose capacity exceeds its contents by more than an
/// eighth (allocator size classes are about that far apart).
pub(crate) fn shrink_if_slack(p: &mut PackedVec) {
    let used = p.encoded_bytes();
    let held = p.heap_bytes().saturating_sub(16);
    if held > used + used / 8 {
        p.shrink_to_fit();
    }
}

/// Removes up to `limit` (0: all) elements equal to `value` from one
/// packed buffer, scanning from `from`. Returns how many were removed.
pub(crate) fn remove_in_packed(p: &mut PackedVec, value: &[u8], limit: usize, from: End) -> usize {
    let mut hits: Vec<usize> = p.iter().enumerate().filter(|(_, v)| *v == value).map(|(i, _)| i).collect();
    if limit > 0 && hits.len() > limit {
        match from {
            End::Head => hits.truncate(limit),
            End::Tail => {
                hits.drain(..hits.len() - limit);
            }
        }
    }
    if hits.is_empty() {
        return 0;
    }
    let mut next_hit = hits.iter().peekable();
    let kept: PackedVec = p
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            if next_hit.peek() == Some(&i) {
                next_hit.next();
                false
            } else {
                true
            }
        })
        .map(|(_, v)| v)
        .collect();
    *p = kept;
    hits.len()
}

