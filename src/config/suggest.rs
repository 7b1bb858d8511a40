//! "Did you mean …?": the closest known word to a misspelt one.

/// The candidate closest to `word` by edit distance (insertions, deletions,
/// substitutions and swaps of neighbours, ignoring case), if it is close
/// enough to be a plausible typo: at most one edit per three characters,
/// and at least one.
pub(crate) fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(&word, &c.to_lowercase()), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Damerau–Levenshtein without
/// overlapping edits), over chars.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rolling rows: i-2, i-1, i.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

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
