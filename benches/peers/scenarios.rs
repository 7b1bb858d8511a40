//! The scenarios of the comparison, shared by the criterion benches and the
//! example so both measure the same things.

use super::Shape;

/// Slots of buffering every peer gets (veltrix's default ring size).
pub const CAPACITY: usize = 1024;

/// Events per batch publish.
pub const BATCH: usize = 64;

/// Which event type a scenario moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// `u64`.
    U64,
    /// [`Ev64`](super::Ev64).
    Bytes64,
}

/// One throughput scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Stable id (bench group name, chart label).
    pub id: &'static str,
    /// Column title in reports.
    pub title: &'static str,
    /// Event type.
    pub payload: Payload,
    /// Topology.
    pub shape: Shape,
    /// Only veltrix configurations run it (a comparison of veltrix with
    /// itself).
    pub veltrix_only: bool,
}

const fn scenario(id: &'static str, title: &'static str, shape: Shape) -> Scenario {
    Scenario {
        id,
        title,
        payload: Payload::U64,
        shape,
        veltrix_only: false,
    }
}

/// Every throughput scenario, in report order.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        scenario("spsc_u64", "SPSC u64", Shape::spsc(CAPACITY)),
        Scenario {
            payload: Payload::Bytes64,
            ..scenario("spsc_64b", "SPSC 64 B", Shape::spsc(CAPACITY))
        },
        scenario(
            "spsc_batch64",
            "SPSC batch 64",
            Shape::spsc(CAPACITY).batched(BATCH),
        ),
        scenario("mpsc_2p1c", "2P → 1C", Shape::mpsc(2, CAPACITY)),
        scenario("fanout_3", "fan-out ×3", Shape::fan_out(3, CAPACITY)),
        scenario("mpmc_4p2c", "4P → 2C", Shape::mpmc(4, 2, CAPACITY)),
        scenario("pipeline_3", "pipeline a→b→c", Shape::pipeline(3, CAPACITY)),
        scenario("diamond", "diamond (a,b)→c", Shape::diamond(2, CAPACITY)),
        Scenario {
            veltrix_only: true,
            ..scenario(
                "lossy_stalled",
                "+ stalled lossy",
                Shape::spsc(CAPACITY).with_stalled_lossy(),
            )
        },
        Scenario {
            veltrix_only: true,
            ..scenario("partitions_1", "1 partition", Shape::spsc(CAPACITY))
        },
        Scenario {
            veltrix_only: true,
            ..scenario(
                "partitions_64",
                "64 partitions",
                Shape::spsc(CAPACITY).partitioned(64),
            )
        },
    ]
}
