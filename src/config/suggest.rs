//! "Did you mean …?": the closest known word to a misspelt one.

/// The candidate closest to `word` by edit distance (insertions, deletions,
/// substitutions and swaps of neighbours, ignoring case), if it is close
/// enough to be a plausible typo: at most one edit per three characters,
/// and at least one. The first of equally close candidates wins.
///
/// Each candidate costs at most `O(len(word) × len(candidate))` and
/// usually much less: one whose length differs from the word's by more than
/// the limit is skipped unmeasured (the distance is at least that
/// difference), a measurement stops once every alignment is past the limit,
/// and the work rows are allocated once per call, not per candidate.
pub(crate) fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word: Vec<char> = word.to_lowercase().chars().collect();
    let limit = (word.len() / 3).max(1);
    let mut work = Work::default();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        work.candidate.clear();
        if candidate
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        {
            // Already lower case: no copy.
            work.candidate.extend(candidate.chars());
        } else {
            work.candidate.extend(candidate.to_lowercase().chars());
        }
        if work.candidate.len().abs_diff(word.len()) > limit {
            continue;
        }
        if let Some(d) = work.distance(&word, limit) {
            if best.is_none_or(|(closest, _)| d < closest) {
                best = Some((d, candidate));
            }
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// Buffers of one [`did_you_mean`] call, reused for every candidate.
#[derive(Default)]
struct Work {
    /// The candidate, lower-cased, as chars.
    candidate: Vec<char>,
    /// Three rolling rows of the distance table: i-2, i-1, i.
    before: Vec<usize>,
    previous: Vec<usize>,
    current: Vec<usize>,
}

impl Work {
    /// Optimal string alignment distance (Damerau–Levenshtein without
    /// overlapping edits) from `word` to `self.candidate`, if it is at most
    /// `limit`.
    fn distance(&mut self, word: &[char], limit: usize) -> Option<usize> {
        let (a, b) = (word, &self.candidate);
        let width = b.len() + 1;
        for row in [&mut self.before, &mut self.previous, &mut self.current] {
            row.clear();
            row.resize(width, 0);
        }
        self.previous
            .iter_mut()
            .enumerate()
            .for_each(|(j, d)| *d = j);
        let mut previous_min = 0;
        for i in 1..=a.len() {
            self.current[0] = i;
            let mut row_min = i;
            for j in 1..width {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (self.previous[j] + 1)
                    .min(self.current[j - 1] + 1)
                    .min(self.previous[j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(self.before[j - 2] + 1);
                }
                self.current[j] = best;
                row_min = row_min.min(best);
            }
            // Every cell is at least the least of the row above, or of the
            // row two above plus one: once two rows running are past the
            // limit, so is every later row, and the distance with them.
            if row_min > limit && previous_min > limit {
                return None;
            }
            previous_min = row_min;
            std::mem::swap(&mut self.before, &mut self.previous);
            std::mem::swap(&mut self.previous, &mut self.current);
        }
        let d = self.previous[b.len()];
        (d <= limit).then_some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance(a: &str, b: &str) -> usize {
        let mut work = Work {
            candidate: b.chars().collect(),
            ..Work::default()
        };
        let a: Vec<char> = a.chars().collect();
        work.distance(&a, usize::MAX).unwrap_or(usize::MAX)
    }

    #[test]
    fn distances() {
        assert_eq!(distance("capacity", "capacity"), 0);
        assert_eq!(distance("capasity", "capacity"), 1);
        assert_eq!(distance("capcaity", "capacity"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("partitons", "partitions"), 1);
    }

    #[test]
    fn suggests_only_close_words() {
        let keys = ["partitions", "capacity", "partitioner", "timestamps"];
        assert_eq!(did_you_mean("capasity", keys), Some("capacity"));
        assert_eq!(did_you_mean("Partitons", keys), Some("partitions"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("", keys), None);
    }
}
