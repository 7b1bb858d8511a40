//! Throughput of every scenario through every peer (criterion).
//!
//! One iteration is one event: `iter_custom` moves `iters` events through
//! an already open pipe and times only the transfer (see `peers`). Run with
//! `cargo bench --bench throughput [-- FILTER]`; for the side-by-side table
//! and the targets, run `examples/bench_vs_peers.rs` instead.

mod peers;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use peers::{peers, scenarios, Ev64, Event, Payload, Scenario};

fn scenario<E: Event>(c: &mut Criterion, scenario: &Scenario) {
    let mut group = c.benchmark_group(scenario.id);
    group.throughput(Throughput::Elements(1));
    for peer in peers::<E>() {
        if scenario.veltrix_only && !peer.name().starts_with("veltrix") {
            continue;
        }
        let Some(mut pipe) = peer.open(&scenario.shape) else {
            continue;
        };
        let id = format!("{} ({})", peer.name(), peer.wait().label());
        group.bench_function(id, |b| b.iter_custom(|iters| pipe.transfer(iters)));
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    for s in scenarios() {
        match s.payload {
            Payload::U64 => scenario::<u64>(c, &s),
            Payload::Bytes64 => scenario::<Ev64>(c, &s),
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = throughput
}
criterion_main!(benches);
