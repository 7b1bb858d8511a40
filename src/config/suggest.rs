//! "Did you mean …?": the closest known word to a misspelt one.

use std::borrow::Cow;

/// The candidate closest to `word` by optimal string alignment distance
/// ([`strsim::osa_distance`]: insertions, deletions, substitutions and swaps
/// of neighbours, no substring edited twice), ignoring case, if it is close
/// enough to be a plausible typo: at most one edit per three characters,
/// and at least one. The first of equally close candidates wins.
///
/// Each candidate costs at most `O(len(word) × len(candidate))`, and one
/// whose length differs from the word's by more than the limit costs only
/// counting its chars: it is skipped unmeasured, since the distance is at
/// least that difference (a huge unknown key against the short known ones
/// is never measured).
pub(crate) fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word = word.to_lowercase();
    let length = word.chars().count();
    let limit = (length / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let lower = lower_case(candidate);
        if lower.chars().count().abs_diff(length) > limit {
            continue;
        }
        let d = strsim::osa_distance(&word, &lower);
        if d <= limit && best.is_none_or(|(closest, _)| d < closest) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `text` in lower case, copied only if it is not already (known keys and
/// most names are).
fn lower_case(text: &str) -> Cow<'_, str> {
    if text
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_a_swap_as_one_edit() {
        // The rule the threshold was set for: a swap of neighbours is one
        // typo, not two.
        assert_eq!(strsim::osa_distance("capacity", "capacity"), 0);
        assert_eq!(strsim::osa_distance("capasity", "capacity"), 1);
        assert_eq!(strsim::osa_distance("capcaity", "capacity"), 1);
        assert_eq!(strsim::osa_distance("", "abc"), 3);
        assert_eq!(strsim::osa_distance("partitons", "partitions"), 1);
    }

    #[test]
    fn suggests_only_close_words() {
        let keys = ["partitions", "capacity", "partitioner", "timestamps"];
        assert_eq!(did_you_mean("capasity", keys), Some("capacity"));
        assert_eq!(did_you_mean("Partitons", keys), Some("partitions"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("", keys), None);
    }

    #[test]
    fn the_first_of_equally_close_wins_and_case_is_ignored() {
        assert_eq!(did_you_mean("cat", ["bat", "cap"]), Some("bat"));
        assert_eq!(did_you_mean("cat", ["cap", "bat"]), Some("cap"));
        assert_eq!(did_you_mean("ORDRES", ["Orders"]), Some("Orders"));
        // Past the length limit: not measured, not suggested.
        assert_eq!(did_you_mean(&"x".repeat(10_000), ["x"]), None);
    }
}
