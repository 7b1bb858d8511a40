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
//!    read-only line). A single-producer ring has no shared claim at all: its
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
//! # Closing
//!
//! [`Ring::close`] decides the final sequence count and stores it in `end`;
//! after it returns no claim succeeds and every earlier claim is (or is about
//! to be) published. A multi-producer ring sets bit 63 of `claim` in the word
//! producers CAS, so "closed" and "the last claimed sequence" are decided
//! together. A single-producer ring sets `closing` and waits until its
//! producer is outside a publish (`busy`, a store-buffering handshake on
//! asymmetric barriers): a publish either saw `closing` and failed, or
//! finished before `end` was read.

mod barrier;
mod prefetch;
mod reader;
mod room;
mod sole;
mod staging;
mod tasks;
mod times;
#[cfg(not(veltrix_loom))]
mod waits_for;
mod wake;

#[cfg(all(test, veltrix_loom))]
mod loom_sole;
#[cfg(all(test, veltrix_loom))]
mod loom_tests;
#[cfg(all(test, not(veltrix_loom)))]
mod tests;

pub(crate) use reader::Reader;
pub(crate) use room::Waited;
pub(crate) use sole::{Bursts, SoleProducer};
pub(crate) use staging::Staging;
pub(crate) use tasks::wake_reader_tasks;
#[cfg(feature = "async")]
pub(crate) use tasks::{cancel_reader_task, register_reader_task, task_key, TaskKey};
#[cfg(not(veltrix_loom))]
pub(crate) use waits_for::{thread_token, FROM_HOST};
#[cfg(feature = "async")]
pub(crate) use wake::PARK_UNPROVEN;
pub(crate) use wake::{park, register_reader};

use std::any::Any;
use std::mem::{self, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

use crossbeam_utils::CachePadded;

use crate::loom::{Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering, UnsafeCell};
use times::Times;
use wake::{ProducerGate, ReaderWake};

/// Bit of `claim` that marks a multi-producer ring closed (and that a
/// single-producer ring carries from the start, so no shared claim can ever
/// succeed on it).
const CLOSED: u64 = 1 << 63;

/// `end` while the ring is open.
const OPEN: u64 = u64::MAX;

/// Values up to this size trade places with a slot's old value through
/// registers (`Ring::write_from`); larger ones are swapped in place.
const SWAP_VIA_REGISTERS: usize = 64;

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
    /// Any thread, through [`Ring::try_push`] (one CAS per claim).
    Shared,
    /// Only the ring's one [`SoleProducer`].
    Sole,
}

/// The place of one value in the ring.
type Cell<T> = UnsafeCell<MaybeUninit<T>>;

/// What only a sole producer writes and its readers poll.
struct SoleState {
    /// Sequences published so far, stored once per burst: the readers'
    /// cursor into the ring (the Disruptor's producer cursor).
    published: AtomicU64,
}

/// How a ring ends. Readers look here only when they stop, so the sole
/// producer's per-publish `busy` stores stay on a line of its own.
struct Seal {
    /// Single-producer rings: close has begun; the producer must not start
    /// another publish.
    closing: AtomicBool,
    /// Single-producer rings: set while the producer is between its
    /// `closing` check and its last store of a publish (see the module docs
    /// on closing).
    busy: AtomicBool,
    /// The final sequence count once [`Ring::close`] has decided it;
    /// [`OPEN`] before.
    end: AtomicU64,
    /// Ring-held values whose `Drop` panicked (caught in `drop_held`). Only
    /// touched when that happens, so it lives on this cold line.
    drop_panics: AtomicU64,
    /// Single-producer rings: the first sequence [`Ring::take_unconsumed`]
    /// moved out (it takes everything from there to `end`); [`OPEN`] until
    /// it ran.
    taken: AtomicU64,
    /// [`Reader`]s not yet dropped. [`Ring::take_unconsumed`] runs only at
    /// 0: with every reader gone, none can be draining.
    readers: AtomicUsize,
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
    pub(crate) fn new(
        capacity: usize,
        readers: usize,
        claimers: Claimers,
        sampled: Option<u64>,
    ) -> Result<NewRing<T>, AllocError> {
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
                readers: AtomicUsize::new(readers),
            }),
            cursors: (0..readers)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
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
        });
        let readers = (0..readers)
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

    /// The publish time recorded for `seq` (a raw clock reading; 0 = none):
    /// only sampled sequences have one. Call it while reading `seq`.
    #[inline]
    pub(crate) fn published_at(&self, seq: u64) -> u64 {
        self.times.get(seq)
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
            Claimers::Shared => self.claim.load(Ordering::Acquire) & !CLOSED,
            Claimers::Sole => self.sole.published.load(Ordering::Acquire),
        }
    }

    /// Whether [`close`](Self::close) has decided the final count.
    pub(crate) fn is_closed(&self) -> bool {
        self.end() != OPEN
    }

    /// The final sequence count, or [`OPEN`].
    fn end(&self) -> u64 {
        self.seal.end.load(Ordering::Acquire)
    }

    /// Events published but not yet released by the slowest reader.
    pub(crate) fn depth(&self) -> u64 {
        self.claimed().saturating_sub(self.min_cursor())
    }

    /// Stops all further claims and returns the final sequence count. Wakes
    /// parked readers and blocked producers so they observe it.
    pub(crate) fn close(&self) -> u64 {
        let end = match self.claimers {
            Claimers::Shared => self.claim.fetch_or(CLOSED, Ordering::AcqRel) & !CLOSED,
            Claimers::Sole => {
                // The cold side of the closing handshake (see `Burst`):
                // announce, barrier, then wait for a publish in flight.
                self.seal.closing.store(true, Ordering::SeqCst);
                barrier::heavy();
                while self.seal.busy.load(Ordering::Acquire) {
                    crate::loom::yield_now();
                }
                // Acquire pairs with the producer's Release store of `busy`,
                // made after its last store of `published`.
                self.sole.published.load(Ordering::Acquire)
            }
        };
        // A second close keeps the first one's answer (nothing was claimed
        // in between).
        let _ = self
            .seal
            .end
            .compare_exchange(OPEN, end, Ordering::AcqRel, Ordering::Acquire);
        self.wake.unpark_all();
        self.gate.notify_all();
        end
    }

    /// Publishes one value through a shared claim, or hands it back if the
    /// ring is full or closed (a single-producer ring is always closed to
    /// shared claims). Returns the value's sequence.
    #[cfg(test)]
    pub(crate) fn try_push(&self, value: T) -> Result<u64, (T, PushError)> {
        let mut pending = Some(value);
        self.push_from(&mut pending, || 0, || Err(()))
            .map_err(|why| {
                let why = match why {
                    Refused::Closed => PushError::Closed,
                    Refused::Full(()) => PushError::Full,
                };
                (
                    pending.take().expect("a refused push leaves the value"),
                    why,
                )
            })
    }

    /// Publishes the value in `pending` through a shared claim, in place:
    /// the value moves once, from `pending` straight into its slot (the
    /// slot's old value takes its place there until it is dropped), so
    /// publishing costs no stack for the value, whatever its size. If the
    /// ring samples the value's sequence, `now` gives its publish time (it
    /// runs between the claim and the publish, and must neither block nor
    /// panic). While the ring is full, calls `on_full` and claims again if
    /// it returns `Ok` (it may wait for room), and gives up with its error
    /// otherwise; a retry moves nothing. Returns the value's sequence and
    /// leaves `pending` empty; on error leaves it untouched.
    ///
    /// # Panics
    ///
    /// If `pending` is empty.
    #[inline]
    pub(crate) fn push_from<F>(
        &self,
        pending: &mut Option<T>,
        now: impl FnOnce() -> u64,
        mut on_full: impl FnMut() -> Result<(), F>,
    ) -> Result<u64, Refused<F>> {
        let value: *mut T = pending.as_mut().expect("nothing to push");
        let seq = loop {
            match self.try_claim(1) {
                Ok(seq) => break seq,
                Err(PushError::Closed) => return Err(Refused::Closed),
                Err(PushError::Full) => on_full().map_err(Refused::Full)?,
            }
        };
        self.times.record(seq, now);
        // SAFETY: `try_claim` just gave this thread `seq`, unwritten (its
        // gating check saw the cursors); `value` points into `pending`,
        // borrowed for this call, to an initialised `T` outside the ring.
        let swapped = unsafe { self.write_from(seq, value) };
        self.mark_published(seq);
        if !swapped {
            // SAFETY: the value moved into its slot: `pending` must not drop
            // it again, so it is emptied without dropping its contents.
            unsafe { ptr::write(pending, None) };
        }
        self.after_publish();
        if swapped {
            // SAFETY: `write_from` moved the previous lap's value into
            // `pending`; it is dropped once here, and `pending` emptied
            // without dropping it again.
            unsafe {
                self.drop_held(value);
                ptr::write(pending, None);
            }
        }
        Ok(seq)
    }

    /// Publishes every value of `values` (at most `capacity` of them) as one
    /// contiguous run through a shared claim, or none: on error `values` is
    /// left untouched. On success `values` is left empty: each value was
    /// swapped into its slot, the slot's old value (of the previous lap)
    /// into the value's staging place, and once the whole run is published
    /// those old values are dropped there, one at a time. So a batch stages
    /// nothing but `values` itself. The sampled sequences of the run get
    /// the publish time `time`. Returns the sequence of the first value.
    pub(crate) fn try_push_batch<const BYTES: usize>(
        &self,
        values: &mut Staging<T, BYTES>,
        time: u64,
    ) -> Result<u64, PushError> {
        debug_assert_eq!(values.head, 0, "a batch is staged from the start");
        let n = values.len;
        debug_assert!(n >= 1 && n as u64 <= self.capacity);
        let start = self.try_claim(n as u64)?;
        self.times.record_run(start, n as u64, time);
        // Sequences below `capacity` fill a slot for the first time; from
        // `first_old` on, each overwrites the value of the previous lap.
        let first_old = if start >= self.capacity {
            0
        } else {
            ((self.capacity - start) as usize).min(n)
        };
        // Nothing in this loop can panic or run user code: the whole claim
        // is published before anything else happens.
        for i in 0..n {
            // SAFETY: `try_claim(n)` gave this thread `start..start + n`, each
            // written once, here; staged value `i < len` is initialised (the
            // `Staging` invariant, `head == 0`) and not inside the ring.
            let swapped = unsafe { self.write_from(start + i as u64, values.slot(i)) };
            self.mark_published(start + i as u64);
            debug_assert_eq!(swapped, i >= first_old && mem::needs_drop::<T>());
        }
        // Staged values `..first_old` moved into first-lap slots; the places
        // `first_old..n` now hold the old values (if `T` has drop glue; else
        // nothing): exactly `head..len`.
        values.head = if mem::needs_drop::<T>() { first_old } else { n };
        self.after_publish();
        while values.head < values.len {
            let old = values.slot(values.head);
            values.head += 1;
            // SAFETY: `old` is in `head..len` (before the increment), so it is
            // initialised; moving `head` past it first means it is neither
            // read nor dropped again.
            unsafe { self.drop_held(old) };
        }
        values.head = 0;
        values.len = 0;
        Ok(start)
    }

    /// Claims `n` consecutive sequences, `1 <= n <= capacity`, with a CAS.
    #[inline]
    fn try_claim(&self, n: u64) -> Result<u64, PushError> {
        let mut current = self.claim.load(Ordering::Relaxed);
        loop {
            if current & CLOSED != 0 {
                return Err(PushError::Closed);
            }
            let end = current + n;
            // Every reader must have released `..end - capacity`, the previous
            // occupants of the slots `current..end`.
            let wrap = end.saturating_sub(self.capacity);
            // Acquire pairs with the Release store below, itself ordered after
            // the Acquire cursor loads of `min_cursor`, which pair with the
            // readers' Release cursor stores: whatever a reader did with a
            // slot before releasing it happens-before our overwrite, even when
            // the bound was scanned by another producer.
            if wrap > self.gating.load(Ordering::Acquire) {
                let min = self.min_cursor();
                self.gating.store(min, Ordering::Release);
                if wrap > min {
                    return Err(PushError::Full);
                }
            }
            // Relaxed: the CAS only has to hand out each sequence once
            // (atomicity); every ordering the slot needs comes from the gating
            // chain above and from the stamp.
            match self.claim.compare_exchange_weak(
                current,
                end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(current),
                Err(actual) => current = actual,
            }
        }
    }

    /// Moves the value at `value` into the slot of `seq` (a shared claim then
    /// publishes it with [`mark_published`](Self::mark_published); a sole
    /// producer with its count, once per burst). If the slot held the value of the previous lap and `T` has drop glue,
    /// that value is moved to `value` in exchange and this returns `true`:
    /// the caller drops it (with [`drop_held`](Self::drop_held)) after
    /// publishing. Otherwise `value` is left moved-out and this returns
    /// `false` (an old value without drop glue is simply overwritten). A
    /// large value is not copied through a temporary, so it costs no stack
    /// here.
    ///
    /// # Safety
    ///
    /// The caller holds the claim of `seq` (from [`try_claim`](Self::try_claim)
    /// or as the ring's [`SoleProducer`]), has not written it yet, and saw
    /// every cursor past `seq - capacity` (Acquire) before the claim.
    /// `value` points to an initialised `T` outside this ring, valid for
    /// reads and writes; after the call the caller treats it as uninitialised
    /// if this returns `false`, as the old value if it returns `true`.
    #[inline]
    unsafe fn write_from(&self, seq: u64, value: *mut T) -> bool {
        self.cell(seq).with_mut(|cell| {
            let cell = cell.cast::<T>();
            if seq >= self.capacity && mem::needs_drop::<T>() {
                debug_assert!(
                    self.claimers == Claimers::Sole
                        || self.stamp(seq).load(Ordering::Relaxed) == seq - self.capacity + 1,
                    "slot must hold the value of the previous lap"
                );
                // SAFETY: the claim of `seq` is ours alone, and the gating
                // check before it saw every reader cursor past
                // `seq - capacity`. A cursor passes a sequence only in
                // `Reader::drain`, after an Acquire load saw that slot
                // published (its stamp, or a sole producer's count), or in
                // `take_unconsumed`, after close, when no claim succeeds:
                // so the previous occupant was written
                // and its write happens-before this one (producer Release
                // stamp or count -> reader Acquire -> reader Release cursor -> our
                // Acquire cursor / gating load). No reader borrows it any
                // more. `value` is initialised and outside the ring, so the
                // two do not overlap; the exchange leaves the slot
                // initialised with the new value and `value` holding the old
                // one. A small value goes through registers; a large one is
                // swapped in place, in chunks, so it needs no temporary.
                unsafe {
                    if mem::size_of::<T>() <= SWAP_VIA_REGISTERS {
                        let old = ptr::read(cell);
                        ptr::copy_nonoverlapping(value, cell, 1);
                        ptr::write(value, old);
                    } else {
                        ptr::swap_nonoverlapping(cell, value, 1);
                    }
                }
                true
            } else {
                // SAFETY: the claim of `seq` is ours alone. Either this is
                // the first lap (the slot has never been written), or the
                // previous lap's value has no drop glue, so overwriting it
                // is its end; the gating argument of the branch above holds
                // for it too (every read of it happens-before this write,
                // and no reader borrows it any more). `value` is initialised
                // and outside the ring; the caller treats it as moved-out.
                unsafe { ptr::copy_nonoverlapping(value, cell, 1) };
                false
            }
        })
    }

    /// Publishes the value a shared claim wrote into the slot of `seq`
    /// (sole producers publish with their count instead).
    #[inline]
    fn mark_published(&self, seq: u64) {
        // Release pairs with the reader's Acquire load of the stamp: the write
        // of the value happens-before the reader's borrow.
        self.stamp(seq).store(seq + 1, Ordering::Release);
    }

    /// Drops the value at `value`, one this ring held (overwritten by a
    /// publish, or left in a slot when the ring goes away): the one place
    /// where ring-held values are dropped. A panic in the value's `Drop` is
    /// caught here and counted in [`drop_panics`](Self::drop_panics), and
    /// goes no further: no publish, burst or `Ring::drop` unwinds because of
    /// it. The value's life ends either way (drop glue finishes dropping its
    /// fields while unwinding), so nothing is dropped twice.
    ///
    /// # Safety
    ///
    /// `value` points to an initialised `T` that is not used or dropped
    /// again after this call.
    #[inline]
    unsafe fn drop_held(&self, value: *mut T) {
        if !mem::needs_drop::<T>() {
            return;
        }
        // SAFETY: forwarded from this function's own contract.
        let dropped =
            panic::catch_unwind(AssertUnwindSafe(|| unsafe { ptr::drop_in_place(value) }));
        if let Err(payload) = dropped {
            self.drop_panicked(payload);
        }
    }

    /// Drops `value`, an event the ring refused to keep (a full policy that
    /// drops the newest), as it drops its own: a panic in its `Drop` is
    /// caught and counted in [`drop_panics`](Self::drop_panics).
    pub(crate) fn discard(&self, value: T) {
        let mut value = mem::ManuallyDrop::new(value);
        // SAFETY: `value` is initialised and, in a `ManuallyDrop`, never
        // dropped or used again after this call.
        unsafe { self.drop_held(&mut *value) };
    }

    /// Counts a `Drop` that panicked and disposes of its payload.
    #[cold]
    #[inline(never)]
    fn drop_panicked(&self, payload: Box<dyn Any + Send>) {
        // Relaxed: a statistic, read by reports; it orders nothing.
        self.seal.drop_panics.fetch_add(1, Ordering::Relaxed);
        // A payload whose own `Drop` panics too is leaked rather than let
        // that panic out.
        if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            mem::forget(again);
        }
    }

    /// How many values this ring dropped (on overwrite) whose `Drop`
    /// panicked; each panic was caught. Not on any per-event path.
    pub(crate) fn drop_panics(&self) -> u64 {
        self.seal.drop_panics.load(Ordering::Relaxed)
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
    /// `blocked`).
    #[inline]
    fn release(&self, index: usize, next: u64) {
        // Release pairs with the producers' Acquire loads in `min_cursor`.
        self.cursors[index].store(next, Ordering::Release);
        barrier::light();
        if self.gate.has_blocked() {
            self.gate.notify_all();
        }
    }

    /// The slowest reader's cursor.
    /// The slowest reader's cursor: every reader has consumed the
    /// sequences below it. Not on any per-event path.
    #[cfg(feature = "nats")]
    pub(crate) fn slowest_cursor(&self) -> u64 {
        self.min_cursor()
    }

    fn min_cursor(&self) -> u64 {
        self.cursors
            .iter()
            .map(|c| c.load(Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }

    /// Whether a claim of `n` would find room now (or the ring is closed, in
    /// which case waiting is over too).
    pub(crate) fn has_room_or_closed(&self, n: u64) -> bool {
        let closing = match self.claimers {
            Claimers::Shared => self.claim.load(Ordering::Acquire) & CLOSED != 0,
            Claimers::Sole => self.is_closed(),
        };
        closing || self.wrap_for(n) <= self.min_cursor()
    }

    /// The position every cursor must have reached for a claim of `n` to
    /// fit now: the slots it would take held the events of
    /// `..claimed + n - capacity`.
    fn wrap_for(&self, n: u64) -> u64 {
        (self.claimed() + n).saturating_sub(self.capacity)
    }

    /// Moves every event that some reader did not consume out of a closed
    /// ring whose [`Reader`]s have all been dropped, in sequence order.
    /// `None` (and nothing moved) while the ring is open or a reader lives:
    /// a reader still held, by a worker left inside a listener say, may go
    /// on draining, so its events stay in the ring (and drop with it).
    pub(crate) fn take_unconsumed(&self) -> Option<Vec<T>> {
        let end = self.end();
        // Acquire pairs with each reader's Release in its `drop`: its last
        // drain (reads of the slots, stores of its cursor) happened before.
        if end == OPEN || self.seal.readers.load(Ordering::Acquire) != 0 {
            return None;
        }
        let start = self.min_cursor();
        if self.claimers == Claimers::Sole {
            // Before the first move: `Drop` must not see these as held.
            self.seal.taken.store(start, Ordering::Relaxed);
        }
        let mut taken = Vec::with_capacity((end - start) as usize);
        for seq in start..end {
            if self.claimers == Claimers::Shared {
                // Closed: every claim below `end` is published or about to be.
                while self.stamp(seq).load(Ordering::Acquire) != seq + 1 {
                    crate::loom::yield_now();
                }
            }
            let value = self.cell(seq).with_mut(|cell| {
                // SAFETY: the slot holds `seq`'s value: its stamp said so
                // (Acquire pairs with the producer's Release), or, for a
                // sole producer, `end` is its published count, read with
                // Acquire in `close` after its last write. Every reader
                // has been dropped (checked above), so none borrows it, and
                // the ring is closed so no producer writes it. The stamp reset to 0
                // below (or `taken`, set above) marks the slot
                // uninitialised, so the value is not read or dropped again.
                unsafe { ptr::read(cell).assume_init() }
            });
            if self.claimers == Claimers::Shared {
                self.stamp(seq).store(0, Ordering::Release);
            }
            taken.push(value);
        }
        for cursor in self.cursors.iter() {
            cursor.store(end, Ordering::Release);
        }
        self.gate.notify_all();
        Some(taken)
    }

    /// Whether reader `index` has a published event to read now: a
    /// lock-free hint for a thread that does not own the reader (its answer
    /// may be stale at once; the owner's own check decides).
    pub(crate) fn has_next_for(&self, index: usize) -> bool {
        let next = self.cursor(index);
        match self.claimers {
            Claimers::Sole => self.sole.published.load(Ordering::Acquire) > next,
            // Acquire pairs with the producer's Release in `mark_published`.
            Claimers::Shared => self.stamp(next).load(Ordering::Acquire) == next + 1,
        }
    }

    /// Records that the calling thread (`driver`: its
    /// [`waits_for::thread_token`], or 0 when it stops) drains cursor
    /// `index` from now on.
    pub(crate) fn set_driver(&self, index: usize, driver: u64) {
        self.drivers[index].store(driver, std::sync::atomic::Ordering::Relaxed);
    }

    /// What [`set_driver`](Self::set_driver) stored last for cursor `index`.
    pub(crate) fn driver(&self, index: usize) -> u64 {
        self.drivers[index].load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reader `index`'s cursor.
    pub(crate) fn cursor(&self, index: usize) -> u64 {
        self.cursors[index].load(Ordering::Acquire)
    }

    /// The place of `seq`'s value.
    #[inline(always)]
    fn cell(&self, seq: u64) -> &Cell<T> {
        let index = (seq & self.mask) as usize;
        debug_assert!(index < self.values.len());
        // SAFETY: `mask = capacity - 1` and `values.len() == capacity` (both
        // set once in `new`), so `seq & mask` is in bounds. This is on every
        // per-event path (write, read): the bounds check is not.
        unsafe { self.values.get_unchecked(index) }
    }

    /// The stamp of `seq`'s slot. Shared claims only: a single-producer
    /// ring has no stamps (the index panics).
    #[inline(always)]
    fn stamp(&self, seq: u64) -> &AtomicU64 {
        // Bounds-checked: the check is a compare with a register, and it
        // keeps a sole producer's ring (no stamps) from ever reading one.
        &self.stamps[(seq & self.mask) as usize]
    }

    /// The sequences whose values a single-producer ring holds (see
    /// `values`). Needs `&mut self` or a closed ring with no reader
    /// draining, so the counts no longer move.
    fn held_by_sole(&self) -> std::ops::Range<u64> {
        let published = self.sole.published.load(Ordering::Acquire);
        let taken = self.seal.taken.load(Ordering::Relaxed);
        published.saturating_sub(self.capacity)..published.min(taken)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if !mem::needs_drop::<T>() {
            return;
        }
        // Each value on its own, through `drop_held`: a panicking `Drop` of
        // one neither leaks the others nor unwinds out of this `drop` (which
        // would abort if another value panicked too, or if the ring goes
        // away during an unwind). These panics are counted like the others,
        // but nothing can read the count of a ring being dropped: a topic's
        // report counts them only up to the moment it is made.
        let drop_at = |seq: u64| {
            self.cell(seq).with_mut(|cell| {
                // SAFETY: `&mut self`: no other thread holds the ring. The
                // caller below passes only initialised slots (the invariant
                // of `values`), each once, as the ring goes away.
                unsafe { self.drop_held(cell.cast::<T>()) }
            });
        };
        match self.claimers {
            Claimers::Shared => (0..self.capacity)
                .filter(|&seq| self.stamp(seq).load(Ordering::Relaxed) != 0)
                .for_each(drop_at),
            Claimers::Sole => self.held_by_sole().for_each(drop_at),
        }
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

#[cfg(not(veltrix_loom))]
impl<T: Send + Sync + 'static> Ring<T> {
    /// Registers the calling producer as about to block on this ring for a
    /// claim of `n` (see [`waits_for`]); `None` when that wait could never
    /// end (a cycle of waits back to this thread): the caller must not wait.
    /// Keep the guard while waiting.
    pub(crate) fn block_on(self: &Arc<Self>, n: u64) -> Option<waits_for::BlockedGuard> {
        let ring: std::sync::Arc<dyn waits_for::Gating> = self.clone();
        waits_for::block(ring, n)
    }
}

#[cfg(not(veltrix_loom))]
impl<T: Send + Sync> waits_for::Gating for Ring<T> {
    fn need(&self, n: u64) -> u64 {
        self.wrap_for(n)
    }

    fn drivers_below(&self, need: u64, out: &mut smallvec::SmallVec<[u64; 8]>) {
        for (cursor, driver) in self.cursors.iter().zip(self.drivers.iter()) {
            if cursor.load(Ordering::Acquire) < need {
                out.push(driver.load(std::sync::atomic::Ordering::Relaxed) & !waits_for::FROM_HOST);
            }
        }
    }

    fn slowest(&self) -> u64 {
        self.min_cursor()
    }
}
