//! Bounded channels: std's `sync_channel`, crossbeam-channel and flume.
//!
//! All three block: a receiver with nothing to read spins briefly, then
//! parks until a sender wakes it. Fan-out, which channels do not have, is one
//! channel per consumer with the producer sending to each in turn. Work
//! sharing is one channel whose receiver is cloned (crossbeam, flume; std's
//! receiver cannot be shared).

use std::marker::PhantomData;
use std::thread::{self, JoinHandle};

use super::{Delivery, Event, Finish, Peer, Pipe, RoundTrip, Shape, Tally, Tx, Wait};

/// What the harness needs of a channel implementation.
pub trait Flavor: Send + Sync + 'static {
    /// Name in reports.
    const NAME: &'static str;
    /// Sending half.
    type S<E: Send + 'static>: Clone + Send + 'static;
    /// Receiving half.
    type R<E: Send + 'static>: Send + 'static;

    /// A channel of `capacity` slots.
    fn bounded<E: Send + 'static>(capacity: usize) -> (Self::S<E>, Self::R<E>);
    /// Sends, waiting while full. Panics if the receivers are gone.
    fn send<E: Send + 'static>(tx: &Self::S<E>, event: E);
    /// `Ok(Some)`: an event; `Ok(None)`: empty now; `Err`: disconnected.
    #[allow(clippy::result_unit_err)]
    fn try_recv<E: Send + 'static>(rx: &Self::R<E>) -> Result<Option<E>, ()>;
    /// Waits for an event; `None` once disconnected and empty.
    fn recv<E: Send + 'static>(rx: &Self::R<E>) -> Option<E>;
    /// Another receiver of the same channel, if the flavor has them.
    fn share<E: Send + 'static>(rx: &Self::R<E>) -> Option<Self::R<E>>;
}

/// `std::sync::mpsc::sync_channel`.
#[derive(Debug, Clone, Copy)]
pub struct StdMpsc;

impl Flavor for StdMpsc {
    const NAME: &'static str = "std mpsc";
    type S<E: Send + 'static> = std::sync::mpsc::SyncSender<E>;
    type R<E: Send + 'static> = std::sync::mpsc::Receiver<E>;

    fn bounded<E: Send + 'static>(capacity: usize) -> (Self::S<E>, Self::R<E>) {
        std::sync::mpsc::sync_channel(capacity)
    }

    #[inline]
    fn send<E: Send + 'static>(tx: &Self::S<E>, event: E) {
        tx.send(event).expect("receiver alive");
    }

    #[inline]
    fn try_recv<E: Send + 'static>(rx: &Self::R<E>) -> Result<Option<E>, ()> {
        match rx.try_recv() {
            Ok(e) => Ok(Some(e)),
            Err(std::sync::mpsc::TryRecvError::Empty) => Ok(None),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(()),
        }
    }

    #[inline]
    fn recv<E: Send + 'static>(rx: &Self::R<E>) -> Option<E> {
        rx.recv().ok()
    }

    fn share<E: Send + 'static>(_rx: &Self::R<E>) -> Option<Self::R<E>> {
        None
    }
}

/// `crossbeam_channel::bounded`.
#[derive(Debug, Clone, Copy)]
pub struct Crossbeam;

impl Flavor for Crossbeam {
    const NAME: &'static str = "crossbeam-channel";
    type S<E: Send + 'static> = crossbeam_channel::Sender<E>;
    type R<E: Send + 'static> = crossbeam_channel::Receiver<E>;

    fn bounded<E: Send + 'static>(capacity: usize) -> (Self::S<E>, Self::R<E>) {
        crossbeam_channel::bounded(capacity)
    }

    #[inline]
    fn send<E: Send + 'static>(tx: &Self::S<E>, event: E) {
        tx.send(event).expect("receiver alive");
    }

    #[inline]
    fn try_recv<E: Send + 'static>(rx: &Self::R<E>) -> Result<Option<E>, ()> {
        match rx.try_recv() {
            Ok(e) => Ok(Some(e)),
            Err(crossbeam_channel::TryRecvError::Empty) => Ok(None),
            Err(crossbeam_channel::TryRecvError::Disconnected) => Err(()),
        }
    }

    #[inline]
    fn recv<E: Send + 'static>(rx: &Self::R<E>) -> Option<E> {
        rx.recv().ok()
    }

    fn share<E: Send + 'static>(rx: &Self::R<E>) -> Option<Self::R<E>> {
        Some(rx.clone())
    }
}

/// `flume::bounded`.
#[derive(Debug, Clone, Copy)]
pub struct Flume;

impl Flavor for Flume {
    const NAME: &'static str = "flume";
    type S<E: Send + 'static> = flume::Sender<E>;
    type R<E: Send + 'static> = flume::Receiver<E>;

    fn bounded<E: Send + 'static>(capacity: usize) -> (Self::S<E>, Self::R<E>) {
        flume::bounded(capacity)
    }

    #[inline]
    fn send<E: Send + 'static>(tx: &Self::S<E>, event: E) {
        tx.send(event).expect("receiver alive");
    }

    #[inline]
    fn try_recv<E: Send + 'static>(rx: &Self::R<E>) -> Result<Option<E>, ()> {
        match rx.try_recv() {
            Ok(e) => Ok(Some(e)),
            Err(flume::TryRecvError::Empty) => Ok(None),
            Err(flume::TryRecvError::Disconnected) => Err(()),
        }
    }

    #[inline]
    fn recv<E: Send + 'static>(rx: &Self::R<E>) -> Option<E> {
        rx.recv().ok()
    }

    fn share<E: Send + 'static>(rx: &Self::R<E>) -> Option<Self::R<E>> {
        Some(rx.clone())
    }
}

/// A producer's senders: one per consumer for fan-out, otherwise one.
struct ChanTx<F: Flavor, E: Event> {
    senders: Vec<F::S<E>>,
}

impl<F: Flavor, E: Event> Tx<E> for ChanTx<F, E> {
    fn send(&mut self, first: u64, n: u64, _batch: usize) {
        if let [only] = self.senders.as_slice() {
            for i in first..first + n {
                F::send(only, E::make(i));
            }
        } else {
            for i in first..first + n {
                let event = E::make(i);
                for tx in &self.senders {
                    F::send(tx, event);
                }
            }
        }
    }
}

/// The consumer loop: take what is there, count it; when empty, report the
/// batch and block.
fn consume<F: Flavor, E: Event>(rx: F::R<E>, mut tally: Tally) {
    loop {
        match F::try_recv(&rx) {
            Ok(Some(event)) => tally.event(&event),
            Ok(None) => {
                tally.batch_end();
                match F::recv(&rx) {
                    Some(event) => tally.event(&event),
                    None => break,
                }
            }
            Err(()) => break,
        }
    }
    tally.batch_end();
}

fn join_all(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        handle.join().expect("consumer thread panicked");
    }
}

fn open<F: Flavor, E: Event>(shape: &Shape) -> Option<Pipe<E>> {
    if shape.batch != 1 || shape.partitions != 1 {
        return None;
    }
    let finish = Finish::new(shape);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    match shape.delivery {
        Delivery::Each => {
            for _ in 0..shape.consumers {
                let (tx, rx) = F::bounded::<E>(shape.capacity);
                senders.push(tx);
                receivers.push(rx);
            }
        }
        Delivery::Shared => {
            let (tx, rx) = F::bounded::<E>(shape.capacity);
            for _ in 1..shape.consumers {
                receivers.push(F::share(&rx)?);
            }
            receivers.push(rx);
            senders.push(tx);
        }
        // Channels have no stages: each would need a channel and a copy.
        Delivery::Pipeline | Delivery::Diamond => return None,
    }
    let handles: Vec<JoinHandle<()>> = receivers
        .into_iter()
        .map(|rx| {
            let tally = finish.tally();
            thread::spawn(move || consume::<F, E>(rx, tally))
        })
        .collect();
    let txs: Vec<Box<dyn Tx<E>>> = (0..shape.producers)
        .map(|_| {
            Box::new(ChanTx::<F, E> {
                senders: senders.clone(),
            }) as Box<dyn Tx<E>>
        })
        .collect();
    drop(senders);
    Some(Pipe::new(txs, finish, shape, move || join_all(handles)))
}

/// Ping-pong over two channels; the echo thread blocks in `recv`.
struct ChanEcho<F: Flavor> {
    ping: Option<F::S<u64>>,
    pong: F::R<u64>,
    echo: Option<JoinHandle<()>>,
    _flavor: PhantomData<F>,
}

impl<F: Flavor> RoundTrip for ChanEcho<F> {
    fn round_trip(&mut self, value: u64) -> u64 {
        F::send(self.ping.as_ref().expect("open"), value);
        F::recv(&self.pong).expect("echo alive")
    }
}

impl<F: Flavor> Drop for ChanEcho<F> {
    fn drop(&mut self) {
        self.ping = None;
        if let Some(echo) = self.echo.take() {
            echo.join().expect("echo thread panicked");
        }
    }
}

fn ping_pong<F: Flavor>(capacity: usize) -> Box<dyn RoundTrip> {
    let (ping_tx, ping_rx) = F::bounded::<u64>(capacity);
    let (pong_tx, pong_rx) = F::bounded::<u64>(capacity);
    let echo = thread::spawn(move || {
        while let Some(value) = F::recv(&ping_rx) {
            F::send(&pong_tx, value);
        }
    });
    Box::new(ChanEcho::<F> {
        ping: Some(ping_tx),
        pong: pong_rx,
        echo: Some(echo),
        _flavor: PhantomData,
    })
}

/// A channel flavor as a peer.
pub struct Channel<F>(PhantomData<fn() -> F>);

impl<F> Channel<F> {
    /// The peer.
    pub const fn new() -> Self {
        Channel(PhantomData)
    }
}

impl<E: Event, F: Flavor> Peer<E> for Channel<F> {
    fn name(&self) -> &'static str {
        F::NAME
    }

    fn wait(&self) -> Wait {
        Wait::Blocking
    }

    fn open(&self, shape: &Shape) -> Option<Pipe<E>> {
        open::<F, E>(shape)
    }

    fn ping_pong(&self, capacity: usize) -> Option<Box<dyn RoundTrip>> {
        Some(ping_pong::<F>(capacity))
    }
}
