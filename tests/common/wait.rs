//! The one way tests wait: bounded polling for a condition (never a bare
//! sleep before an assertion), and bounded retrying of an async operation.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is looked at again.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// Whether `cond` held within `limit`, polled every [`POLL_EVERY`].
pub fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Waits until `cond` holds; after `limit`, fails the test with `what` and
/// whatever `context` says then (a log, a dump: computed only on failure).
pub fn until_or(
    limit: Duration,
    what: &str,
    cond: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    if !within(limit, cond) {
        panic!("not within {limit:?}: {what}\n{}", context());
    }
}

/// [`until_or`] with nothing to add.
pub fn until(limit: Duration, what: &str, cond: impl FnMut() -> bool) {
    until_or(limit, what, cond, String::new);
}

/// Runs `op` until it succeeds, each try bounded by `try_limit`, for up to
/// `limit` in all (an ensemble electing answers ConnectionLoss meanwhile);
/// fails the test with the last error after that.
pub async fn retry<T, E, F, Fut>(limit: Duration, try_limit: Duration, what: &str, mut op: F) -> T
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let last = match tokio::time::timeout(try_limit, op()).await {
            Ok(Ok(v)) => return v,
            Ok(Err(e)) => format!("{e:?}"),
            Err(_) => format!("no answer in {try_limit:?}"),
        };
        if Instant::now() >= deadline {
            panic!("{what}: still failing after {limit:?}: {last}");
        }
        eprintln!("{what}: retrying after {last}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
