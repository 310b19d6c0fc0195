//! Waiting for something to become true: one helper instead of a hand-written loop per wait.
//! Built on tokio's clock, so tests run it with paused time.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// What one attempt found.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// The awaited state was reached.
    Done(T),
    /// Retrying cannot help (e.g. a refused host key): stop now.
    Fatal(E),
    /// Not yet; what was seen, for the timeout message.
    Retry(String),
}

/// How a wait ended when it did not reach its state.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError<E> {
    /// An attempt said retrying cannot help.
    Fatal(E),
    /// The budget ran out; `last` is what the last attempt saw.
    TimedOut {
        /// Time spent since `start`.
        waited: Duration,
        /// The last attempt's [`Attempt::Retry`] text.
        last: String,
    },
}

/// Runs `attempt` until it returns [`Attempt::Done`] or [`Attempt::Fatal`], sleeping `interval`
/// between attempts, for at most `budget` counted from `start` (so several waits can share one
/// budget). At least one attempt always runs.
pub async fn until<T, E, F>(start: Instant, budget: Duration, interval: Duration, attempt: impl FnMut() -> F) -> Result<T, WaitError<E>>
where
    F: Future<Output = Attempt<T, E>>,
{
    until_backoff(start, budget, interval, interval, attempt).await
}

/// [`until`] with exponential backoff: the first sleep is `first`, each next one doubles, up to
/// `cap` (never past the budget).
pub async fn until_backoff<T, E, F>(
    start: Instant,
    budget: Duration,
    first: Duration,
    cap: Duration,
    mut attempt: impl FnMut() -> F,
) -> Result<T, WaitError<E>>
where
    F: Future<Output = Attempt<T, E>>,
{
    let mut interval = first;
    loop {
        let last = match attempt().await {
            Attempt::Done(t) => return Ok(t),
            Attempt::Fatal(e) => return Err(WaitError::Fatal(e)),
            Attempt::Retry(seen) => seen,
        };
        if start.elapsed() >= budget {
            return Err(WaitError::TimedOut { waited: start.elapsed(), last });
        }
        tokio::time::sleep(interval.min(budget.saturating_sub(start.elapsed()))).await;
        interval = (interval * 2).min(cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn done_after_retries_on_tokio_time() {
        let t0 = Instant::now();
        let mut n = 0;
        let r: Result<u32, WaitError<()>> = until(t0, Duration::from_secs(60), Duration::from_secs(2), || {
            n += 1;
            let n = n;
            async move { if n == 4 { Attempt::Done(n) } else { Attempt::Retry(format!("attempt {n}")) } }
        })
        .await;
        assert_eq!(r, Ok(4));
        assert_eq!(t0.elapsed(), Duration::from_secs(6), "three sleeps of 2 s on the paused clock");
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_the_last_thing_seen() {
        let t0 = Instant::now();
        let mut n = 0;
        let r: Result<(), WaitError<()>> = until(t0, Duration::from_secs(5), Duration::from_secs(2), || {
            n += 1;
            std::future::ready(Attempt::Retry(format!("connection refused #{n}")))
        })
        .await;
        match r {
            Err(WaitError::TimedOut { waited, last }) => {
                assert_eq!(waited, Duration::from_secs(5), "the last sleep is cut to the budget");
                assert_eq!(last, "connection refused #4");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_up_to_the_cap() {
        let t0 = Instant::now();
        let mut seen = Vec::new();
        let r: Result<(), WaitError<()>> =
            until_backoff(t0, Duration::from_secs(30), Duration::from_secs(1), Duration::from_secs(8), || {
                seen.push(t0.elapsed().as_secs());
                std::future::ready(Attempt::Retry("refused".into()))
            })
            .await;
        assert!(matches!(r, Err(WaitError::TimedOut { .. })));
        assert_eq!(seen, [0, 1, 3, 7, 15, 23, 30], "sleeps of 1, 2, 4, 8, 8 s, the last cut to the budget");
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_stops_at_once_and_one_attempt_always_runs() {
        let t0 = Instant::now();
        let r: Result<(), WaitError<&str>> =
            until(t0, Duration::ZERO, Duration::from_secs(1), || std::future::ready(Attempt::Fatal("host key changed"))).await;
        assert_eq!(r, Err(WaitError::Fatal("host key changed")));
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }
}
