//! Asymmetric memory barriers: a free [`light`] barrier for the hot side of a
//! handshake and an expensive [`heavy`] one for the side that is about to
//! sleep anyway.
//!
//! # Why
//!
//! Both wake-up handshakes of the ring are store-buffering patterns:
//!
//! | hot side (every event)                 | cold side (about to sleep)             |
//! | -------------------------------------- | -------------------------------------- |
//! | producer: store stamp; load `sleepers` | reader: `sleepers += 1`; load stamp    |
//! | reader: store cursor; load `blocked`   | producer: `blocked += 1`; load cursors |
//!
//! Each needs a full fence between its store and its load on *both* sides,
//! or both threads can miss each other's store (the hot side sees nobody
//! asleep, the cold side sees nothing new and sleeps: a lost wake-up). A
//! full fence on x86 is a locked instruction that waits for the store buffer
//! to drain, and on the hot side that buffer holds the writes to the very
//! cache lines the other core is reading: in a profile of the one-at-a-time
//! hand-off it was three quarters of the producer's time.
//!
//! An asymmetric barrier moves the whole cost to the cold side: [`heavy`]
//! makes every other running thread of the process execute a full barrier
//! (Linux `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, an IPI to the CPUs
//! running our threads, measured at 0.2–0.4 µs here), so [`light`] only has
//! to stop the compiler from reordering. This is the pairing folly calls
//! `asymmetricLightBarrier`/`asymmetricHeavyBarrier` and Linux RCU uses.
//!
//! # Guarantee
//!
//! If thread A runs `store X; light(); load Y` and thread B runs
//! `store Y; heavy(); load X`, at least one of the loads sees the other
//! thread's store — exactly as if both barriers were `fence(SeqCst)`.
//! (Proof sketch: `heavy` forces a barrier on A at some point P. If A's store
//! of X came before P, it is visible to B's load after `heavy` returns.
//! Otherwise A's load of Y comes after P, and B's store of Y was made
//! visible before P by the barrier `heavy` itself begins with. A thread not
//! running during `heavy` is covered by the barrier of its context switch.)
//!
//! Where `membarrier` is not available (not Linux, an old kernel, a seccomp
//! filter, Miri), both barriers are `fence(SeqCst)`: the same guarantee at
//! the old price. Under loom both are loom's `fence(SeqCst)`, which loom
//! models exactly, so the models check the handshakes as written.
//!
//! The choice is made once, by [`init`], before any ring exists; every thread
//! that uses a ring learned of the ring (and so of the choice) through a
//! synchronising operation, so it reads the same choice.

#[cfg(not(any(veltrix_loom, miri)))]
mod imp {
    use std::sync::atomic::{compiler_fence, fence, AtomicU8, Ordering};

    /// Not decided yet.
    const UNKNOWN: u8 = 0;
    /// `membarrier` registered: light is a compiler fence.
    const MEMBARRIER: u8 = 1;
    /// Both sides fence.
    const FENCES: u8 = 2;

    static STRATEGY: AtomicU8 = AtomicU8::new(UNKNOWN);

    #[cfg(target_os = "linux")]
    mod linux {
        /// `MEMBARRIER_CMD_QUERY` from `<linux/membarrier.h>`.
        const QUERY: libc::c_int = 0;
        /// `MEMBARRIER_CMD_PRIVATE_EXPEDITED`.
        const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        /// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`.
        const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

        fn membarrier(cmd: libc::c_int) -> libc::c_long {
            // SAFETY: `membarrier(cmd, flags = 0)` takes two integers and
            // touches no memory of ours; an unsupported command returns -1.
            unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_int) }
        }

        /// Registers the process for private expedited barriers; `true` if
        /// they can be used from now on.
        pub(super) fn register() -> bool {
            let supported = membarrier(QUERY);
            let needed = libc::c_long::from(PRIVATE_EXPEDITED | REGISTER_PRIVATE_EXPEDITED);
            supported >= 0
                && supported & needed == needed
                && membarrier(REGISTER_PRIVATE_EXPEDITED) == 0
        }

        /// One process-wide barrier; `false` if the kernel refused it.
        pub(super) fn barrier() -> bool {
            membarrier(PRIVATE_EXPEDITED) == 0
        }
    }

    /// Decides the strategy (once per process; later calls return at once).
    pub(crate) fn init() {
        if STRATEGY.load(Ordering::Acquire) != UNKNOWN {
            return;
        }
        #[cfg(target_os = "linux")]
        let chosen = if linux::register() {
            MEMBARRIER
        } else {
            FENCES
        };
        #[cfg(not(target_os = "linux"))]
        let chosen = FENCES;
        // Racing initialisers compute the same answer; the first one wins.
        let _ = STRATEGY.compare_exchange(UNKNOWN, chosen, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The hot side's barrier.
    #[inline(always)]
    pub(crate) fn light() {
        // Relaxed is enough: `init` ran before the ring this thread uses was
        // created, and the ring reached this thread through a synchronising
        // operation. Anything but MEMBARRIER (even UNKNOWN, which cannot
        // happen) takes the fence, which is sound with either heavy side.
        if STRATEGY.load(Ordering::Relaxed) == MEMBARRIER {
            compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }

    /// The cold side's barrier. Returns `false` if the kernel refused a
    /// barrier it had accepted at registration (never seen): the handshake
    /// then guarantees nothing, and the caller must not sleep for long.
    pub(crate) fn heavy() -> bool {
        fence(Ordering::SeqCst);
        #[cfg(target_os = "linux")]
        if STRATEGY.load(Ordering::Relaxed) == MEMBARRIER {
            return linux::barrier();
        }
        true
    }
}

#[cfg(any(veltrix_loom, miri))]
mod imp {
    #[cfg(veltrix_loom)]
    use loom::sync::atomic::{fence, Ordering};
    #[cfg(not(veltrix_loom))]
    use std::sync::atomic::{fence, Ordering};

    pub(crate) fn init() {}

    #[inline(always)]
    pub(crate) fn light() {
        fence(Ordering::SeqCst);
    }

    pub(crate) fn heavy() -> bool {
        fence(Ordering::SeqCst);
        true
    }
}

pub(crate) use imp::{heavy, init, light};
