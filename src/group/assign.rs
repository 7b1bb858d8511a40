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

/// A cooperative-sticky reassignment of `partitions` partitions to
/// `workers` workers, from `current[w]`, what worker `w` holds now (workers
/// at or past `workers` give everything up). Worker `w`'s share is
/// `partitions / workers`, one more for the first `partitions % workers`;
/// each worker keeps as many of its partitions as its share allows (its
/// lowest), and only what it cannot keep, or what a leaving worker held,
/// moves: to the workers below their share, lowest partition first. Each
/// list comes back in increasing order.
pub(crate) fn rebalance(current: &[Vec<u32>], partitions: u32, workers: usize) -> Vec<Vec<u32>> {
    let workers = workers.max(1);
    let share =
        |w: usize| partitions as usize / workers + usize::from(w < partitions as usize % workers);
    let mut kept = vec![false; partitions as usize];
    let mut out: Vec<Vec<u32>> = (0..workers)
        .map(|w| {
            let mut mine: Vec<u32> = current
                .get(w)
                .into_iter()
                .flatten()
                .copied()
                .filter(|&p| p < partitions && !kept[p as usize])
                .collect();
            mine.sort_unstable();
            mine.truncate(share(w));
            for &p in &mine {
                kept[p as usize] = true;
            }
            mine
        })
        .collect();
    let mut free = (0..partitions).filter(|&p| !kept[p as usize]);
    for (w, list) in out.iter_mut().enumerate() {
        while list.len() < share(w) {
            list.extend(free.next());
        }
        list.sort_unstable();
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
    fn rebalance_keeps_what_fits_and_moves_the_rest() {
        // 1 -> 4: the first worker keeps its lowest share.
        let one = vec![(0..8).collect::<Vec<u32>>()];
        let four = rebalance(&one, 8, 4);
        assert_eq!(four, vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]]);
        // 4 -> 2: workers 0 and 1 keep theirs and take the leavers'.
        assert_eq!(
            rebalance(&four, 8, 2),
            vec![vec![0, 1, 4, 5], vec![2, 3, 6, 7]]
        );
        // 2 -> 3: only what is over a share moves.
        let two = vec![vec![0, 2, 4, 6], vec![1, 3, 5, 7]];
        assert_eq!(
            rebalance(&two, 8, 3),
            vec![vec![0, 2, 4], vec![1, 3, 5], vec![6, 7]]
        );
    }

    proptest::proptest! {
        #[test]
        fn rebalance_gives_each_partition_once_and_moves_no_more_than_needed(
            partitions in 1u32..40,
            from in 1usize..10,
            to in 1usize..10,
        ) {
            let current = assign(partitions, from, Assignment::RoundRobin);
            let next = rebalance(&current, partitions, to);
            proptest::prop_assert_eq!(next.len(), to);
            let mut all: Vec<u32> = next.iter().flatten().copied().collect();
            all.sort_unstable();
            proptest::prop_assert_eq!(all, (0..partitions).collect::<Vec<_>>());
            for (w, list) in next.iter().enumerate() {
                let share = partitions as usize / to + usize::from(w < partitions as usize % to);
                proptest::prop_assert_eq!(list.len(), share);
                // Sticky: a staying worker keeps all it had, up to its share.
                if let Some(had) = current.get(w) {
                    let kept = list.iter().filter(|p| had.contains(p)).count();
                    proptest::prop_assert_eq!(kept, had.len().min(share));
                }
            }
        }
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
