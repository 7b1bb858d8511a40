//! The one place that swaps std's atomics and cells for loom's.
//!
//! Only the ring (the unsafe core) goes through this shim; `RUSTFLAGS="--cfg veltrix_loom"`
//! builds the ring against loom so its model tests explore every interleaving.
//! `UnsafeCell` exposes loom's closure API (`with`, `with_mut`) in both builds,
//! so the ring's code is the same text either way.

#[cfg(veltrix_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(veltrix_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(veltrix_loom)]
pub(crate) use loom::thread::yield_now;

#[cfg(not(veltrix_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(veltrix_loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(veltrix_loom))]
pub(crate) use std::thread::yield_now;

/// `UnsafeCell` with loom's access API.
#[cfg(veltrix_loom)]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

#[cfg(veltrix_loom)]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::cell::UnsafeCell::new(value))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        self.0.with(f)
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.0.with_mut(f)
    }
}

/// `UnsafeCell` with loom's access API.
#[cfg(not(veltrix_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(veltrix_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
