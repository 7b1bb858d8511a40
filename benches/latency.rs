//! Ping-pong round trip through every peer that can echo (criterion).
//!
//! The measuring thread publishes a value and waits for a second thread to
//! send it back; `iter_custom` times `iters` round trips, so criterion
//! reports the mean round trip. Percentiles (p50/p99/p99.9) are in
//! `examples/bench_vs_peers.rs`.

mod peers;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use peers::{peers, CAPACITY};

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_pong");
    group.throughput(Throughput::Elements(1));
    for peer in peers::<u64>() {
        let Some(mut echo) = peer.ping_pong(CAPACITY) else {
            continue;
        };
        let mut next = 0u64;
        let id = format!("{} ({})", peer.name(), peer.wait().label());
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    next += 1;
                    black_box(echo.round_trip(next));
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = ping_pong
}
criterion_main!(benches);
