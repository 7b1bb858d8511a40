//! Event validators: checks a topic runs on every publish.

/// Checks events on publish. A rejected event comes back to the publisher
/// inside [`PublishError::Invalid`](crate::PublishError::Invalid) with the
/// validator's reason, and is counted in the topic's `invalid` count.
///
/// # Correctness
///
/// Runs on the publishing thread, before the event is partitioned: keep it
/// cheap and free of side effects. A panicking validator is a bug in it; the
/// panic propagates to the publisher.
///
/// # Examples
///
/// ```
/// use veltrix::Validator;
///
/// struct Price { cents: i64 }
///
/// struct NonNegative;
///
/// impl Validator<Price> for NonNegative {
///     fn validate(&self, p: &Price) -> Result<(), String> {
///         if p.cents < 0 {
///             return Err(format!("price {} is negative; prices are >= 0 cents", p.cents));
///         }
///         Ok(())
///     }
/// }
///
/// assert!(NonNegative.validate(&Price { cents: -5 }).is_err());
/// ```
pub trait Validator<E>: Send + Sync + 'static {
    /// `Ok(())` to accept, or the reason to reject.
    ///
    /// # Errors
    ///
    /// The reason `event` is not acceptable, for the publisher to read.
    fn validate(&self, event: &E) -> Result<(), String>;
}

impl<E, F> Validator<E> for F
where
    F: Fn(&E) -> Result<(), String> + Send + Sync + 'static,
{
    fn validate(&self, event: &E) -> Result<(), String> {
        self(event)
    }
}
