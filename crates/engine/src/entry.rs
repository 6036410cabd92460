//! One key and its value in a single heap block.
//!
//! The block is a fixed header (value, expiry, access clock, key length)
//! followed by the key bytes, reached through a thin pointer: the keyspace
//! table stores 8 bytes per key plus its hash, and a key costs one
//! allocation. Blocks never move while they are in a table, which lets the
//! expiry index refer to them by address.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use shoal_types::{TableItem, Value};

/// Milliseconds since the Unix epoch; 0 means "no expiry".
pub type ExpireAt = i64;
pub const NO_EXPIRE: ExpireAt = 0;

#[repr(C)]
struct Header {
    value: Value,
    expire_at: ExpireAt,
    /// LRU clock (seconds) or LFU data, as the eviction policy wants.
    access: u32,
    key_len: u32,
}

/// Owner of one key block.
pub struct Entry {
    ptr: NonNull<Header>,
}

// SAFETY: an Entry owns its block exclusively, like a Box.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

fn layout_for(key_len: usize) -> Layout {
    Layout::from_size_align(std::mem::size_of::<Header>() + key_len, std::mem::align_of::<Header>())
        .expect("key too large for a layout")
}

impl Entry {
    /// Allocates a block holding `key` and `value`.
    pub fn new(key: &[u8], value: Value, expire_at: ExpireAt, access: u32) -> Entry {
        let key_len = u32::try_from(key.len()).expect("keys are limited by proto-max-bulk-len");
        let layout = layout_for(key.len());
        // SAFETY: the layout has non-zero size (the header is not empty).
        let raw = unsafe { alloc::alloc(layout) } as *mut Header;
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
        // SAFETY: freshly allocated with room for the header and the key.
        unsafe {
            ptr.as_ptr().write(Header { value, expire_at, access, key_len });
            let key_dst = (ptr.as_ptr() as *mut u8).add(std::mem::size_of::<Header>());
            std::ptr::copy_nonoverlapping(key.as_ptr(), key_dst, key.len());
        }
        Entry { ptr }
    }

    fn header(&self) -> &Header {
        // SAFETY: the block is alive while self is.
        unsafe { self.ptr.as_ref() }
    }

    fn header_mut(&mut self) -> &mut Header {
        // SAFETY: the block is alive and uniquely owned.
        unsafe { self.ptr.as_mut() }
    }

    pub fn key(&self) -> &[u8] {
        let len = self.header().key_len as usize;
        // SAFETY: the key bytes follow the header inside the same block.
        unsafe {
            let start = (self.ptr.as_ptr() as *const u8).add(std::mem::size_of::<Header>());
            std::slice::from_raw_parts(start, len)
        }
    }

    pub fn value(&self) -> &Value {
        &self.header().value
    }

    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.header_mut().value
    }

    /// Replaces the value, returning the old one.
    pub fn replace_value(&mut self, value: Value) -> Value {
        std::mem::replace(&mut self.header_mut().value, value)
    }

    pub fn expire_at(&self) -> ExpireAt {
        self.header().expire_at
    }

    /// Sets the expiry field only; `Db` keeps the expiry index in step.
    pub(crate) fn set_expire_at(&mut self, when: ExpireAt) {
        self.header_mut().expire_at = when;
    }

    pub fn has_expire(&self) -> bool {
        self.expire_at() != NO_EXPIRE
    }

    /// True when the key has an expiry time earlier than `now_ms`.
    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        let when = self.expire_at();
        when != NO_EXPIRE && now_ms > when
    }

    pub fn access(&self) -> u32 {
        self.header().access
    }

    pub fn set_access(&mut self, access: u32) {
        self.header_mut().access = access;
    }

    /// Address of the block, stable while the entry lives.
    pub(crate) fn address(&self) -> NonNull<u8> {
        self.ptr.cast()
    }

    /// Bytes of the block itself (header and key).
    pub fn block_bytes(&self) -> usize {
        layout_for(self.key().len()).size()
    }

    /// Splits the entry into its value (the block is freed).
    pub fn into_value(self) -> Value {
        let layout = layout_for(self.key().len());
        let ptr = self.ptr;
        std::mem::forget(self);
        // SAFETY: we own the block; the value is moved out before freeing.
        unsafe {
            let value = std::ptr::read(&(*ptr.as_ptr()).value);
            alloc::dealloc(ptr.as_ptr() as *mut u8, layout);
            value
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let layout = layout_for(self.key().len());
        // SAFETY: the block is alive and owned; drop the value then free it.
        unsafe {
            std::ptr::drop_in_place(&mut (*self.ptr.as_ptr()).value);
            alloc::dealloc(self.ptr.as_ptr() as *mut u8, layout);
        }
    }
}

impl TableItem for Entry {
    #[inline]
    fn key_bytes(&self) -> &[u8] {
        self.key()
    }
}

/// A non-owning reference to an entry block, kept in the expiry index.
#[derive(Clone, Copy)]
pub(crate) struct EntryRef(NonNull<Header>);

// SAFETY: only dereferenced under the owning shard's lock.
unsafe impl Send for EntryRef {}
unsafe impl Sync for EntryRef {}

impl EntryRef {
    pub(crate) fn to(entry: &Entry) -> EntryRef {
        EntryRef(entry.ptr)
    }

    pub(crate) fn address(&self) -> NonNull<u8> {
        self.0.cast()
    }

    /// SAFETY: the caller guarantees the entry is still in its table.
    pub(crate) unsafe fn key<'a>(&self) -> &'a [u8] {
        let header = self.0.as_ref();
        let start = (self.0.as_ptr() as *const u8).add(std::mem::size_of::<Header>());
        std::slice::from_raw_parts(start, header.key_len as usize)
    }

    /// SAFETY: as for `key`.
    pub(crate) unsafe fn expire_at(&self) -> ExpireAt {
        self.0.as_ref().expire_at
    }
}

impl TableItem for EntryRef {
    fn key_bytes(&self) -> &[u8] {
        // SAFETY: the expiry index only holds entries present in the main
        // table (Db maintains this), and is only used under the shard lock.
        unsafe { self.key() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_holds_key_and_value() {
        let mut e = Entry::new(b"key:1", Value::string(b"hello"), NO_EXPIRE, 7);
        assert_eq!(e.key(), b"key:1");
        assert_eq!(e.value().string_to_vec().unwrap(), b"hello");
        assert!(!e.has_expire());
        e.set_expire_at(1000);
        assert!(e.is_expired(1001));
        assert!(!e.is_expired(1000));
        let old = e.replace_value(Value::Int(5));
        assert_eq!(old.string_to_vec().unwrap(), b"hello");
        assert_eq!(e.access(), 7);
        assert_eq!(e.into_value().as_i64(), Some(5));
        let empty = Entry::new(b"", Value::Int(1), NO_EXPIRE, 0);
        assert_eq!(empty.key(), b"");
    }
}
