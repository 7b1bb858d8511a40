//! Partition assignment: which worker of a group reads which partitions.
//!
//! Every partition goes to exactly one worker, so one partition is never
//! handled by two workers of a group at once and its order holds.

use super::Assignment;

/// The partitions of each of `workers` workers (some may get none when there
/// are more workers than partitions), each list in increasing order.
pub(crate) fn assign(partitions: u32, workers: usize, strategy: Assignment) -> Vec<Vec<u32>> {
    let workers = workers.max(1);
    let mut out = vec![Vec::new(); workers];
    match strategy {
        Assignment::Range => {
            let per = partitions as usize / workers;
            let extra = partitions as usize % workers;
            let mut next = 0u32;
            for (w, list) in out.iter_mut().enumerate() {
                let count = per + usize::from(w < extra);
                list.extend(next..next + count as u32);
                next += count as u32;
            }
        }
        Assignment::RoundRobin => {
            for p in 0..partitions {
                out[p as usize % workers].push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_contiguous_and_balanced() {
        assert_eq!(
            assign(8, 3, Assignment::Range),
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]
        );
    }

    #[test]
    fn round_robin_deals_in_turn() {
        assert_eq!(
            assign(5, 2, Assignment::RoundRobin),
            vec![vec![0, 2, 4], vec![1, 3]]
        );
    }

    #[test]
    fn every_partition_exactly_once() {
        for strategy in [Assignment::Range, Assignment::RoundRobin] {
            for partitions in 1..20 {
                for workers in 1..10 {
                    let mut all: Vec<u32> = assign(partitions, workers, strategy)
                        .into_iter()
                        .flatten()
                        .collect();
                    all.sort_unstable();
                    assert_eq!(all, (0..partitions).collect::<Vec<_>>());
                }
            }
        }
    }
}
