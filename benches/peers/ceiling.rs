//! The ceiling: a minimal single-producer single-consumer ring written for
//! this bench, which publishes its tail once per batch and whose consumer
//! releases its head once per drained run. It has no multi-producer claim,
//! no per-slot stamps, no partitions and no groups: what is left is the cost
//! of moving the bytes and two cursor stores per batch, the practical upper
//! bound for a batched SPSC hand-off on this machine.
//!
//! Both sides wait spin-then-yield ([`Spin`]).

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_utils::CachePadded;

use super::{Delivery, Event, Finish, Peer, Pipe, Shape, Spin, Tally, Tx, Wait};

/// The hand-rolled batched SPSC ring (batch publishes only).
#[derive(Debug, Clone, Copy)]
pub struct Ceiling;

struct Ring<E> {
    /// Next position the consumer will read; only the consumer stores it.
    head: CachePadded<AtomicU64>,
    /// Positions below it are written; only the producer stores it.
    tail: CachePadded<AtomicU64>,
    closed: AtomicBool,
    /// `mask + 1` slots, a power of two.
    slots: Box<[UnsafeCell<MaybeUninit<E>>]>,
    mask: u64,
}

// SAFETY: a slot is written only by the producer while it is outside
// `head..tail` (released by the consumer, seen through the Acquire load of
// `head`) and read only by the consumer while inside it (published by the
// producer, seen through the Acquire load of `tail`); `E: Send` lets the
// values cross threads.
unsafe impl<E: Send> Sync for Ring<E> {}

impl<E> Ring<E> {
    fn slot(&self, position: u64) -> *mut MaybeUninit<E> {
        self.slots[(position & self.mask) as usize].get()
    }
}

struct CeilingTx<E> {
    ring: Arc<Ring<E>>,
    tail: u64,
    cached_head: u64,
}

impl<E: Event> Tx<E> for CeilingTx<E> {
    fn send(&mut self, first: u64, n: u64, batch: usize) {
        let capacity = self.ring.mask + 1;
        let batch = batch as u64;
        let mut i = first;
        while i < first + n {
            let mut spin = Spin::default();
            while self.tail + batch - self.cached_head > capacity {
                // Acquire pairs with the consumer's Release store of `head`:
                // it has finished reading the slots it released.
                self.cached_head = self.ring.head.load(Ordering::Acquire);
                spin.wait();
            }
            for k in 0..batch {
                // SAFETY: `tail + k` is below `cached_head + capacity`, so the
                // consumer has released this slot and will not read it until
                // the `tail` store below publishes it.
                unsafe { (*self.ring.slot(self.tail + k)).write(E::make(i + k)) };
            }
            self.tail += batch;
            // Release: the writes above happen-before the consumer's reads.
            self.ring.tail.store(self.tail, Ordering::Release);
            i += batch;
        }
    }
}

impl<E> Drop for CeilingTx<E> {
    fn drop(&mut self) {
        self.ring.closed.store(true, Ordering::Release);
    }
}

fn consume<E: Event>(ring: Arc<Ring<E>>, mut tally: Tally) {
    let mut head = 0u64;
    let mut spin = Spin::default();
    loop {
        // Acquire pairs with the producer's Release store of `tail`.
        let tail = ring.tail.load(Ordering::Acquire);
        if tail == head {
            if ring.closed.load(Ordering::Acquire) && ring.tail.load(Ordering::Acquire) == head {
                break;
            }
            spin.wait();
            continue;
        }
        spin.reset();
        for position in head..tail {
            // SAFETY: `position < tail`: written and published by the
            // producer, and not overwritten before `head` passes it.
            let event = unsafe { (*ring.slot(position)).assume_init_read() };
            tally.event(&event);
        }
        head = tail;
        // Release: our reads happen-before the producer's reuse of the slots.
        ring.head.store(head, Ordering::Release);
        tally.batch_end();
    }
}

impl<E: Event> Peer<E> for Ceiling {
    fn name(&self) -> &'static str {
        "hand-rolled ring"
    }

    fn wait(&self) -> Wait {
        Wait::Spinning
    }

    fn open(&self, shape: &Shape) -> Option<Pipe<E>> {
        let fits = shape.producers == 1
            && shape.consumers == 1
            && shape.delivery == Delivery::Each
            && shape.partitions == 1
            && shape.batch > 1
            && shape.capacity.is_power_of_two()
            && shape.batch <= shape.capacity;
        if !fits {
            return None;
        }
        let ring = Arc::new(Ring {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            slots: (0..shape.capacity)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            mask: shape.capacity as u64 - 1,
        });
        let finish = Finish::new(shape);
        let consumer: JoinHandle<()> = {
            let (ring, tally) = (Arc::clone(&ring), finish.tally());
            thread::spawn(move || consume(ring, tally))
        };
        let tx: Box<dyn Tx<E>> = Box::new(CeilingTx {
            ring,
            tail: 0,
            cached_head: 0,
        });
        Some(Pipe::new(vec![tx], finish, shape, move || {
            consumer.join().expect("consumer thread panicked");
        }))
    }
}
