//! Starting executors, with a guard against a glommio 0.9.0 bug.
//!
//! # The bug (Roost's former "start-up stall")
//!
//! glommio 0.9.0's `LocalExecutor::run` loop (src/executor/mod.rs) first
//! polls I/O, which wakes every task whose event is ready (they are now
//! queued) and arms the preempt timer (100 ms); then `run_task_queues`
//! checks `need_preempt()` *before running anything*. If the thread was off
//! the CPU for longer than the preempt timer in between, as happens on an
//! overloaded core, the check is already true, it returns "ran nothing",
//! and `run` takes that for "idle": it consumes the timer's completion and
//! parks in io_uring with the woken tasks still queued. `Reactor::wait`
//! never looks at the task queues, so the executor sleeps until some
//! unrelated event wakes it. At start-up nothing does: executors waiting in
//! a shared-channel `connect` busy-poll (so the client shard and the
//! consensus executor, pinned to one CPU on a 2-core host, make thousands of
//! such rounds competing for it), and the one that parks has no timer yet.
//! A server then logged "serving" but never bound or served its client port
//! (seen in about 1 start in 8 under load: `scripts/stall-repro.py`). In
//! steady state the same bug delays a ready task until the next event.
//!
//! # The guard
//!
//! Every executor Roost starts runs, first, a task that sleeps on a timer of
//! [`PARK_GUARD_PERIOD`] in a loop. With a timer pending, glommio never parks
//! without a deadline: a wrongly parked executor wakes within the period,
//! its next pass finds the preempt timer freshly armed, and it runs the
//! queued tasks. Cost: one timer wake-up per period per executor. The upstream
//! fix (run before checking preemption, never park after a preempted pass)
//! is not in a glommio release yet; drop the guard once it is.

use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use std::future::Future;
use std::time::Duration;

/// Bounds how long a task can sit runnable in a parked executor. Far below
/// any client-visible timeout, far above the cost of a wake-up.
pub const PARK_GUARD_PERIOD: Duration = Duration::from_millis(20);

/// Registered io_uring buffer memory per executor. The shards do socket I/O
/// only, which does not use registered buffers.
pub const EXECUTOR_IO_MEMORY_BYTES: usize = 1 << 20;

/// Starts an executor thread named `name` on `placement` running the future
/// `make` returns, with the park guard (module doc) running beside it. The
/// guard ends when the future does.
pub fn spawn_executor<G, F, T>(
    name: &str,
    placement: Placement,
    make: G,
) -> glommio::Result<ExecutorJoinHandle<T>, ()>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    LocalExecutorBuilder::new(placement)
        .name(name)
        .io_memory(EXECUTOR_IO_MEMORY_BYTES)
        .spawn(move || async move {
            let guard = glommio::spawn_local(async {
                loop {
                    glommio::timer::sleep(PARK_GUARD_PERIOD).await;
                }
            });
            let out = make().await;
            drop(guard);
            out
        })
}
