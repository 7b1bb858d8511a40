//! The partition ring: a bounded, lock-free ring buffer read in place by one
//! cursor per listener group, written by any number of producers (one CAS
//! per claim) or by one exclusive producer (plain stores). This module and
//! its children hold all of veltrix's `unsafe` code.
//!
//! # Algorithm
//!
//! The LMAX Disruptor's sequencers (M. Thompson, D. Farley, M. Barker,
//! P. Gee, A. Stewart, *Disruptor: High performance alternative to bounded
//! queues for exchanging data between concurrent threads*, 2011;
//! `MultiProducerSequencer` and `SingleProducerSequencer` in the Java
//! sources):
//!
//! 1. **Claim.** A multi-producer ring moves the shared `claim` sequence
//!    forward by `n` with one CAS, after checking that the slowest reader has
//!    released every slot the claim would overwrite (`gating`, a cached
//!    lower bound of the slowest cursor, so the common case reads one mostly
//!    read-only line). A thread that has claimed alone for a while gets a
//!    [`lease`] and claims with a plain store until another claimer revokes
//!    it. A single-producer ring has no shared claim at all: its
//!    one [`SoleProducer`] (not `Clone`, made once per ring) counts sequences
//!    in a field of its own and caches the gating bound there too, so a
//!    claim is an addition and a compare.
//! 2. **Write and publish.** The producer writes its slot. Through a shared
//!    claim it then marks the slot available by storing `seq + 1` in the
//!    slot's `stamp` with `Release` (the Disruptor's `availableBuffer`, an
//!    array of its own beside the values): a reader reads a slot only after
//!    an `Acquire` load of its stamp returned exactly `seq + 1`, so it never
//!    sees a half-written slot, and it never reads the producers' claim word
//!    to find out. A sole producer publishes in order, so it needs no stamps:
//!    it stores its published count once per burst (`Release`) and readers
//!    read every slot below it. Slots hold the bare value: a `u64` event
//!    takes 8 bytes, 8 per cache line (publish times of the sampled
//!    sequences live beside the ring, in [`times`]).
//! 3. **Read.** Each reader (a listener group) owns one cursor: the next
//!    sequence it will read; every earlier slot is released. Readers borrow
//!    slots in place, so any number of groups read the same event and nothing
//!    is cloned. A reader scans the stamps of a batch, hands the batch out,
//!    then stores its cursor once, with `Release`.
//!
//! Waking a parked reader and a blocked producer uses asymmetric barriers
//! ([`barrier`]): the per-event side pays a compiler fence, the side about to
//! sleep pays a process-wide barrier. No locked instruction is left on the
//! single-producer path, and the multi-producer path keeps only its claim CAS.
//!
//! A value stays in its slot after it is read and is dropped when a producer
//! overwrites the slot one lap later or when the ring itself is dropped, so
//! every value is dropped exactly once. An overwrite moves the old value out
//! (into the place the new one came from), publishes the new one, and only
//! then drops the old one: no user code runs between a claim and its
//! publish. Every ring-held value is dropped in one place, `drop_held`,
//! which catches a panic of its `Drop` and counts it instead of letting it
//! unwind, so a panicking `Drop` neither wedges nor poisons a publish, nor
//! aborts the process from the ring's own `Drop`.
//!
//! # Staging
//!
//! Batches through a shared claim are staged in [`Staging`], a byte-bounded
//! buffer (see [`staging`] for why).
//!
//! # Where things are
//!
//! | file | what it holds |
//! | --- | --- |
//! | `mod.rs` | the ring's layout, construction, cursors and the hot side of both wake-up handshakes |
//! | [`shared`] | publishing through a shared claim (CAS, stamps, batches) |
//! | [`lease`] | a shared claim without the CAS while one thread publishes alone |
//! | [`sole`] | the single producer and its bursts |
//! | [`slot`] | moving a value into a slot and dropping ring-held values |
//! | [`reader`] | a group's cursor: draining batches in place |
//! | [`hold`] | a reader behind a streaming producer waiting for its partial line |
//! | [`stages`] | readers that trail other readers of the ring (pipelines, diamonds) |
//! | [`lapping`] | lossy readers, which producers lap instead of waiting for |
//! | [`spare`] | spare cursor slots, for groups that join and leave a running ring |
//! | [`seal`] | closing a ring and handing back what no reader took |
//! | [`room`] | a producer waiting for room |
//! | [`wake`], [`barrier`] | the park protocol and its asymmetric barriers |
//! | `waits_for`, [`drivers`] | the deadlock check of blocking producers |
//! | [`times`], [`prefetch`], [`staging`], [`tasks`] | sampled publish times, cache hints, batch staging, async reader wake-ups |

mod barrier;
mod drivers;
mod hold;
mod lapping;
mod lease;
mod prefetch;
mod reader;
mod room;
mod seal;
mod shared;
mod slot;
mod sole;
mod spare;
mod stages;
mod staging;
mod tasks;
mod times;
#[cfg(not(veltrix_loom))]
mod waits_for;
mod wake;

#[cfg(all(test, veltrix_loom))]
mod loom_hold;
#[cfg(all(test, veltrix_loom))]
mod loom_lapping;
#[cfg(all(test, veltrix_loom))]
mod loom_lease;
#[cfg(all(test, veltrix_loom))]
mod loom_sole;
#[cfg(all(test, veltrix_loom))]
mod loom_spare;
#[cfg(all(test, veltrix_loom))]
mod loom_stages;
#[cfg(all(test, veltrix_loom))]
mod loom_tests;
#[cfg(all(test, not(veltrix_loom)))]
mod tests;

pub(crate) use reader::Reader;
pub(crate) use room::Waited;
pub(crate) use sole::{Burst, Bursts, SoleProducer};
pub(crate) use spare::AttachRefused;
pub use spare::StartAt;
pub(crate) use staging::Staging;
pub(crate) use tasks::wake_reader_tasks;
#[cfg(feature = "async")]
pub(crate) use tasks::{cancel_reader_task, register_reader_task, task_key, TaskKey};
#[cfg(not(veltrix_loom))]
pub(crate) use waits_for::{thread_token, FROM_HOST};
#[cfg(feature = "async")]
pub(crate) use wake::PARK_UNPROVEN;
pub(crate) use wake::{park, register_reader, unregister_reader};

use std::mem::{self, MaybeUninit};

use crossbeam_utils::CachePadded;

use crate::loom::{Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering, UnsafeCell};
use lapping::{Lapping, READING};
use seal::{Seal, OPEN};
use stages::Stages;
use times::Times;
use wake::{ProducerGate, ReaderWake};

/// Bit of `claim` that marks a multi-producer ring closed (and that a
/// single-producer ring carries from the start, so no shared claim can ever
/// succeed on it).
const CLOSED: u64 = 1 << 63;

/// Why a push did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// Every slot holds an event some reader has not released yet.
    Full,
    /// The ring was closed; nothing more is accepted.
    Closed,
}

/// The slots could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllocError {
    /// Bytes the slot array would have needed (saturated on overflow).
    pub(crate) bytes: u128,
}

/// Why [`Ring::push_from`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused<F> {
    /// The ring was closed; nothing more is accepted.
    Closed,
    /// The ring was full and the `on_full` callback said not to wait.
    Full(F),
}

/// Who may claim sequences of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimers {
    /// Any thread, through [`Ring::push_from`] (one CAS per claim).
    Shared,
    /// Only the ring's one [`SoleProducer`].
    Sole,
}

/// What a ring knows of one of its readers, fixed at creation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReaderSpec {
    /// The readers it trails (see [`stages`]): it sees a sequence only
    /// after each of them released it.
    pub(crate) after: Vec<usize>,
    /// `Some(n)`: lossy (see [`lapping`]), skipping ahead when more than
    /// `n >= 1` events behind; producers lap it instead of waiting for it.
    pub(crate) lossy: Option<u64>,
    /// A spare slot (see [`spare`]): detached until a group attaches to it
    /// on the running ring, and again once that group's reader is dropped.
    /// No reader is made for it at creation; `after` and `lossy` must be
    /// empty.
    pub(crate) spare: bool,
}

/// The place of one value in the ring.
type Cell<T> = UnsafeCell<MaybeUninit<T>>;

/// A ring's slots and mask, borrowed for a loop (see [`Ring::slots`]).
/// Made only by `Ring::slots`, so `values.len() == mask + 1`.
struct Slots<'a, T> {
    values: &'a [Cell<T>],
    mask: u64,
}

impl<T> Clone for Slots<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Slots<'_, T> {}

impl<'a, T> Slots<'a, T> {
    /// The place of `seq`'s value.
    #[inline(always)]
    fn cell(self, seq: u64) -> &'a Cell<T> {
        let index = (seq & self.mask) as usize;
        debug_assert!(index < self.values.len());
        // SAFETY: `Ring::slots`, the only maker, copies `mask = capacity - 1`
        // and `values` with `values.len() == capacity` (both set once in
        // `Ring::new`), so `seq & mask` is in bounds. This is on every
        // per-event path (write, read): the bounds check is not.
        unsafe { self.values.get_unchecked(index) }
    }
}

/// What only a sole producer writes and its readers poll.
struct SoleState {
    /// Sequences published so far, stored once per burst: the readers'
    /// cursor into the ring (the Disruptor's producer cursor).
    published: AtomicU64,
}

/// A bounded ring read by a fixed set of cursors.
pub(crate) struct Ring<T> {
    /// Shared claims: next sequence to claim, with [`CLOSED`] in bit 63.
    /// Every sequence below `claim & !CLOSED` has been claimed by exactly one
    /// producer, which publishes it without running any user code in between.
    /// Sole claims: always `CLOSED`.
    claim: CachePadded<AtomicU64>,
    /// Sole claims: the producer's count, which readers poll.
    sole: CachePadded<SoleState>,
    /// Shared claims: a cached lower bound of `min(cursors)`, never above the
    /// true minimum, because cursors only grow.
    gating: CachePadded<AtomicU64>,
    seal: CachePadded<Seal>,
    /// One cursor per reader: the next sequence that reader will read. Only
    /// the [`Reader`] with that index stores to it.
    cursors: Box<[CachePadded<AtomicU64>]>,
    /// Which cursors trail which (stage dependencies), fixed at creation.
    stages: Stages,
    /// Which cursors producers may lap (lossy readers), and by how much
    /// they did.
    lapping: Lapping,
    /// `capacity` values; `capacity` is a power of two, `mask = capacity - 1`.
    ///
    /// Which values are initialised: through shared claims, exactly those
    /// whose stamp is not 0; through a sole producer, those of the last
    /// `capacity` sequences below its published count, except the ones
    /// from `seal.taken` on.
    values: Box<[Cell<T>]>,
    /// Shared claims: one per value, `seq + 1` of the value last published
    /// there, 0 while it holds none. Sole claims: empty.
    stamps: Box<[AtomicU64]>,
    /// Publish times of the sampled sequences.
    times: Times,
    capacity: u64,
    mask: u64,
    claimers: Claimers,
    /// The thread draining each cursor ([`waits_for::thread_token`]): its
    /// worker, or the thread inside a poll of its group or, between polls,
    /// the one that polled last; 0 while none has (see [`waits_for`]). For
    /// the deadlock check of blocking producers: written when a worker
    /// starts or stops and when a poll begins, read only on the blocking
    /// path.
    drivers: Box<[std::sync::atomic::AtomicU64]>,
    /// Parked readers to wake after a publish.
    pub(crate) wake: ReaderWake,
    /// Blocked producers to wake after a release.
    pub(crate) gate: ProducerGate,
    /// Shared claims: the claim lease of a thread publishing alone.
    lease: lease::Lease,
}

// SAFETY: values are written by one producer thread and then read by shared
// reference from several reader threads at once (one per group), and finally
// dropped on whichever thread overwrites the slot or drops the ring. That is
// sound exactly when `T` may move between threads (`Send`) and be shared
// between them (`Sync`). All other state is atomics or locks.
unsafe impl<T: Send + Sync> Sync for Ring<T> {}
// SAFETY: as above; a ring owns its values, so sending it sends them.
unsafe impl<T: Send + Sync> Send for Ring<T> {}

/// A new ring with its readers and, for [`Claimers::Sole`], its producer.
pub(crate) type NewRing<T> = (Arc<Ring<T>>, Vec<Reader<T>>, Option<SoleProducer<T>>);

impl<T> Ring<T> {
    /// Allocates a ring of `capacity` slots (a power of two, at least 1) read
    /// by `readers` cursors (at least one), keeping a publish time for the
    /// sequences with `seq & mask == 0` if `sampled` is `Some(mask)` (`mask +
    /// 1` a power of two), and returns it with one [`Reader`] per cursor, in
    /// the same order, and its one [`SoleProducer`] if `claimers` is
    /// [`Claimers::Sole`].
    #[cfg(test)]
    pub(crate) fn new(
        capacity: usize,
        readers: usize,
        claimers: Claimers,
        sampled: Option<u64>,
    ) -> Result<NewRing<T>, AllocError> {
        let specs = vec![ReaderSpec::default(); readers];
        Self::with_readers(capacity, &specs, claimers, sampled)
    }

    /// As [`new`](Self::new), with one reader per spec, in order: trailing
    /// others (stage dependencies) or lossy as its spec says.
    pub(crate) fn with_readers(
        capacity: usize,
        specs: &[ReaderSpec],
        claimers: Claimers,
        sampled: Option<u64>,
    ) -> Result<NewRing<T>, AllocError> {
        let readers = specs.len();
        assert!(
            capacity.is_power_of_two(),
            "ring capacity must be a power of two"
        );
        assert!(readers > 0, "a ring needs at least one reader");
        barrier::init();
        let bytes = Self::footprint(capacity, readers, claimers);
        let stamped = match claimers {
            Claimers::Shared => capacity,
            Claimers::Sole => 0,
        };
        let mut values = Vec::new();
        let mut stamps = Vec::new();
        if values.try_reserve_exact(capacity).is_err() || stamps.try_reserve_exact(stamped).is_err()
        {
            return Err(AllocError { bytes });
        }
        values.extend((0..capacity).map(|_| UnsafeCell::new(MaybeUninit::uninit())));
        stamps.extend((0..stamped).map(|_| AtomicU64::new(0)));
        let ring = Arc::new(Ring {
            claim: CachePadded::new(AtomicU64::new(match claimers {
                Claimers::Shared => 0,
                Claimers::Sole => CLOSED,
            })),
            sole: CachePadded::new(SoleState {
                published: AtomicU64::new(0),
            }),
            gating: CachePadded::new(AtomicU64::new(0)),
            seal: CachePadded::new(Seal {
                closing: AtomicBool::new(false),
                busy: AtomicBool::new(false),
                end: AtomicU64::new(OPEN),
                drop_panics: AtomicU64::new(0),
                taken: AtomicU64::new(OPEN),
                // Spare slots have no reader until one attaches.
                readers: AtomicUsize::new(specs.iter().filter(|s| !s.spare).count()),
            }),
            cursors: (0..readers)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            stages: Stages::new(specs.iter().map(|s| s.after.clone()).collect()),
            lapping: Lapping::new(specs),
            values: values.into_boxed_slice(),
            stamps: stamps.into_boxed_slice(),
            times: Times::new(capacity as u64, sampled),
            capacity: capacity as u64,
            mask: capacity as u64 - 1,
            claimers,
            drivers: (0..readers)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            wake: ReaderWake::new(),
            gate: ProducerGate::new(),
            lease: lease::Lease::new(),
        });
        let readers = (0..readers)
            .filter(|&index| !specs[index].spare)
            .map(|index| Reader::new(Arc::clone(&ring), index))
            .collect();
        let sole = (claimers == Claimers::Sole).then(|| SoleProducer::new(Arc::clone(&ring)));
        Ok((ring, readers, sole))
    }

    /// Bytes a ring of `capacity` slots read by `readers` cursors
    /// allocates: the ring itself, its values, stamps and cursors (its
    /// publish times take at most one word per slot more). Cannot overflow,
    /// so it can size a request before refusing it.
    pub(crate) fn footprint(capacity: usize, readers: usize, claimers: Claimers) -> u128 {
        let fixed = mem::size_of::<Ring<T>>() as u128;
        let word = mem::size_of::<AtomicU64>() as u128;
        let cursors = readers as u128 * (mem::size_of::<CachePadded<AtomicU64>>() as u128 + word);
        let per_slot = mem::size_of::<Cell<T>>() as u128
            + match claimers {
                Claimers::Shared => word,
                Claimers::Sole => 0,
            };
        fixed + cursors + capacity as u128 * per_slot
    }

    /// Whether this ring records a publish time for some sequences.
    pub(crate) fn is_timed(&self) -> bool {
        self.times.any()
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Sequences claimed so far (every one of them is, or is about to be,
    /// published). Not on any per-event path.
    pub(crate) fn claimed(&self) -> u64 {
        match self.claimers {
            Claimers::Shared => self.claim.load(Ordering::Acquire) & lease::SEQUENCE,
            Claimers::Sole => self.sole.published.load(Ordering::Acquire),
        }
    }

    /// Events published but not yet released by the slowest reader.
    pub(crate) fn depth(&self) -> u64 {
        self.claimed().saturating_sub(self.min_cursor())
    }

    /// Wakes parked readers if any announced they are parking: the hot side
    /// of the park handshake (stamp or count store; light barrier; load `sleepers`).
    #[inline]
    fn after_publish(&self) {
        barrier::light();
        if self.wake.has_sleepers() {
            self.wake.unpark_all();
        }
    }

    /// Stores reader `index`'s cursor and wakes blocked producers if any: the
    /// hot side of the gate handshake (cursor store; light barrier; load
    /// `blocked`). On a ring with stages, also of the park handshake: a
    /// reader trailing this one may be parked, waiting for this cursor.
    #[inline]
    fn release(&self, index: usize, next: u64) {
        // Release pairs with the producers' Acquire loads in `min_cursor`,
        // and with trailing readers' in `upstream_bound`.
        self.cursors[index].store(next, Ordering::Release);
        barrier::light();
        if self.gate.has_blocked() {
            self.gate.notify_all();
        }
        if self.stages.any() && self.wake.has_sleepers() {
            self.wake.unpark_all();
        }
    }

    /// The slowest reader's cursor: every reader has consumed the
    /// sequences below it. Not on any per-event path.
    #[cfg(feature = "nats")]
    pub(crate) fn slowest_cursor(&self) -> u64 {
        self.min_cursor()
    }

    /// The slowest cursor of the readers there are, with no reader lapped
    /// (see [`gate_for`](Self::gate_for) for a producer's gate): a detached
    /// spare slot is nobody's, so it does not count (with no reader at all,
    /// the claimed count).
    fn min_cursor(&self) -> u64 {
        self.cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let word = c.load(Ordering::Acquire);
                let detached = self.lapping.is_spare(i) && word & READING == 0;
                (!detached).then_some(word & !READING)
            })
            .min()
            .unwrap_or_else(|| self.claimed())
    }

    /// Whether reader `index` has a published event to read now: a
    /// lock-free hint for a thread that does not own the reader (its answer
    /// may be stale at once; the owner's own check decides).
    pub(crate) fn has_next_for(&self, index: usize) -> bool {
        let next = self.cursor(index);
        let published = match self.claimers {
            Claimers::Sole => self.sole.published.load(Ordering::Acquire) > next,
            // Acquire pairs with the producer's Release in `mark_published`.
            Claimers::Shared => self.stamp(next).load(Ordering::Acquire) == next + 1,
        };
        published && (!self.stages.trails(index) || self.upstream_bound(index) > next)
    }

    /// Reader `index`'s cursor.
    pub(crate) fn cursor(&self, index: usize) -> u64 {
        self.cursors[index].load(Ordering::Acquire) & !READING
    }

    /// The place of `seq`'s value.
    #[inline(always)]
    fn cell(&self, seq: u64) -> &Cell<T> {
        self.slots().cell(seq)
    }

    /// The slots as a copy a loop over many sequences keeps in registers
    /// (the ring is shared and mutable inside, so the compiler would
    /// otherwise load `values` and `mask` again for every event).
    #[inline(always)]
    fn slots(&self) -> Slots<'_, T> {
        Slots {
            values: &self.values,
            mask: self.mask,
        }
    }

    /// The stamp of `seq`'s slot. Shared claims only: a single-producer
    /// ring has no stamps (the index panics).
    #[inline(always)]
    fn stamp(&self, seq: u64) -> &AtomicU64 {
        // Bounds-checked: the check is a compare with a register, and it
        // keeps a sole producer's ring (no stamps) from ever reading one.
        &self.stamps[(seq & self.mask) as usize]
    }
}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity)
            .field("claimers", &self.claimers)
            .field("claimed", &self.claimed())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
