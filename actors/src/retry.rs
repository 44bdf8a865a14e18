//! Retrying a storage write until it succeeds, with exponential backoff.
//! Used wherever data is safe on disk meanwhile (the spool), so waiting
//! costs nothing but time.

use std::time::Duration;

use crate::metric_names;
use crate::traits::StoreError;

/// How often a write storage refuses for its content is tried before it
/// goes to the dead letters. More than once: a refusal can be a race (a
/// row another write is about to add).
pub const REFUSED_ATTEMPTS: u32 = 3;

/// First wait between retries of a failed blob or index write.
pub const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between retries.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Runs `op` until it succeeds, backing off between failures. Every failure
/// is logged; data is safe in the spool meanwhile.
pub async fn retry<T, F, Fut>(what: &'static str, key: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut wait = RETRY_BACKOFF_MIN;
    let mut attempt = 0u32;
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) => {
                attempt += 1;
                metrics::counter!(metric_names::STORAGE_RETRIES_TOTAL, "op" => what).increment(1);
                if attempt == 1 {
                    tracing::warn!(key, error = %e, "{what} failed, retrying");
                } else if attempt.is_multiple_of(10) {
                    tracing::error!(key, attempt, error = %e, "{what} still failing");
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_BACKOFF_MAX);
            }
        }
    }
}

/// Like [`retry`], except that a write storage refuses for its content
/// ([`StoreError::Refused`]) is given up after [`REFUSED_ATTEMPTS`]
/// refusals: returns the last refusal then. Transient failures are retried
/// with backoff until storage answers, as in [`retry`].
pub async fn retry_unless_refused<T, F, Fut>(
    what: &'static str,
    key: &str,
    mut op: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let refusals = std::sync::atomic::AtomicU32::new(0);
    let refusals = &refusals;
    retry(what, key, || {
        let attempt = op();
        async move {
            match attempt.await {
                Ok(v) => Ok(Ok(v)),
                Err(e @ StoreError::Refused(_)) => {
                    let n = refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if n >= REFUSED_ATTEMPTS {
                        Ok(Err(e))
                    } else {
                        Err(e)
                    }
                }
                Err(e) => Err(e),
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_refused_write_is_given_up_after_a_few_attempts_an_unreachable_store_never() {
        let calls = AtomicU32::new(0);
        let res: Result<(), _> = retry_unless_refused("w", "k", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(StoreError::Refused("check".into())) }
        })
        .await;
        assert!(matches!(res, Err(StoreError::Refused(_))));
        assert_eq!(calls.load(Ordering::SeqCst), REFUSED_ATTEMPTS);

        // Unreachable 20 times, then refused: still the refusals count.
        let calls = AtomicU32::new(0);
        let res: Result<(), _> = retry_unless_refused("w", "k", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 20 {
                    Err(StoreError::Unavailable("down".into()))
                } else {
                    Err(StoreError::Refused("check".into()))
                }
            }
        })
        .await;
        assert!(res.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 20 + REFUSED_ATTEMPTS);

        // Refused once, then taken.
        let calls = AtomicU32::new(0);
        let res = retry_unless_refused("w", "k", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(StoreError::Refused("race".into()))
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!(res.unwrap(), 7);
    }
}
