//! What a publish says happened to its event.

/// What happened to a published event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Receipt {
    /// It is in its partition and every group will see it.
    Accepted {
        /// The partition it was routed to.
        partition: u32,
        /// Its sequence number in that partition.
        sequence: u64,
    },
    /// The partition was full and the topic's policy is
    /// [`FullPolicy::DropNewest`](crate::FullPolicy::DropNewest): the event was dropped and counted.
    Dropped {
        /// The partition it was routed to.
        partition: u32,
    },
}

impl Receipt {
    /// The partition the event was routed to.
    #[must_use]
    pub fn partition(&self) -> u32 {
        match *self {
            Receipt::Accepted { partition, .. } | Receipt::Dropped { partition } => partition,
        }
    }

    /// Its sequence number in the partition, unless it was dropped.
    #[must_use]
    pub fn sequence(&self) -> Option<u64> {
        match *self {
            Receipt::Accepted { sequence, .. } => Some(sequence),
            Receipt::Dropped { .. } => None,
        }
    }

    /// Whether the event was dropped by the topic's full policy.
    #[must_use]
    pub fn is_dropped(&self) -> bool {
        matches!(self, Receipt::Dropped { .. })
    }
}
