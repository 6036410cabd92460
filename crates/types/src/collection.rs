//! The interface every collection type gives the keyspace.

/// What every collection type provides to the keyspace.
pub trait Collection {
    /// OBJECT ENCODING's name for the current encoding.
    fn encoding(&self) -> &'static str;
    /// Number of elements (empty collections are deleted, as in Redis).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A deep copy (COPY).
    fn duplicate(&self) -> Self
    where
        Self: Sized;
    /// Heap bytes held (memory reports).
    fn heap_bytes(&self) -> usize;
}

