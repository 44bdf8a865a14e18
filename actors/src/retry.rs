//! Retrying a storage write until it succeeds, with exponential backoff.
//! Used wherever data is safe on disk meanwhile (the spool), so waiting
//! costs nothing but time.

use std::time::Duration;

use crate::traits::StoreError;

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
                metrics::counter!("reel_storage_retries_total", "op" => what).increment(1);
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
