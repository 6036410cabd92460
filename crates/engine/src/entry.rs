//! One key and its value in a single heap block.
//!
//! The block is a header (value, access clock, key length and layout
//! flag), then — only for keys that have ever had an expiry — an 8-byte
//! expiry time, then the key bytes. It is reached through a thin pointer:
//! the keyspace table stores 8 bytes per key plus its hash, and a key costs
//! one allocation; keys without a TTL do not pay for one.
//!
//! A block moves only when an expiry slot is added (`set_expire_at` on a key
//! that never had one); `Db` keeps the expiry index, which refers to blocks
//! by address, in step with that.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use shoal_types::{TableItem, Value};

/// Milliseconds since the Unix epoch; 0 means "no expiry".
pub type ExpireAt = i64;
pub const NO_EXPIRE: ExpireAt = 0;

/// Set in `key_len` when the block holds an expiry slot.
const EXPIRE_SLOT: u32 = 1 << 31;
/// Longest key a block can hold.
pub const MAX_KEY_BYTES: usize = (EXPIRE_SLOT - 1) as usize;

#[repr(C)]
struct Header {
    value: Value,
    /// LRU clock (seconds) or LFU data, as the eviction policy wants.
    access: u32,
    /// Key length, plus `EXPIRE_SLOT` when an expiry time follows the header.
    key_len: u32,
}

const HEADER: usize = std::mem::size_of::<Header>();
const EXPIRE_BYTES: usize = std::mem::size_of::<ExpireAt>();

/// Owner of one key block.
pub struct Entry {
    ptr: NonNull<Header>,
}

// SAFETY: an Entry owns its block exclusively, like a Box.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

fn layout_for(key_len: usize, with_expire: bool) -> Layout {
    let size = HEADER + if with_expire { EXPIRE_BYTES } else { 0 } + key_len;
    Layout::from_size_align(size, std::mem::align_of::<Header>()).expect("key too large for a layout")
}

/// Reads the parts of a block. SAFETY: `ptr` must point to a live block.
unsafe fn parts<'a>(ptr: NonNull<Header>) -> (&'a Header, Option<ExpireAt>, &'a [u8]) {
    let header = ptr.as_ref();
    let base = ptr.as_ptr() as *const u8;
    let with_expire = header.key_len & EXPIRE_SLOT != 0;
    let key_len = (header.key_len & !EXPIRE_SLOT) as usize;
    let expire = with_expire.then(|| std::ptr::read_unaligned(base.add(HEADER) as *const ExpireAt));
    let key_start = base.add(HEADER + if with_expire { EXPIRE_BYTES } else { 0 });
    (header, expire, std::slice::from_raw_parts(key_start, key_len))
}

impl Entry {
    /// Allocates a block holding `key` and `value`.
    pub fn new(key: &[u8], value: Value, expire_at: ExpireAt, access: u32) -> Entry {
        assert!(key.len() <= MAX_KEY_BYTES, "key longer than {MAX_KEY_BYTES} bytes");
        let with_expire = expire_at != NO_EXPIRE;
        let layout = layout_for(key.len(), with_expire);
        // SAFETY: the layout has non-zero size (the header is not empty).
        let raw = unsafe { alloc::alloc(layout) } as *mut Header;
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
        let key_len = key.len() as u32 | if with_expire { EXPIRE_SLOT } else { 0 };
        // SAFETY: freshly allocated with room for the header, expiry and key.
        unsafe {
            ptr.as_ptr().write(Header { value, access, key_len });
            let base = ptr.as_ptr() as *mut u8;
            let mut key_at = HEADER;
            if with_expire {
                std::ptr::write_unaligned(base.add(HEADER) as *mut ExpireAt, expire_at);
                key_at += EXPIRE_BYTES;
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), base.add(key_at), key.len());
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

    fn has_expire_slot(&self) -> bool {
        self.header().key_len & EXPIRE_SLOT != 0
    }

    fn key_len(&self) -> usize {
        (self.header().key_len & !EXPIRE_SLOT) as usize
    }

    fn layout(&self) -> Layout {
        layout_for(self.key_len(), self.has_expire_slot())
    }

    pub fn key(&self) -> &[u8] {
        // SAFETY: the block is alive while self is.
        unsafe { parts(self.ptr).2 }
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
        // SAFETY: the block is alive while self is.
        unsafe { parts(self.ptr).1.unwrap_or(NO_EXPIRE) }
    }

    /// Sets the expiry field only; `Db` keeps the expiry index in step.
    /// Giving an expiry to a block without a slot reallocates it (the
    /// entry's address changes).
    pub(crate) fn set_expire_at(&mut self, when: ExpireAt) {
        if !self.has_expire_slot() {
            if when == NO_EXPIRE {
                return;
            }
            self.add_expire_slot();
        }
        // SAFETY: the block has an expiry slot right after the header.
        unsafe { std::ptr::write_unaligned((self.ptr.as_ptr() as *mut u8).add(HEADER) as *mut ExpireAt, when) }
    }

    /// Grows the block by an expiry slot, moving the key bytes after it.
    fn add_expire_slot(&mut self) {
        let key_len = self.key_len();
        let old = layout_for(key_len, false);
        let new = layout_for(key_len, true);
        // SAFETY: the block was allocated with `old`; after growing, the key
        // moves up by the slot size (memmove handles the overlap).
        unsafe {
            let raw = alloc::realloc(self.ptr.as_ptr() as *mut u8, old, new.size());
            let Some(ptr) = NonNull::new(raw as *mut Header) else { alloc::handle_alloc_error(new) };
            std::ptr::copy(raw.add(HEADER), raw.add(HEADER + EXPIRE_BYTES), key_len);
            std::ptr::write_unaligned(raw.add(HEADER) as *mut ExpireAt, NO_EXPIRE);
            self.ptr = ptr;
        }
        self.header_mut().key_len |= EXPIRE_SLOT;
    }

    pub fn has_expire(&self) -> bool {
        self.expire_at() != NO_EXPIRE
    }

    /// Starts loading the block's header and the start of its key.
    #[inline]
    pub fn prefetch(&self) {
        let base = self.ptr.as_ptr() as *const u8;
        shoal_types::prefetch::read(base);
        shoal_types::prefetch::read(base.wrapping_add(HEADER + EXPIRE_BYTES));
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

    /// Address of the block, stable until an expiry slot is added.
    pub(crate) fn address(&self) -> NonNull<u8> {
        self.ptr.cast()
    }

    /// Bytes of the block itself (header, expiry slot and key).
    pub fn block_bytes(&self) -> usize {
        self.layout().size()
    }

    /// Splits the entry into its value (the block is freed).
    pub fn into_value(self) -> Value {
        let layout = self.layout();
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
        let layout = self.layout();
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
        parts(self.0).2
    }

    /// SAFETY: as for `key`.
    pub(crate) unsafe fn expire_at(&self) -> ExpireAt {
        parts(self.0).1.unwrap_or(NO_EXPIRE)
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
        assert_eq!(e.block_bytes(), HEADER + 5);
        e.set_expire_at(1000);
        assert_eq!(e.key(), b"key:1", "the key survives the move");
        assert_eq!(e.block_bytes(), HEADER + 8 + 5);
        assert!(e.is_expired(1001));
        assert!(!e.is_expired(1000));
        e.set_expire_at(NO_EXPIRE);
        assert!(!e.has_expire());
        let old = e.replace_value(Value::Int(5));
        assert_eq!(old.string_to_vec().unwrap(), b"hello");
        assert_eq!(e.access(), 7);
        assert_eq!(e.into_value().as_i64(), Some(5));
        let empty = Entry::new(b"", Value::Int(1), 42, 0);
        assert_eq!(empty.key(), b"");
        assert_eq!(empty.expire_at(), 42);
        assert_eq!(HEADER, 32);
    }
}
