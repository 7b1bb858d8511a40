//! A topic as the builder holds it before the engine exists: its options,
//! route, validators and event type, type-erased behind [`TopicBlueprint`]
//! until `build` makes its rings.

use std::any::{Any, TypeId};
use std::sync::Arc;

use super::TopicEntry;
use crate::error::BuildError;
use crate::group::TopicReaders;
use crate::ring::{Claimers, ReaderSpec, Ring};
use crate::topic::{
    stamped_sequences, PartitionerKind, Producer, Producers, Route, Topic, TopicOptions, Validator,
};

/// A topic once its rings exist.
pub(super) struct BuiltTopic {
    pub(super) entry: TopicEntry,
    /// Its `TopicReaders<E>`: the readers made for its groups, which they
    /// take as they start.
    pub(super) readers: Box<dyn Any>,
}

/// A topic declared on the builder.
pub(super) trait TopicBlueprint: Send {
    fn name(&self) -> &str;
    fn options(&self) -> &TopicOptions;
    /// The built-in partitioner it routes with, if it uses one.
    fn builtin_partitioner(&self) -> Option<PartitionerKind>;
    /// Bytes its rings take with `readers` groups reading them (see
    /// [`EngineBuilder::memory_budget`](super::EngineBuilder::memory_budget)).
    fn footprint(&self, readers: usize) -> u128;
    fn event_type(&self) -> (TypeId, &'static str);
    fn is_dead_letter(&self) -> bool;
    /// Adds a `Box<dyn Validator<E>>` (type checked by the builder).
    fn add_validator(&mut self, validator: Box<dyn Any + Send>);
    /// Builds the rings, read by the groups of `specs` (and with the spare
    /// slots it ends with), group `i`'s reader as `specs[i]` says (the
    /// groups it trails, by position among the topic's; lossy or not);
    /// `sampling` is the groups' latency sampling
    /// period (`None` with metrics off), which decides which events get
    /// timestamps.
    fn instantiate(
        self: Box<Self>,
        specs: &[ReaderSpec],
        sampling: Option<u32>,
    ) -> Result<BuiltTopic, BuildError>;
}

pub(super) struct TypedTopic<E> {
    pub(super) name: String,
    pub(super) options: TopicOptions,
    pub(super) route: Route<E>,
    /// Whether `route` is the options' built-in partitioner.
    pub(super) builtin: bool,
    pub(super) validators: Vec<Box<dyn Validator<E>>>,
    /// For dead-letter topics (`E = DeadLetter<X>`): the `fn(&X) -> X`
    /// copying failed events.
    pub(super) clone: Option<Box<dyn Any + Send + Sync>>,
}

impl<E> TypedTopic<E> {
    /// Who claims the sequences of its rings.
    fn claimers(&self) -> Claimers {
        match self.options.producers {
            Producers::Multi => Claimers::Shared,
            Producers::Single => Claimers::Sole,
        }
    }
}

impl<E: Send + Sync + 'static> TopicBlueprint for TypedTopic<E> {
    fn name(&self) -> &str {
        &self.name
    }

    fn options(&self) -> &TopicOptions {
        &self.options
    }

    fn builtin_partitioner(&self) -> Option<PartitionerKind> {
        self.builtin.then_some(self.options.partitioner)
    }

    fn footprint(&self, readers: usize) -> u128 {
        let TopicOptions {
            partitions,
            capacity,
            ..
        } = self.options;
        Ring::<E>::footprint(capacity, readers, self.claimers()) * u128::from(partitions)
    }

    fn event_type(&self) -> (TypeId, &'static str) {
        (TypeId::of::<E>(), std::any::type_name::<E>())
    }

    fn is_dead_letter(&self) -> bool {
        self.clone.is_some()
    }

    fn add_validator(&mut self, validator: Box<dyn Any + Send>) {
        let validator = validator
            .downcast::<Box<dyn Validator<E>>>()
            .expect("builder checked the event type");
        self.validators.push(*validator);
    }

    fn instantiate(
        self: Box<Self>,
        specs: &[ReaderSpec],
        sampling: Option<u32>,
    ) -> Result<BuiltTopic, BuildError> {
        let readers = specs.len();
        let TopicOptions {
            partitions,
            capacity,
            ..
        } = self.options;
        let too_large = |bytes| BuildError::CapacityTooLarge {
            topic: self.name.clone(),
            capacity,
            partitions,
            bytes,
        };
        // Refuse sizes no allocator could satisfy before trying: a 64-bit
        // address space cannot hold more than isize::MAX bytes per allocation.
        let total = self.footprint(readers);
        let claimers = self.claimers();
        if Ring::<E>::footprint(capacity, readers, claimers) > isize::MAX as u128 {
            return Err(too_large(total));
        }
        let timed = stamped_sequences(self.options.timestamps, sampling);
        let mut rings = Vec::with_capacity(partitions as usize);
        let mut lanes = Vec::new();
        let mut per_group: Vec<Vec<_>> = (0..readers).map(|_| Vec::new()).collect();
        for _ in 0..partitions {
            let (ring, readers, sole) = Ring::<E>::with_readers(capacity, specs, claimers, timed)
                .map_err(|_| too_large(total))?;
            rings.push(ring);
            lanes.extend(sole);
            for (list, reader) in per_group.iter_mut().zip(readers) {
                list.push(reader);
            }
        }
        let name: Arc<str> = self.name.as_str().into();
        let topic = Topic::from_parts(
            Arc::clone(&name),
            rings.into_boxed_slice(),
            self.route,
            &self.options,
            self.validators,
        );
        let producer: Option<Box<dyn Any + Send>> = (claimers == Claimers::Sole)
            .then(|| Box::new(Producer::new(Arc::clone(topic.inner()), lanes)) as _);
        let control: Arc<dyn super::TopicControl> = Arc::new(topic.clone());
        let for_groups = TopicReaders {
            topic: Arc::clone(topic.inner()),
            readers: per_group.into_iter().map(Some).collect(),
        };
        Ok(BuiltTopic {
            entry: TopicEntry {
                name: self.name,
                type_id: TypeId::of::<E>(),
                type_name: std::any::type_name::<E>(),
                handle: Box::new(topic),
                producer: parking_lot::Mutex::new(producer),
                control,
                clone: self.clone,
                dedup: None,
                spares: super::join::Spares::new(specs),
            },
            readers: Box::new(for_groups),
        })
    }
}
