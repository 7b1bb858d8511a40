//! The `disruptor` crate (nicholassm/disruptor-rs).
//!
//! Its only wait strategies busy-spin, so it is compared in the spinning
//! class. Producers write in place through a closure; `batch_publish` claims
//! and publishes `n` slots at once. Each handler sees every event (fan-out);
//! work sharing between `k` handlers is the usual Disruptor idiom of each
//! handling the sequences `seq % k == i` (each still reads every slot).
//! Pipelines and diamonds use `and_then`, the crate's stage dependencies.

use disruptor::{
    BusySpin, EventPoller, Polling, Producer, Sequence, SingleConsumerBarrier, SingleProducer,
    SingleProducerBarrier,
};

use super::{Delivery, Event, Finish, PatientSpin, Peer, Pipe, RoundTrip, Shape, Tally, Tx, Wait};

/// The disruptor crate with its `BusySpin` wait strategy.
#[derive(Debug, Clone, Copy)]
pub struct Disruptor;

struct DisruptorTx<P> {
    producer: P,
}

impl<E: Event, P: Producer<E> + Send> Tx<E> for DisruptorTx<P> {
    fn send(&mut self, first: u64, n: u64, batch: usize) {
        if batch == 1 {
            for i in first..first + n {
                self.producer.publish(|slot| *slot = E::make(i));
            }
        } else {
            let mut i = first;
            while i < first + n {
                self.producer.batch_publish(batch, |slots| {
                    for (k, slot) in slots.enumerate() {
                        *slot = E::make(i + k as u64);
                    }
                });
                i += batch as u64;
            }
        }
    }
}

/// A handler counting every event, or only sequences `seq % k == i`.
fn handler<E: Event>(
    mut tally: Tally,
    share: Option<(i64, i64)>,
) -> impl FnMut(&E, Sequence, bool) + Send + 'static {
    move |event: &E, sequence: Sequence, end_of_batch: bool| {
        let mine = match share {
            None => true,
            Some((i, k)) => sequence % k == i,
        };
        if mine {
            tally.event(event);
        }
        if end_of_batch {
            tally.batch_end();
        }
    }
}

impl<E: Event> Peer<E> for Disruptor {
    fn name(&self) -> &'static str {
        "disruptor"
    }

    fn wait(&self) -> Wait {
        Wait::Spinning
    }

    fn open(&self, shape: &Shape) -> Option<Pipe<E>> {
        if shape.partitions != 1 {
            return None;
        }
        if shape.delivery.is_staged() {
            return staged(shape);
        }
        let finish = Finish::new(shape);
        let k = shape.consumers as i64;
        let mut handlers: Vec<_> = (0..k)
            .map(|i| {
                let share = (shape.delivery == Delivery::Shared).then_some((i, k));
                handler::<E>(finish.tally(), share)
            })
            .collect();
        let first = handlers.remove(0);
        let size = shape.capacity;
        let txs: Vec<Box<dyn Tx<E>>> = if shape.producers == 1 {
            let builder = disruptor::build_single_producer(size, E::default, BusySpin)
                .handle_events_with(first);
            if handlers.is_empty() {
                vec![Box::new(DisruptorTx {
                    producer: builder.build(),
                })]
            } else {
                let mut builder = builder.handle_events_with(handlers.remove(0));
                for h in handlers {
                    builder = builder.handle_events_with(h);
                }
                vec![Box::new(DisruptorTx {
                    producer: builder.build(),
                })]
            }
        } else {
            let builder = disruptor::build_multi_producer(size, E::default, BusySpin)
                .handle_events_with(first);
            let mut txs: Vec<Box<dyn Tx<E>>> = Vec::new();
            if handlers.is_empty() {
                let producer = builder.build();
                for _ in 1..shape.producers {
                    txs.push(Box::new(DisruptorTx {
                        producer: producer.clone(),
                    }));
                }
                txs.push(Box::new(DisruptorTx { producer }));
            } else {
                let mut builder = builder.handle_events_with(handlers.remove(0));
                for h in handlers {
                    builder = builder.handle_events_with(h);
                }
                let producer = builder.build();
                for _ in 1..shape.producers {
                    txs.push(Box::new(DisruptorTx {
                        producer: producer.clone(),
                    }));
                }
                txs.push(Box::new(DisruptorTx { producer }));
            }
            txs
        };
        // Dropping the last producer stops and joins the processor threads.
        Some(Pipe::new(txs, finish, shape, || {}))
    }

    fn ping_pong(&self, capacity: usize) -> Option<Box<dyn RoundTrip>> {
        // Pong: polled by the caller's thread (the crate's EventPoller).
        let (poller, pong) =
            disruptor::build_single_producer(capacity, || 0u64, BusySpin).event_poller();
        let mut pong = pong.build();
        // Ping: a processor thread that publishes each value into pong.
        let ping = disruptor::build_single_producer(capacity, || 0u64, BusySpin)
            .handle_events_with(move |value: &u64, _sequence: Sequence, _end: bool| {
                let value = *value;
                pong.publish(|slot| *slot = value);
            })
            .build();
        Some(Box::new(DisruptorEcho {
            ping: Some(ping),
            poller,
        }))
    }
}

/// A pipeline `a → b → c` or a diamond `(a, b) → c` of one producer
/// (`and_then`: the next handlers see a sequence after the ones before).
/// Only these two shapes: the builder's types follow the topology.
fn staged<E: Event>(shape: &Shape) -> Option<Pipe<E>> {
    if shape.producers != 1 || shape.consumers != 3 {
        return None;
    }
    let finish = Finish::new(shape);
    let h = || handler::<E>(finish.tally(), None);
    let builder = disruptor::build_single_producer(shape.capacity, E::default, BusySpin)
        .handle_events_with(h());
    let tx: Box<dyn Tx<E>> = match shape.delivery {
        Delivery::Pipeline => Box::new(DisruptorTx {
            producer: builder
                .and_then()
                .handle_events_with(h())
                .and_then()
                .handle_events_with(h())
                .build(),
        }),
        Delivery::Diamond => Box::new(DisruptorTx {
            producer: builder
                .handle_events_with(h())
                .and_then()
                .handle_events_with(h())
                .build(),
        }),
        Delivery::Each | Delivery::Shared => return None,
    };
    Some(Pipe::new(vec![tx], finish, shape, || {}))
}

struct DisruptorEcho {
    ping: Option<SingleProducer<u64, SingleConsumerBarrier>>,
    poller: EventPoller<u64, SingleProducerBarrier>,
}

impl RoundTrip for DisruptorEcho {
    fn round_trip(&mut self, value: u64) -> u64 {
        self.ping
            .as_mut()
            .expect("open")
            .publish(|slot| *slot = value);
        let mut wait = PatientSpin::default();
        loop {
            match self.poller.poll() {
                Ok(mut events) => {
                    let mut back = None;
                    for event in &mut events {
                        back = Some(*event);
                    }
                    if let Some(back) = back {
                        return back;
                    }
                }
                Err(Polling::NoEvents) => wait.wait(),
                Err(Polling::Shutdown) => panic!("pong disruptor shut down"),
            }
        }
    }
}

impl Drop for DisruptorEcho {
    fn drop(&mut self) {
        // Dropping ping joins its processor, which drops the pong producer.
        self.ping = None;
    }
}
