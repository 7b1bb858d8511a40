//! A byte-bounded staging buffer for batch publishes.
//!
//! A batch through a shared claim must be in hand before it is claimed
//! (nothing may run between claim and publish), so it is staged here: a
//! fixed number of bytes on the stack, never a fixed number of values, so
//! the stack a batch costs does not grow with the size of its values.
//! Publishing swaps each staged value with its slot's old one, so the same
//! buffer then holds the old values until they are dropped.

use std::mem::{self, MaybeUninit};
use std::ptr;

/// Values staged inline (on the stack) for one [`Ring::try_push_batch`](super::Ring::try_push_batch): at
/// most [`CAPACITY`](Self::CAPACITY) of them, as many as fit in `BYTES`
/// bytes, so staging costs `BYTES` of stack whatever the size of `T`, and
/// nothing is allocated. Values larger than `BYTES` do not fit at all
/// (`CAPACITY == 0`): those are pushed one at a time.
///
/// Its values are the caller's until a push takes them; after a push it is
/// empty again and can stage the next run.
pub(crate) struct Staging<T, const BYTES: usize> {
    /// Invariant: `head <= len <= CAPACITY`, and exactly the places
    /// `head..len` hold initialised values (those before `head` were moved
    /// out). Outside [`Ring::try_push_batch`](super::Ring::try_push_batch) and iteration, `head == 0`.
    pub(super) head: usize,
    pub(super) len: usize,
    buf: Inline<T, BYTES>,
}

/// `BYTES` bytes aligned for `T`.
#[repr(C)]
struct Inline<T, const BYTES: usize> {
    /// Zero-sized: gives the buffer `T`'s alignment, so place `i` starts at
    /// byte `i * size_of::<T>()`, aligned for `T`.
    align: [T; 0],
    bytes: MaybeUninit<[u8; BYTES]>,
}

impl<T, const BYTES: usize> Staging<T, BYTES> {
    /// How many values fit: `BYTES / size_of::<T>()` (unbounded for a
    /// zero-sized `T`).
    pub(crate) const CAPACITY: usize = match mem::size_of::<T>() {
        0 => usize::MAX,
        size => BYTES / size,
    };

    /// An empty buffer (left uninitialised: nothing is written until a value
    /// is staged).
    #[inline]
    pub(crate) fn new() -> Self {
        Staging {
            head: 0,
            len: 0,
            buf: Inline {
                align: [],
                bytes: MaybeUninit::uninit(),
            },
        }
    }

    /// Values staged.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len - self.head
    }

    /// Whether nothing is staged.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == self.len
    }

    /// Stages `value` after the others.
    ///
    /// # Panics
    ///
    /// If `CAPACITY` values are staged already.
    #[inline]
    pub(crate) fn push(&mut self, value: T) {
        assert!(self.len < Self::CAPACITY, "staging buffer full");
        let place = self.slot(self.len);
        // SAFETY: `len < CAPACITY`, so the place is inside the buffer and,
        // at or past `len`, holds no value (the `head..len` invariant).
        unsafe { place.write(value) };
        self.len += 1;
    }

    /// Drops every staged value.
    pub(crate) fn clear(&mut self) {
        let (head, len) = (self.head, self.len);
        // Empty first, so that nothing is dropped twice if a `Drop` panics
        // (the slice's drop glue still drops the others).
        self.head = 0;
        self.len = 0;
        let live = ptr::slice_from_raw_parts_mut(self.slot(head), len - head);
        // SAFETY: `head..len` held exactly the initialised values, and the
        // buffer no longer counts them, so each is dropped once.
        unsafe { ptr::drop_in_place(live) };
    }

    /// Place `i` of the buffer, `i <= CAPACITY` (one past the end allowed).
    #[inline(always)]
    pub(super) fn slot(&mut self, i: usize) -> *mut T {
        debug_assert!(i <= Self::CAPACITY);
        let base = self.buf.bytes.as_mut_ptr().cast::<T>();
        // SAFETY: `i <= CAPACITY = BYTES / size_of::<T>()`, so the offset
        // `i * size_of::<T>()` is at most `BYTES`: inside the buffer or one
        // past its end (zero for a zero-sized `T`).
        unsafe { base.add(i) }
    }
}

impl<T, const BYTES: usize> Iterator for Staging<T, BYTES> {
    type Item = T;

    /// Takes the values out, in order.
    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.head == self.len {
            // Emptied: ready to stage the next run from the start.
            self.head = 0;
            self.len = 0;
            return None;
        }
        let place = self.slot(self.head);
        self.head += 1;
        // SAFETY: the place was in `head..len`, so it is initialised, and
        // `head` now excludes it, so it is not read or dropped again.
        Some(unsafe { place.read() })
    }
}

impl<T, const BYTES: usize> Drop for Staging<T, BYTES> {
    fn drop(&mut self) {
        self.clear();
    }
}
