//! Keeping a partition's order across re-sends.
//!
//! A publish lost with a dying connection is re-sent after its
//! acknowledgement times out, and by then the messages sent after it on the
//! new connection may be in the stream already: the stream's order is not
//! always the export's. So each message names its place in its export's
//! chain: its id is `<chain>:<partition>:<sequence>` (the chain being
//! `<instance>:<topic>`), and its header `Veltrix: <codec> <previous>` names
//! the sequence of the message exported before it in the same partition
//! (`-` for the first; the codec is the one that wrote the payload). The
//! import puts messages back in chain
//! order: one that arrives before its predecessor waits (unacknowledged)
//! until the predecessor comes, which it does, since the export re-sends
//! every message until it is acknowledged. A predecessor that never comes
//! (its exporter stopped before it was acknowledged) is waited for up to a
//! timeout, then counted as a gap and passed over.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The header carrying a message's codec and its predecessor: one short
/// header, so the server parses and stores little more than the id.
pub(crate) const HEADER: &str = "Veltrix";

/// A message's place in its export's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) chain: String,
    pub(crate) sequence: u64,
    pub(crate) previous: Option<u64>,
}

impl Place {
    /// The `Nats-Msg-Id` of the message at `sequence` of `partition` in
    /// `chain` (`<instance>:<topic>`): the same for every re-send.
    pub(crate) fn id(chain: &str, partition: u32, sequence: u64) -> String {
        format!("{chain}:{partition}:{sequence}")
    }

    /// The `Veltrix` header of a message written by `codec` whose
    /// predecessor in its chain is `previous`.
    pub(crate) fn header(codec: &str, previous: Option<u64>) -> String {
        match previous {
            Some(p) => format!("{codec} {p}"),
            None => format!("{codec} -"),
        }
    }

    /// Reads a message's id and `Veltrix` header: the codec and the place;
    /// `None` if they are not ours.
    pub(crate) fn parse<'h>(id: &str, header: &'h str) -> Option<(&'h str, Place)> {
        let mut parts = id.rsplitn(3, ':');
        let sequence = parts.next()?.parse().ok()?;
        let _partition: u32 = parts.next()?.parse().ok()?;
        let chain = parts.next()?.to_owned();
        let (codec, previous) = header.split_once(' ')?;
        let previous = match previous {
            "-" => None,
            p => Some(p.parse().ok()?),
        };
        Some((
            codec,
            Place {
                chain,
                sequence,
                previous,
            },
        ))
    }
}

/// What to do with a message now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It is next in its chain (or starts one): import it.
    Next,
    /// Its predecessor has not come yet: hold it.
    Early,
    /// It was imported already (its sequence is at or before the chain's
    /// last): a copy, acknowledged and dropped.
    Seen,
    /// It comes after a message that followed it in its chain (its
    /// predecessor's gap was passed over): import it, out of order.
    Late,
}

/// A held message and when it began to wait.
#[derive(Debug)]
struct Held<M> {
    message: M,
    place: Place,
    since: Instant,
}

/// The chains of one partition: the last sequence imported of each, and
/// the messages waiting for their predecessor.
///
/// An import that resumes a durable consumer starts from the positions the
/// previous import saved (the last sequence of each chain whose message it
/// acknowledged): a message at or before its chain's position is a copy; one
/// whose predecessor is after it waits for the predecessor, which is a
/// message delivered to the previous import and not acknowledged, so
/// JetStream delivers it again.
#[derive(Debug)]
pub(crate) struct Chains<M> {
    last: HashMap<String, u64>,
    /// Sequences passed over after a gap timeout: (chain, after, before),
    /// both ends exclusive. A message from inside one is late, not a copy.
    gaps: Vec<(String, Option<u64>, u64)>,
    /// Keyed by (chain, the predecessor they wait for).
    held: BTreeMap<(String, u64), Held<M>>,
}

impl<M> Default for Chains<M> {
    fn default() -> Self {
        Chains::resume(HashMap::new())
    }
}

impl<M> Chains<M> {
    /// Chains that start at `positions` (chain → last sequence imported).
    pub(crate) fn resume(positions: HashMap<String, u64>) -> Self {
        Chains {
            last: positions,
            gaps: Vec::new(),
            held: BTreeMap::new(),
        }
    }

    /// Where a message at `place` stands.
    pub(crate) fn judge(&self, place: &Place) -> Verdict {
        let Some(&last) = self.last.get(&place.chain) else {
            // A chain not seen yet starts at its first message; a later one
            // waits for its predecessors (they were never acknowledged, so
            // they come), or for the gap timeout.
            return match place.previous {
                None => Verdict::Next,
                Some(_) => Verdict::Early,
            };
        };
        if place.sequence <= last {
            let passed_over = self.gaps.iter().any(|(c, after, before)| {
                c == &place.chain
                    && after.is_none_or(|a| a < place.sequence)
                    && place.sequence < *before
            });
            return if passed_over {
                Verdict::Late
            } else {
                Verdict::Seen
            };
        }
        match place.previous {
            Some(previous) if previous == last => Verdict::Next,
            Some(previous) if previous > last => Verdict::Early,
            // After its chain's last, with a predecessor before it (or none):
            // the chain went on without it.
            _ => Verdict::Late,
        }
    }

    /// Holds `message` until its predecessor is imported.
    pub(crate) fn hold(&mut self, place: Place, message: M, now: Instant) {
        if let Some(previous) = place.previous {
            self.held.insert(
                (place.chain.clone(), previous),
                Held {
                    message,
                    place,
                    since: now,
                },
            );
        }
    }

    /// Records that the message at `place` was imported (or set aside), and
    /// returns its successor if it was waiting.
    pub(crate) fn imported(&mut self, place: &Place) -> Option<(Place, M)> {
        // A late message does not move the chain back.
        match self.last.get_mut(&place.chain) {
            Some(last) => *last = (*last).max(place.sequence),
            None => {
                self.last.insert(place.chain.clone(), place.sequence);
            }
        }
        if self.held.is_empty() {
            return None;
        }
        self.held
            .remove(&(place.chain.clone(), place.sequence))
            .map(|h| (h.place, h.message))
    }

    /// Takes every waiting message out (the import is stopping).
    pub(crate) fn drain_held(&mut self) -> Vec<M> {
        std::mem::take(&mut self.held)
            .into_values()
            .map(|h| h.message)
            .collect()
    }

    /// Whether any message is waiting.
    pub(crate) fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// The message that has waited longest, if it has waited `timeout`: its
    /// predecessor is given up on. Returns it, with the sequence imported
    /// last in its chain (the gap lies between).
    pub(crate) fn give_up(&mut self, now: Instant, timeout: Duration) -> Option<(Place, M, u64)> {
        let key = self
            .held
            .iter()
            .filter(|(_, h)| now.duration_since(h.since) >= timeout)
            .min_by_key(|(_, h)| h.since)
            .map(|(k, _)| k.clone())?;
        let held = self.held.remove(&key)?;
        let last = self.last.get(&held.place.chain).copied();
        self.gaps
            .push((held.place.chain.clone(), last, held.place.sequence));
        if self.gaps.len() > 64 {
            self.gaps.remove(0);
        }
        Some((held.place, held.message, last.unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn place(sequence: u64, previous: Option<u64>) -> Place {
        Place {
            chain: "a:t".into(),
            sequence,
            previous,
        }
    }

    #[test]
    fn the_id_and_header_round_trip() {
        for p in [place(7, Some(3)), place(0, None)] {
            let id = Place::id(&p.chain, 2, p.sequence);
            let header = Place::header("json", p.previous);
            assert_eq!(Place::parse(&id, &header), Some(("json", p)));
        }
        let (codec, colons) = Place::parse("a:b:c:4:5", "postcard 4").unwrap();
        assert_eq!(
            (
                codec,
                colons.chain.as_str(),
                colons.sequence,
                colons.previous
            ),
            ("postcard", "a:b:c", 5, Some(4))
        );
        for (id, header) in [
            ("", "json -"),
            ("a:1", "json -"),
            ("a:x:1", "json -"),
            ("a:1:1", "json"),
            ("a:1:1", "json x"),
        ] {
            assert_eq!(Place::parse(id, header), None, "{id:?} {header:?}");
        }
    }

    /// Offers messages in `arrival` order and returns the order they are
    /// imported in.
    fn replay(arrival: &[Place]) -> Vec<u64> {
        let mut chains = Chains::default();
        let now = Instant::now();
        let mut out = Vec::new();
        for p in arrival {
            match chains.judge(p) {
                Verdict::Early => chains.hold(p.clone(), p.sequence, now),
                Verdict::Seen => {}
                Verdict::Next | Verdict::Late => {
                    let mut next = Some((p.clone(), p.sequence));
                    while let Some((place, seq)) = next {
                        out.push(seq);
                        next = chains.imported(&place);
                    }
                }
            }
        }
        assert!(!chains.is_holding());
        out
    }

    #[test]
    fn a_message_resent_after_its_successors_is_put_back_in_front_of_them() {
        // 0 1 2, then 3 lost; 4 5 stored; 3 re-sent.
        let chain: Vec<Place> = (0..6).map(|s| place(s, s.checked_sub(1))).collect();
        let arrival = [0, 1, 2, 4, 5, 3].map(|i| chain[i].clone());
        assert_eq!(replay(&arrival), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn gaps_in_sequence_numbers_are_not_gaps_in_the_chain() {
        // Sequence 2 was never exported (refused by the codec).
        let arrival = [place(0, None), place(1, Some(0)), place(3, Some(1))];
        assert_eq!(replay(&arrival), vec![0, 1, 3]);
    }

    #[test]
    fn a_predecessor_that_never_comes_is_given_up_after_the_timeout() {
        let mut chains = Chains::default();
        let start = Instant::now();
        chains.imported(&place(0, None));
        let early = place(2, Some(1));
        assert_eq!(chains.judge(&early), Verdict::Early);
        chains.hold(early, "two", start);
        assert!(chains.give_up(start, Duration::from_secs(1)).is_none());
        let (place, message, last) = chains
            .give_up(start + Duration::from_secs(1), Duration::from_secs(1))
            .unwrap();
        assert_eq!((place.sequence, message, last), (2, "two", 0));
        assert!(chains.imported(&place).is_none());
        // Sequence 1 turns up after all: late, out of order, not lost; 2
        // again is a copy.
        assert_eq!(
            chains.judge(&super::tests::place(1, Some(0))),
            Verdict::Late
        );
        assert_eq!(
            chains.judge(&super::tests::place(2, Some(1))),
            Verdict::Seen
        );
    }

    #[test]
    fn a_resumed_import_drops_what_was_imported_and_waits_for_what_was_not() {
        // The previous import acknowledged up to 47 and left 48 unacknowledged;
        // the new one gets 46 (a copy), 49 and 50, then 48 again.
        let mut chains = Chains::resume(HashMap::from([("a:t".to_owned(), 47)]));
        let now = Instant::now();
        assert_eq!(chains.judge(&place(46, Some(45))), Verdict::Seen);
        assert_eq!(chains.judge(&place(47, Some(46))), Verdict::Seen);
        for s in [49, 50] {
            let p = place(s, Some(s - 1));
            assert_eq!(chains.judge(&p), Verdict::Early);
            chains.hold(p, s, now);
        }
        let p48 = place(48, Some(47));
        assert_eq!(chains.judge(&p48), Verdict::Next);
        let mut out = vec![48];
        let mut next = chains.imported(&p48);
        while let Some((place, seq)) = next {
            out.push(seq);
            next = chains.imported(&place);
        }
        assert_eq!(out, vec![48, 49, 50]);
        assert!(!chains.is_holding());
        // A chain never imported waits for its first message.
        let other = Place {
            chain: "b:t".into(),
            sequence: 7,
            previous: Some(6),
        };
        assert_eq!(chains.judge(&other), Verdict::Early);
    }

    proptest! {
        /// Any arrival order in which each message is displaced by at most
        /// `max_shift` places (what re-sends of a window produce), with
        /// copies of some messages arriving again after they were imported
        /// (redeliveries), comes out in chain order, every message once.
        #[test]
        fn bounded_reorderings_come_out_in_chain_order(
            len in 1usize..200,
            shifts in proptest::collection::vec(0usize..16, 200),
            copies in proptest::collection::vec((0usize..200, 0usize..64), 0..20),
        ) {
            let chain: Vec<Place> = (0..len as u64).map(|s| place(s, s.checked_sub(1))).collect();
            // Each message gets a key of its index plus a shift; stable sort
            // by key, with the first message kept first (a chain is picked
            // up where it starts).
            let mut order: Vec<usize> = (0..len).collect();
            order[1..].sort_by_key(|&i| i + shifts[i]);
            let mut arrival: Vec<Place> = order.iter().map(|&i| chain[i].clone()).collect();
            // A copy of message i arrives again, `delay` places after the
            // latest of i and its predecessors (by then it was imported).
            for (i, delay) in copies {
                let i = i % len;
                let imported_by = (0..=i)
                    .map(|j| arrival.iter().position(|p| p.sequence == j as u64).unwrap())
                    .max()
                    .unwrap();
                let at = (imported_by + 1 + delay).min(arrival.len());
                arrival.insert(at, chain[i].clone());
            }
            prop_assert_eq!(replay(&arrival), (0..len as u64).collect::<Vec<_>>());
        }
    }
}
