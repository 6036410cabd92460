//! `ByteBuf`: a growable byte buffer behind one thin pointer.
//!
//! The buffer is a single allocation: an 8-byte header (length and capacity
//! as u32) followed by the bytes; an empty buffer allocates nothing. It is
//! what raw strings, packed collections, intsets, stream nodes and
//! HyperLogLogs are made of, so it keeps both the per-value overhead (8
//! bytes of pointer, 8 of header) and the cost of copying bytes in
//! (`memcpy`, never byte by byte) low.

use std::alloc::{self, Layout};
use std::ops::{Deref, DerefMut, RangeBounds};
use std::ptr::NonNull;

#[repr(C)]
struct Header {
    len: u32,
    cap: u32,
}

const HEADER: usize = std::mem::size_of::<Header>();
/// Largest number of bytes a buffer can hold.
pub const MAX_BYTES: usize = u32::MAX as usize - HEADER;

pub struct ByteBuf {
    ptr: Option<NonNull<Header>>,
}

// SAFETY: a ByteBuf owns its allocation exclusively, like a Vec<u8>.
unsafe impl Send for ByteBuf {}
unsafe impl Sync for ByteBuf {}

fn layout(cap: usize) -> Layout {
    Layout::from_size_align(HEADER + cap, std::mem::align_of::<Header>()).expect("buffer too large")
}

impl ByteBuf {
    pub const fn new() -> ByteBuf {
        ByteBuf { ptr: None }
    }

    pub fn with_capacity(cap: usize) -> ByteBuf {
        let mut b = ByteBuf::new();
        b.reserve_exact(cap);
        b
    }

    pub fn from_slice(bytes: &[u8]) -> ByteBuf {
        let mut b = ByteBuf::with_capacity(bytes.len());
        b.extend_from_slice(bytes);
        b
    }

    /// Starts loading the buffer's header and first bytes.
    #[inline]
    pub fn prefetch(&self) {
        if let Some(p) = self.ptr {
            crate::prefetch::read(p.as_ptr());
        }
    }

    fn header(&self) -> Option<&Header> {
        // SAFETY: the pointer, when present, is a live allocation.
        self.ptr.map(|p| unsafe { &*p.as_ptr() })
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.header().map_or(0, |h| h.len as usize)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn capacity(&self) -> usize {
        self.header().map_or(0, |h| h.cap as usize)
    }

    /// Heap bytes held (header included).
    pub fn allocated_bytes(&self) -> usize {
        if self.ptr.is_some() {
            HEADER + self.capacity()
        } else {
            0
        }
    }

    fn data_ptr(&self) -> *mut u8 {
        match self.ptr {
            // SAFETY: the data starts right after the header.
            Some(p) => unsafe { (p.as_ptr() as *mut u8).add(HEADER) },
            None => NonNull::dangling().as_ptr(),
        }
    }

    /// Sets the length. SAFETY: `len <= capacity` and bytes up to `len` initialised.
    unsafe fn set_len(&mut self, len: usize) {
        if let Some(p) = self.ptr {
            (*p.as_ptr()).len = len as u32;
        } else {
            debug_assert_eq!(len, 0);
        }
    }

    /// Makes room for `additional` more bytes, growing geometrically.
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len().checked_add(additional).expect("buffer length overflow");
        if needed <= self.capacity() {
            return;
        }
        let target = needed.max(self.capacity().saturating_mul(2)).max(8).min(MAX_BYTES);
        self.grow_to(target.max(needed));
    }

    /// Makes room for exactly `additional` more bytes.
    pub fn reserve_exact(&mut self, additional: usize) {
        let needed = self.len().checked_add(additional).expect("buffer length overflow");
        if needed > self.capacity() {
            self.grow_to(needed);
        }
    }

    fn grow_to(&mut self, cap: usize) {
        assert!(cap <= MAX_BYTES, "buffer larger than {MAX_BYTES} bytes");
        let new_layout = layout(cap);
        // SAFETY: allocation sizes come from `layout`; the old block (if
        // any) was allocated with the layout of its recorded capacity.
        let raw = unsafe {
            match self.ptr {
                None => alloc::alloc(new_layout),
                Some(p) => alloc::realloc(p.as_ptr() as *mut u8, layout(self.capacity()), new_layout.size()),
            }
        };
        let Some(p) = NonNull::new(raw as *mut Header) else { alloc::handle_alloc_error(new_layout) };
        if self.ptr.is_none() {
            // SAFETY: fresh block: initialise the header.
            unsafe { p.as_ptr().write(Header { len: 0, cap: 0 }) };
        }
        // SAFETY: p is the live block.
        unsafe { (*p.as_ptr()).cap = cap as u32 };
        self.ptr = Some(p);
    }

    pub fn push(&mut self, byte: u8) {
        self.reserve(1);
        let len = self.len();
        // SAFETY: capacity > len after reserve.
        unsafe {
            self.data_ptr().add(len).write(byte);
            self.set_len(len + 1);
        }
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.reserve(bytes.len());
        let len = self.len();
        // SAFETY: room reserved; the source cannot overlap our spare capacity.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data_ptr().add(len), bytes.len());
            self.set_len(len + bytes.len());
        }
    }

    /// Inserts `bytes` at `at`, moving what follows.
    pub fn insert_slice(&mut self, at: usize, bytes: &[u8]) {
        let len = self.len();
        assert!(at <= len, "insert position beyond length");
        self.reserve(bytes.len());
        // SAFETY: room reserved; the tail moves with memmove first.
        unsafe {
            let base = self.data_ptr();
            std::ptr::copy(base.add(at), base.add(at + bytes.len()), len - at);
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(at), bytes.len());
            self.set_len(len + bytes.len());
        }
    }

    /// Resizes to `new_len`, filling with `value`.
    pub fn resize(&mut self, new_len: usize, value: u8) {
        let len = self.len();
        if new_len <= len {
            self.truncate(new_len);
            return;
        }
        self.reserve(new_len - len);
        // SAFETY: room reserved for the new bytes.
        unsafe {
            std::ptr::write_bytes(self.data_ptr().add(len), value, new_len - len);
            self.set_len(new_len);
        }
    }

    pub fn truncate(&mut self, new_len: usize) {
        if new_len < self.len() {
            // SAFETY: shrinking the initialised prefix.
            unsafe { self.set_len(new_len) };
        }
    }

    /// Removes and returns the byte at `at`.
    pub fn remove(&mut self, at: usize) -> u8 {
        let byte = self.as_slice()[at];
        self.drain(at..=at);
        byte
    }

    /// Removes the bytes in `range`, moving what follows.
    pub fn drain<R: RangeBounds<usize>>(&mut self, range: R) {
        let len = self.len();
        let start = match range.start_bound() {
            std::ops::Bound::Included(&s) => s,
            std::ops::Bound::Excluded(&s) => s + 1,
            std::ops::Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            std::ops::Bound::Included(&e) => e + 1,
            std::ops::Bound::Excluded(&e) => e,
            std::ops::Bound::Unbounded => len,
        };
        assert!(start <= end && end <= len, "drain range out of bounds");
        // SAFETY: both ranges lie within the initialised bytes.
        unsafe {
            let base = self.data_ptr();
            std::ptr::copy(base.add(end), base.add(start), len - end);
            self.set_len(len - (end - start));
        }
    }

    /// Frees the allocation (the buffer becomes empty).
    pub fn clear(&mut self) {
        *self = ByteBuf::new();
    }

    /// Releases unused capacity (an empty buffer frees everything).
    pub fn shrink_to_fit(&mut self) {
        let len = self.len();
        if len == 0 {
            self.clear();
        } else if len < self.capacity() {
            let p = self.ptr.expect("non-empty buffer has a block");
            // SAFETY: shrinking a live block allocated with its capacity's layout.
            let raw = unsafe { alloc::realloc(p.as_ptr() as *mut u8, layout(self.capacity()), layout(len).size()) };
            let Some(p) = NonNull::new(raw as *mut Header) else { alloc::handle_alloc_error(layout(len)) };
            // SAFETY: p is the live block.
            unsafe { (*p.as_ptr()).cap = len as u32 };
            self.ptr = Some(p);
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes are initialised (dangling + 0 when empty).
        unsafe { std::slice::from_raw_parts(self.data_ptr(), self.len()) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, uniquely borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.data_ptr(), self.len()) }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }
}

impl Drop for ByteBuf {
    fn drop(&mut self) {
        if let Some(p) = self.ptr {
            // SAFETY: the block was allocated with the layout of its capacity.
            unsafe { alloc::dealloc(p.as_ptr() as *mut u8, layout(self.capacity())) };
        }
    }
}

impl Default for ByteBuf {
    fn default() -> Self {
        ByteBuf::new()
    }
}

impl Clone for ByteBuf {
    fn clone(&self) -> Self {
        ByteBuf::from_slice(self.as_slice())
    }
}

impl Deref for ByteBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for ByteBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl PartialEq for ByteBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for ByteBuf {}

impl std::fmt::Debug for ByteBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ByteBuf({:?})", String::from_utf8_lossy(self.as_slice()))
    }
}

impl From<&[u8]> for ByteBuf {
    fn from(bytes: &[u8]) -> Self {
        ByteBuf::from_slice(bytes)
    }
}

impl From<Vec<u8>> for ByteBuf {
    fn from(bytes: Vec<u8>) -> Self {
        ByteBuf::from_slice(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_vec() {
        let mut b = ByteBuf::new();
        let mut model: Vec<u8> = Vec::new();
        assert_eq!(std::mem::size_of::<ByteBuf>(), 8);
        assert_eq!(b.allocated_bytes(), 0);
        let mut seed = 3u64;
        for step in 0..5000u32 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let n = (seed >> 50) as usize % 40;
            let data: Vec<u8> = (0..n).map(|i| (i as u32 + step) as u8).collect();
            match (seed >> 33) % 7 {
                0 => {
                    b.extend_from_slice(&data);
                    model.extend_from_slice(&data);
                }
                1 => {
                    b.push(step as u8);
                    model.push(step as u8);
                }
                2 => {
                    let at = if model.is_empty() { 0 } else { (seed as usize) % (model.len() + 1) };
                    b.insert_slice(at, &data);
                    model.splice(at..at, data.iter().copied());
                }
                3 if !model.is_empty() => {
                    let start = (seed as usize) % model.len();
                    let end = (start + n).min(model.len());
                    b.drain(start..end);
                    model.drain(start..end);
                }
                4 => {
                    let new_len = (seed as usize >> 7) % 300;
                    b.resize(new_len, 7);
                    model.resize(new_len, 7);
                }
                5 => {
                    b.shrink_to_fit();
                    assert_eq!(b.capacity(), model.len());
                }
                _ => {
                    let keep = model.len() / 2;
                    b.truncate(keep);
                    model.truncate(keep);
                }
            }
            assert_eq!(b.as_slice(), model.as_slice(), "step {step}");
        }
        let copy = b.clone();
        assert_eq!(copy, b);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.allocated_bytes(), 0);
    }
}
