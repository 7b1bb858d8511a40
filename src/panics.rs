//! Keeping the panics veltrix catches out of stderr, on request.
//!
//! A listener that panics is caught and handled by its group's failure
//! policy: counted, retried, dead-lettered with the panic message, logged
//! through `tracing`. But Rust's default panic hook still prints the
//! message and a backtrace (with `RUST_BACKTRACE` set) for every attempt
//! before veltrix catches it, which on a game-loop thread looks like a
//! crash. [`quiet_listener_panics`] installs a hook that says nothing for
//! the panics veltrix is about to catch and hands every other panic to the
//! hook that was installed before it.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

/// Whether the quiet hook is installed: until it is, [`catch`] marks
/// nothing (one load of a line that never changes afterwards).
static QUIET: AtomicBool = AtomicBool::new(false);

static INSTALL: Once = Once::new();

thread_local! {
    /// How many [`catch`] calls this thread is inside (with `QUIET` set).
    static CATCHING: Cell<u32> = const { Cell::new(0) };
}

/// Installs, once per process, a panic hook that stays silent for panics
/// of listener code that veltrix catches (`on_event`, `on_start`,
/// `on_batch_end`, `on_shutdown`, de-duplication id functions, the
/// `Display` and `Drop` of listener errors, dead-letter copies) and passes
/// every other panic to the hook installed before it: the default one, or
/// the host's own if it set one first. So call it after installing your
/// own hook, at startup. Later calls do nothing.
///
/// What a silenced panic says is not lost: its message is in the
/// dead letter ([`DeadLetter::error`](crate::DeadLetter)), it is counted in
/// the group's `failures`, and with feature `tracing` it is in the failure
/// event. Panics veltrix does not catch (anywhere else, including
/// veltrix's own code and the `Drop` of events the rings hold) still
/// reach the previous hook.
///
/// # Examples
///
/// ```
/// use veltrix::{Engine, GroupOptions, TopicOptions};
///
/// veltrix::quiet_listener_panics();
/// let engine = Engine::builder()
///     .topic::<u32>("t", TopicOptions::new(1))
///     .subscribe("g", "t", GroupOptions::poll(), |_| {
///         veltrix::listener::from_fn(|_: &u32, _| -> Result<(), veltrix::ListenerError> {
///             panic!("bad event")
///         })
///     })
///     .build()?;
/// engine.topic::<u32>("t")?.publish(1)?;
/// engine.poller("g")?.poll(10); // caught, counted, skipped; nothing printed
/// assert_eq!(engine.shutdown().group("g").unwrap().failures, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn quiet_listener_panics() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // `try_with`: a panic while this thread's locals are being torn
            // down is not one veltrix catches.
            let caught = CATCHING.try_with(|c| c.get() > 0).unwrap_or(false);
            if !caught {
                previous(info);
            }
        }));
        QUIET.store(true, Ordering::Release);
    });
}

/// `catch_unwind` for user code whose panic veltrix handles: marks the
/// thread as catching while `f` runs (when the quiet hook is installed),
/// so the hook stays silent.
#[inline]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    catcher().catch(f)
}

/// [`catch`] with the check for the quiet hook made once, for a loop that
/// catches many calls (a batch of events): the hook is looked up when the
/// loop begins, so one installed during the loop silences from the next.
#[inline]
pub(crate) fn catcher() -> Catcher {
    Catcher {
        quiet: QUIET.load(Ordering::Relaxed),
    }
}

/// What [`catcher`] found: whether catches must mark the thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Catcher {
    quiet: bool,
}

impl Catcher {
    /// `catch_unwind` for user code whose panic veltrix handles (see
    /// [`catch`]).
    #[inline(always)]
    pub(crate) fn catch<R>(self, f: impl FnOnce() -> R) -> std::thread::Result<R> {
        if !self.quiet {
            return panic::catch_unwind(AssertUnwindSafe(f));
        }
        CATCHING.with(|c| c.set(c.get() + 1));
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        CATCHING.with(|c| c.set(c.get() - 1));
        result
    }
}
