//! Publish times of the sampled sequences of a ring, kept beside its slots
//! rather than in them.
//!
//! Only the events whose latency is measured need a publish time: one
//! sequence in `mask + 1` (`seq & mask == 0`). Keeping that time in every
//! slot would make a slot of a `u64` event three words instead of one, and
//! three times as many cache lines would move from producer to reader per
//! event (the Disruptor stores the bare event for the same reason). So a
//! ring keeps one word per *sampled* sequence in a small array of its own,
//! indexed so that the entry of `seq` is next reused by `seq + capacity` or
//! later: the same gating that frees a slot frees its entry.
//!
//! The entries are atomics written and read `Relaxed`: the producer stores
//! a time between its claim and its publish, a reader loads it after it saw
//! the slot published (the slot's `Acquire`), so the publish orders both,
//! and no `unsafe` is needed here.

use crate::loom::{AtomicU64, Ordering};

/// One publish time per sampled sequence of a ring.
pub(crate) struct Times {
    /// `seq & mask == 0` marks a sampled sequence; `mask + 1` is a power of
    /// two.
    mask: u64,
    /// `log2(mask + 1)`: sampled sequence `seq` is number `seq >> shift`.
    shift: u32,
    /// A power-of-two number of entries (`capacity / (mask + 1)`, at least
    /// one); empty when nothing is sampled.
    entries: Box<[AtomicU64]>,
}

impl Times {
    /// Times for a ring of `capacity` slots (a power of two) whose sequences
    /// with `seq & mask == 0` are sampled (`mask + 1` a power of two), or
    /// for none (`None`).
    pub(crate) fn new(capacity: u64, mask: Option<u64>) -> Self {
        let Some(mask) = mask else {
            return Times {
                mask: u64::MAX,
                shift: 0,
                entries: Box::new([]),
            };
        };
        debug_assert!(
            mask.checked_add(1).is_none_or(u64::is_power_of_two),
            "a sampling mask is a power of two minus one"
        );
        let shift = mask.trailing_ones();
        let len = capacity.checked_shr(shift).unwrap_or(0).max(1);
        Times {
            mask,
            shift,
            entries: (0..len).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether any sequence is sampled.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        !self.entries.is_empty()
    }

    /// This layout as a copy a loop over many sequences keeps in
    /// registers (a ring is shared and mutable inside, so the compiler
    /// would otherwise load these fields again for every event).
    #[inline(always)]
    pub(crate) fn view(&self) -> TimesView<'_> {
        TimesView {
            mask: self.mask,
            shift: self.shift,
            entries: &self.entries,
        }
    }

    /// Records `now()` as the publish time of `seq` if it is sampled (the
    /// clock is read only then). Called between the claim of `seq` and its
    /// publish.
    #[inline]
    pub(crate) fn record(&self, seq: u64, now: impl FnOnce() -> u64) {
        self.view().record(seq, now);
    }

    /// Records `time` for every sampled sequence of `start..start + n`.
    #[inline]
    pub(crate) fn record_run(&self, start: u64, n: u64, time: u64) {
        if !self.any() {
            return;
        }
        let end = start.saturating_add(n);
        let Some(step) = self.mask.checked_add(1) else {
            // An all-ones mask samples sequence 0 alone.
            if start == 0 && n > 0 {
                self.record(0, || time);
            }
            return;
        };
        // The first sampled sequence at or after `start`.
        let mut seq = match start.checked_add(self.mask) {
            Some(s) => s & !self.mask,
            None => return,
        };
        while seq < end {
            self.record(seq, || time);
            match seq.checked_add(step) {
                Some(next) => seq = next,
                None => break,
            }
        }
    }

    /// The publish time recorded for `seq` (0 = none), if it is sampled.
    /// Called while the slot of `seq` is borrowed by a reader.
    #[cfg(test)]
    pub(crate) fn get(&self, seq: u64) -> u64 {
        self.view().get(seq)
    }
}

/// A [`Times`] borrowed for a loop: the same entries, read the same way.
#[derive(Clone, Copy)]
pub(crate) struct TimesView<'a> {
    mask: u64,
    shift: u32,
    entries: &'a [AtomicU64],
}

impl<'a> TimesView<'a> {
    /// The entry of `seq`, if it is sampled.
    #[inline(always)]
    fn entry(self, seq: u64) -> Option<&'a AtomicU64> {
        if self.entries.is_empty() || seq & self.mask != 0 {
            return None;
        }
        // `entries.len()` is a power of two.
        let index = seq.checked_shr(self.shift).unwrap_or(0) & (self.entries.len() as u64 - 1);
        self.entries.get(index as usize)
    }

    /// As [`Times::record`].
    #[inline(always)]
    pub(crate) fn record(self, seq: u64, now: impl FnOnce() -> u64) {
        if let Some(entry) = self.entry(seq) {
            // Relaxed: the slot's publish (Release) orders it for readers.
            entry.store(now(), Ordering::Relaxed);
        }
    }

    /// The publish time recorded for `seq` (0 = none), if it is sampled.
    /// Called while the slot of `seq` is borrowed by a reader.
    #[inline(always)]
    pub(crate) fn get(self, seq: u64) -> u64 {
        // Relaxed: the reader's Acquire load that saw the slot published
        // ordered the store before it.
        self.entry(seq).map_or(0, |e| e.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for TimesView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimesView")
            .field("mask", &self.mask)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl std::fmt::Debug for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Times")
            .field("mask", &self.mask)
            .field("entries", &self.entries.len())
            .finish()
    }
}

#[cfg(all(test, not(veltrix_loom)))]
mod tests {
    use super::Times;

    #[test]
    fn nothing_sampled_records_nothing_and_reads_no_clock() {
        let times = Times::new(8, None);
        assert!(!times.any());
        times.record(0, || panic!("no clock read when nothing is sampled"));
        times.record_run(0, 100, 7);
        assert_eq!(times.get(0), 0);
    }

    #[test]
    fn every_sequence_sampled() {
        let times = Times::new(4, Some(0));
        for seq in 0..4 {
            times.record(seq, || seq + 100);
        }
        for seq in 0..4 {
            assert_eq!(times.get(seq), seq + 100);
        }
        // The next lap reuses the entries.
        times.record(5, || 9);
        assert_eq!(times.get(5), 9);
        assert_eq!(times.get(1), 9, "seq 1 and seq 5 share an entry");
    }

    #[test]
    fn sparse_sampling_keeps_unsampled_sequences_untimed() {
        let times = Times::new(64, Some(15));
        times.record(3, || panic!("sequence 3 is not sampled"));
        times.record(16, || 42);
        assert_eq!(times.get(16), 42);
        assert_eq!(times.get(17), 0);
        assert_eq!(times.get(0), 0);
    }

    #[test]
    fn sampling_rarer_than_a_lap_uses_one_entry() {
        // One sampled sequence in 64 on an 8-slot ring: entries are reused
        // 64 sequences apart, more than a lap.
        let times = Times::new(8, Some(63));
        times.record(64, || 5);
        assert_eq!(times.get(64), 5);
        assert_eq!(times.get(128), 5, "shared entry, a lap and more later");
        let never = Times::new(8, Some(u64::MAX));
        never.record(0, || 1);
        assert_eq!(never.get(0), 1, "sequence 0 is always sampled");
        never.record(1, || panic!("only sequence 0 matches an all-ones mask"));
    }

    #[test]
    fn runs_record_their_sampled_sequences_only() {
        let times = Times::new(64, Some(3));
        times.record_run(1, 10, 77);
        for seq in 0..16 {
            let expect = if seq % 4 == 0 && (1..11).contains(&seq) {
                77
            } else {
                0
            };
            assert_eq!(times.get(seq), expect, "sequence {seq}");
        }
        times.record_run(u64::MAX - 2, 2, 1);
    }
}
