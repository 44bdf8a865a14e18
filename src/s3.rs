//! The S3 blob store: segments in a bucket on AWS or on an S3-compatible
//! store (MinIO, R2, moto), through `aws-sdk-s3`.
//!
//! Credentials come from the standard AWS chain (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, profile files, web identity,
//! ECS and EC2 instance metadata) unless [`S3Options::credentials`] is set.
//! Each request has a short connect timeout and an attempt timeout, and the
//! SDK's standard retry (exponential backoff with jitter) retries it a few
//! times before the error reaches the caller. Every request is counted in
//! `reel_s3_requests_total{op,outcome}` and timed in
//! `reel_s3_request_seconds{op}`, from one place: [`observe`].

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, ByteStreamError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration,
    Delete, ObjectIdentifier,
};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt as _, TryStreamExt as _};
use reel_actors::metric_names;
use reel_actors::traits::{BlobStore, StoreError, StoreResult};

/// The region when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Objects at least this large are uploaded in parts by default.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 8 * 1024 * 1024;
/// The default size of one part of a multipart upload.
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3 refuses parts smaller than this (except the last one).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3 refuses uploads of more parts than this; larger objects get larger parts.
const MAX_PARTS: u64 = 10_000;
/// Parts of one upload in flight at once: bounds the connections and the
/// bandwidth one put takes (the parts are slices of the object, already in
/// memory, so they cost no copy).
const PART_CONCURRENCY: usize = 4;
/// How long establishing a connection may take: an endpoint where nothing
/// listens fails fast instead of hanging a segment flush.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one attempt of one request may take, sending its body included
/// (a part is at most `part_size`). Reading a GetObject body is outside the
/// attempt; the SDK's stalled-stream protection catches a body that stops.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per request (the first one included) of the SDK's standard
/// retry, which backs off exponentially with jitter between them.
pub const MAX_ATTEMPTS: u32 = 3;
/// The longest validity S3 accepts for a presigned URL.
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The content type of every object: segments are zstd-compressed NDJSON.
/// Keys per `DeleteObjects` request: the most S3 takes in one.
pub const DELETE_BATCH: usize = 1000;

const CONTENT_TYPE: &str = "application/zstd";

/// How to reach the bucket. [`S3Options::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub bucket: String,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); `None`: AWS.
    pub endpoint: Option<String>,
    /// `None`: [`DEFAULT_REGION`].
    pub region: Option<String>,
    /// Address objects as `endpoint/bucket/key` instead of
    /// `bucket.endpoint/key`; most S3-compatible stores need it.
    pub path_style: bool,
    /// Objects at least this large are uploaded in parts.
    pub multipart_threshold: u64,
    /// The size of each part but the last, at least [`MIN_PART_SIZE`].
    pub part_size: u64,
    /// When set, [`S3BlobStore::presign_get`] hands out URLs valid this long
    /// (at most [`MAX_PRESIGN_TTL`]).
    pub presign_ttl: Option<Duration>,
    /// Fixed credentials instead of the standard AWS chain (tests, or a
    /// store whose keys live in reel's own config).
    pub credentials: Option<S3Credentials>,
}

impl S3Options {
    /// The defaults for `bucket`: AWS, virtual-hosted addressing, 8 MiB
    /// parts from 8 MiB on, no presigning, the standard credentials chain.
    pub fn new(bucket: impl Into<String>) -> S3Options {
        S3Options {
            bucket: bucket.into(),
            endpoint: None,
            region: None,
            path_style: false,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            presign_ttl: None,
            credentials: None,
        }
    }
}

/// A static access key. Its `Debug` prints neither part.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &"[redacted]")
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

pub struct S3BlobStore {
    /// The SDK client: connection pool, credentials cache, retry state.
    client: Client,
    bucket: String,
    /// The region, needed again to create the bucket.
    region: String,
    multipart_threshold: u64,
    part_size: u64,
    presign_ttl: Option<Duration>,
}

impl S3BlobStore {
    /// Builds the client. Nothing is sent yet: credentials are resolved and
    /// the endpoint is reached on the first request ([`BlobStore::check`]).
    pub async fn connect(opts: S3Options) -> anyhow::Result<S3BlobStore> {
        anyhow::ensure!(!opts.bucket.is_empty(), "the S3 bucket name is empty");
        anyhow::ensure!(
            opts.part_size >= MIN_PART_SIZE,
            "the S3 part size ({} bytes) is below S3's minimum of {MIN_PART_SIZE} bytes",
            opts.part_size
        );
        if let Some(ttl) = opts.presign_ttl {
            anyhow::ensure!(
                !ttl.is_zero() && ttl <= MAX_PRESIGN_TTL,
                "the S3 presign TTL ({ttl:?}) must be above zero and at most 7 days"
            );
        }
        let region = opts
            .region
            .clone()
            .unwrap_or_else(|| DEFAULT_REGION.to_string());

        // rustls on ring with the system's roots: the SDK's default client
        // would bring aws-lc, a second crypto library to build.
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .http_client(http_client)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(endpoint) = &opts.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(c) = &opts.credentials {
            loader = loader.credentials_provider(Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                None,
                None,
                "reel-config",
            ));
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(opts.path_style)
            .build();
        tracing::info!(
            bucket = %opts.bucket,
            endpoint = opts.endpoint.as_deref().unwrap_or("aws"),
            region = %region,
            path_style = opts.path_style,
            "s3 blob store configured"
        );
        Ok(S3BlobStore {
            client: Client::from_conf(config),
            bucket: opts.bucket,
            region,
            multipart_threshold: opts.multipart_threshold,
            part_size: opts.part_size,
            presign_ttl: opts.presign_ttl,
        })
    }

    /// Creates the bucket unless it exists (and is ours).
    pub async fn create_bucket_if_missing(&self) -> anyhow::Result<()> {
        match self.head_bucket().await {
            Ok(()) => return Ok(()),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e).context("checking the S3 bucket"),
        }
        // us-east-1 is the one region that takes no location constraint.
        let location = (self.region != DEFAULT_REGION).then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                .build()
        });
        let created = observe("create_bucket", &self.bucket, async {
            match self
                .client
                .create_bucket()
                .bucket(&self.bucket)
                .set_create_bucket_configuration(location)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                // Another node created it first.
                Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
                Err(e) => Err(store_error("create_bucket", &self.bucket, e)),
            }
        })
        .await;
        created.with_context(|| format!("creating the S3 bucket {:?}", self.bucket))?;
        tracing::info!(bucket = %self.bucket, "s3 bucket created");
        Ok(())
    }

    /// Reads the object at `key` as its body arrives, chunk by chunk. The
    /// request's latency in the metrics is the time to the response head.
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> StoreResult<impl Stream<Item = StoreResult<Bytes>> + Send + 'static> {
        let body = self.get_object(key).await?;
        let key = key.to_string();
        Ok(stream::try_unfold(body, move |mut body| {
            let key = key.clone();
            async move {
                match body.try_next().await {
                    Ok(Some(chunk)) => Ok(Some((chunk, body))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(body_error(&key, e)),
                }
            }
        }))
    }

    /// A URL that fetches the object at `key` with a plain GET, valid for
    /// the configured TTL; `None` when presigning is off. The URL carries a
    /// signature: hand it to the client, never log it.
    pub async fn presign_get(&self, key: &str) -> StoreResult<Option<String>> {
        let Some(ttl) = self.presign_ttl else {
            return Ok(None);
        };
        observe("presign_get", key, async {
            // Cannot fail: `connect` checked the TTL against S3's bounds.
            let presigning = PresigningConfig::expires_in(ttl)
                .map_err(|e| StoreError::Other(format!("s3 presign {key:?}: {e}")))?;
            let request = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(presigning)
                .await
                .map_err(|e| store_error("presign_get", key, e))?;
            Ok(Some(request.uri().to_string()))
        })
        .await
    }

    async fn head_bucket(&self) -> StoreResult<()> {
        observe("head_bucket", &self.bucket, async {
            self.client
                .head_bucket()
                .bucket(&self.bucket)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error("head_bucket", &self.bucket, e))
        })
        .await
    }

    async fn get_object(&self, key: &str) -> StoreResult<ByteStream> {
        self.get_object_from(key, 0).await
    }

    /// The object at `key` from byte `offset` on (a `Range` GET past 0).
    async fn get_object_from(&self, key: &str, offset: u64) -> StoreResult<ByteStream> {
        observe("get_object", key, async {
            self.client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_range((offset > 0).then(|| format!("bytes={offset}-")))
                .send()
                .await
                .map(|out| out.body)
                .map_err(|e| store_error("get_object", key, e))
        })
        .await
    }

    async fn put_object(&self, key: &str, data: Bytes) -> StoreResult<()> {
        observe("put_object", key, async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(CONTENT_TYPE)
                .body(ByteStream::from(data))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error("put_object", key, e))
        })
        .await
    }

    /// Deletes up to [`DELETE_BATCH`] objects in one `DeleteObjects`
    /// request (quiet: only failures come back). A missing key is no error.
    async fn delete_objects(&self, keys: &[String]) -> StoreResult<()> {
        let first = keys.first().map(String::as_str).unwrap_or_default();
        observe("delete_objects", first, async {
            let objects = keys
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Other(format!("s3 delete_objects: {e}")))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StoreError::Other(format!("s3 delete_objects: {e}")))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| store_error("delete_objects", first, e))?;
            // Per-key failures come back in the answer, not as an error.
            match out.errors().first() {
                Some(e) if e.code() != Some("NoSuchKey") => Err(classify(
                    None,
                    e.code(),
                    format!(
                        "s3 delete_objects {:?}: {}",
                        e.key().unwrap_or_default(),
                        e.message().unwrap_or_default()
                    ),
                )),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Uploads `data` in parts; on any failure aborts the upload, so that
    /// S3 does not keep (and bill) the parts already sent.
    async fn put_multipart(&self, key: &str, data: Bytes) -> StoreResult<()> {
        let upload_id = observe("create_multipart_upload", key, async {
            let out = self
                .client
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .content_type(CONTENT_TYPE)
                .send()
                .await
                .map_err(|e| store_error("create_multipart_upload", key, e))?;
            out.upload_id.ok_or_else(|| {
                StoreError::Other(format!(
                    "s3 create_multipart_upload {key:?}: the response has no upload id"
                ))
            })
        })
        .await?;
        let uploaded = self.upload_parts(key, &upload_id, data).await;
        if uploaded.is_err() {
            // The abort's own failure is counted and logged by `observe`;
            // the caller needs the error that made the upload fail.
            let _ = observe("abort_multipart_upload", key, async {
                self.client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| store_error("abort_multipart_upload", key, e))
            })
            .await;
        }
        uploaded
    }

    async fn upload_parts(&self, key: &str, upload_id: &str, data: Bytes) -> StoreResult<()> {
        let part_size = part_size_for(data.len() as u64, self.part_size) as usize;
        let ranges: Vec<(i32, usize, usize)> = (0..data.len())
            .step_by(part_size)
            .enumerate()
            .map(|(i, start)| (i as i32 + 1, start, (start + part_size).min(data.len())))
            .collect();
        let parts: Vec<CompletedPart> = stream::iter(ranges)
            .map(|(number, start, end)| {
                let body = data.slice(start..end);
                observe("upload_part", key, async move {
                    let out = self
                        .client
                        .upload_part()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(number)
                        .body(ByteStream::from(body))
                        .send()
                        .await
                        .map_err(|e| store_error("upload_part", key, e))?;
                    Ok(CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag)
                        .build())
                })
            })
            .buffered(PART_CONCURRENCY)
            .try_collect()
            .await?;
        observe("complete_multipart_upload", key, async {
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error("complete_multipart_upload", key, e))
        })
        .await
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, data: Bytes) -> StoreResult<()> {
        if data.is_empty() || (data.len() as u64) < self.multipart_threshold {
            self.put_object(key, data).await
        } else {
            self.put_multipart(key, data).await
        }
    }

    async fn get(&self, key: &str) -> StoreResult<Bytes> {
        let body = self.get_object(key).await?;
        body.collect()
            .await
            .map(|b| b.into_bytes())
            .map_err(|e| body_error(key, e))
    }

    async fn get_from(&self, key: &str, offset: u64) -> StoreResult<Bytes> {
        let body = self.get_object_from(key, offset).await?;
        body.collect()
            .await
            .map(|b| b.into_bytes())
            .map_err(|e| body_error(key, e))
    }

    async fn delete(&self, keys: &[String]) -> StoreResult<()> {
        for chunk in keys.chunks(DELETE_BATCH) {
            self.delete_objects(chunk).await?;
        }
        Ok(())
    }

    async fn check(&self) -> StoreResult<()> {
        self.head_bucket().await.map_err(|e| match e {
            StoreError::NotFound => {
                StoreError::Other(format!("s3 bucket {:?} does not exist", self.bucket))
            }
            e => e,
        })
    }

    async fn presign_get(&self, key: &str) -> StoreResult<Option<String>> {
        S3BlobStore::presign_get(self, key).await
    }
}

/// The part size for an object of `len` bytes: `configured`, or larger when
/// the object would otherwise need more than [`MAX_PARTS`] parts.
fn part_size_for(len: u64, configured: u64) -> u64 {
    configured.max(len.div_ceil(MAX_PARTS))
}

/// Runs one S3 request, counts and times it, and logs it when it failed
/// for another reason than a missing object. `key` is the object's key, or
/// the bucket's name for bucket operations.
async fn observe<T>(
    op: &'static str,
    key: &str,
    request: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let started = Instant::now();
    let result = request.await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(StoreError::NotFound) => "not_found",
        Err(StoreError::Unavailable(_)) => "unavailable",
        Err(StoreError::Refused(_)) => "refused",
        Err(StoreError::Other(_)) => "error",
    };
    metrics::counter!(metric_names::S3_REQUESTS_TOTAL, "op" => op, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(metric_names::S3_REQUEST_SECONDS, "op" => op)
        .record(started.elapsed().as_secs_f64());
    if let Err(e @ (StoreError::Unavailable(_) | StoreError::Refused(_) | StoreError::Other(_))) =
        &result
    {
        tracing::warn!(op, key, error = %e, "s3 request failed");
    }
    result
}

/// Service error codes that say "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
];

/// Maps a failed request (after the SDK's retries) to a [`StoreError`]:
/// the endpoint unreachable or a timeout is `Unavailable`; an answer is
/// classified by [`classify`] (5xx and throttling `Unavailable`, a missing
/// object `NotFound`, a request refused for its content `Refused`, the
/// rest `Other`). The message names the operation and the key, never
/// credentials (the SDK's errors carry none).
fn store_error<E>(op: &str, key: &str, err: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_string);
    let detail = match (&err, &code, status) {
        (SdkError::ServiceError(_), Some(code), Some(status)) => format!(
            "HTTP {status} {code}: {}",
            err.message().unwrap_or("no message")
        ),
        _ => error_chain(&err),
    };
    // The endpoint may be a URL with user information.
    let message = crate::secrets::redact(&format!("s3 {op} {key:?}: {detail}"));
    match &err {
        SdkError::TimeoutError(_) => StoreError::Unavailable(message),
        SdkError::DispatchFailure(f) if f.is_io() || f.is_timeout() => {
            StoreError::Unavailable(message)
        }
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            classify(status, code.as_deref(), message)
        }
        _ => StoreError::Other(message),
    }
}

/// Service error codes of credentials that expired or a clock that
/// drifted: the same request, signed again later, goes through.
const AUTH_EXPIRY_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "TokenRefreshRequired",
    "RequestExpired",
    "RequestTimeTooSkewed",
    "InvalidToken",
];

/// Classifies an S3 answer by HTTP status and service error code:
/// - a missing object is `NotFound` (a missing bucket or upload is not);
/// - 5xx, 429 and throttling or timeout codes are `Unavailable`;
/// - 401 and 403 (expired or wrong credentials, a policy) and expired
///   tokens are `Other`: the operator's to fix, and the same write goes
///   through then, so it is retried, never dead-lettered;
/// - a missing bucket or upload (404) is `Other` for the same reason;
/// - any other 4xx (400 bad digest or argument, 411, 413 too large, ...)
///   is `Refused`: the store will never take this request.
fn classify(status: Option<u16>, code: Option<&str>, message: String) -> StoreError {
    if code == Some("NoSuchKey")
        || (status == Some(404) && !matches!(code, Some("NoSuchBucket" | "NoSuchUpload")))
    {
        StoreError::NotFound
    } else if matches!(status, Some(429 | 500..=599))
        || code.is_some_and(|c| TRANSIENT_CODES.contains(&c))
    {
        StoreError::Unavailable(message)
    } else if matches!(status, Some(401 | 403 | 404))
        || code.is_some_and(|c| AUTH_EXPIRY_CODES.contains(&c))
    {
        StoreError::Other(message)
    } else if matches!(status, Some(400..=499)) {
        StoreError::Refused(message)
    } else {
        StoreError::Other(message)
    }
}

/// A body that broke off while it was read: the connection, most likely.
fn body_error(key: &str, err: ByteStreamError) -> StoreError {
    StoreError::Unavailable(crate::secrets::redact(&format!(
        "s3 get_object {key:?}: reading the body: {}",
        error_chain(&err)
    )))
}

/// `err` and its sources, `: `-separated (the SDK's own display of an error
/// is its outermost layer only, "dispatch failure", "service error").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_refused_for_their_content_are_told_from_throttling_and_auth() {
        let class = |status: u16, code: &str| match classify(Some(status), Some(code), "m".into()) {
            StoreError::NotFound => "not_found",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Refused(_) => "refused",
            StoreError::Other(_) => "other",
        };
        assert_eq!(class(400, "BadDigest"), "refused");
        assert_eq!(class(400, "InvalidArgument"), "refused");
        assert_eq!(class(400, "EntityTooLarge"), "refused");
        assert_eq!(class(411, "MissingContentLength"), "refused");
        assert_eq!(class(400, "RequestTimeout"), "unavailable");
        assert_eq!(class(503, "SlowDown"), "unavailable");
        assert_eq!(class(429, "TooManyRequests"), "unavailable");
        assert_eq!(class(500, "InternalError"), "unavailable");
        assert_eq!(class(400, "ExpiredToken"), "other");
        assert_eq!(class(403, "AccessDenied"), "other");
        assert_eq!(class(403, "RequestTimeTooSkewed"), "other");
        assert_eq!(class(404, "NoSuchBucket"), "other");
        assert_eq!(class(404, "NoSuchKey"), "not_found");
    }

    /// The S3-compatible server the tests use (`scripts/s3-server` starts
    /// moto there).
    fn endpoint() -> String {
        std::env::var("REEL_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
    }

    fn options(endpoint: String) -> S3Options {
        S3Options {
            endpoint: Some(endpoint),
            path_style: true,
            credentials: Some(S3Credentials {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
            }),
            ..S3Options::new(format!("reel-test-{:016x}", rand::random::<u64>()))
        }
    }

    /// A store on a fresh, empty bucket.
    async fn fresh_store(opts: S3Options) -> S3BlobStore {
        let store = S3BlobStore::connect(opts).await.unwrap();
        store.create_bucket_if_missing().await.unwrap();
        store
    }

    /// Bytes that differ at every offset, so a part out of place shows.
    fn data(len: usize) -> Bytes {
        (0..len)
            .map(|i| (i as u64).wrapping_mul(2_654_435_761) as u8 ^ (i >> 16) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    #[tokio::test]
    async fn put_get_round_trip_and_overwrite() {
        let store = fresh_store(options(endpoint())).await;
        let key = "1/2023-11-14/s/t/0.zst";
        store.put(key, Bytes::from_static(b"abc")).await.unwrap();
        assert_eq!(store.get(key).await.unwrap(), Bytes::from_static(b"abc"));
        store.put(key, Bytes::from_static(b"abc")).await.unwrap();
        assert_eq!(store.get(key).await.unwrap(), Bytes::from_static(b"abc"));
        store.put(key, Bytes::from_static(b"newer")).await.unwrap();
        assert_eq!(store.get(key).await.unwrap(), Bytes::from_static(b"newer"));
        store.put("1/empty", Bytes::new()).await.unwrap();
        assert_eq!(store.get("1/empty").await.unwrap(), Bytes::new());

        let head = store
            .client
            .head_object()
            .bucket(&store.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some(CONTENT_TYPE));
    }

    #[tokio::test]
    async fn missing_key_is_not_found() {
        let store = fresh_store(options(endpoint())).await;
        assert!(matches!(
            store.get("1/nothing/here.zst").await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.get_stream("1/nothing/here.zst").await.err(),
            Some(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn large_object_goes_through_multipart() {
        let store = fresh_store(S3Options {
            multipart_threshold: 5 * 1024 * 1024,
            part_size: MIN_PART_SIZE,
            ..options(endpoint())
        })
        .await;
        let big = data(12 * 1024 * 1024);
        store.put("1/big.zst", big.clone()).await.unwrap();
        assert!(store.get("1/big.zst").await.unwrap() == big);

        // A multipart object's ETag ends in "-<number of parts>": 5 + 5 + 2 MiB.
        let head = store
            .client
            .head_object()
            .bucket(&store.bucket)
            .key("1/big.zst")
            .send()
            .await
            .unwrap();
        let etag = head.e_tag().unwrap_or_default();
        assert!(etag.trim_matches('"').ends_with("-3"), "etag {etag}");
        assert_eq!(head.content_type(), Some(CONTENT_TYPE));
        assert_eq!(head.content_length(), Some(big.len() as i64));

        // Below the threshold: one PutObject, a plain ETag.
        store.put("1/small.zst", data(1024)).await.unwrap();
        let head = store
            .client
            .head_object()
            .bucket(&store.bucket)
            .key("1/small.zst")
            .send()
            .await
            .unwrap();
        assert!(!head.e_tag().unwrap_or_default().contains('-'));

        // Nothing was left behind half-uploaded.
        let uploads = store
            .client
            .list_multipart_uploads()
            .bucket(&store.bucket)
            .send()
            .await
            .unwrap();
        assert!(uploads.uploads().is_empty());
    }

    #[tokio::test]
    async fn get_stream_yields_the_same_bytes() {
        let store = fresh_store(options(endpoint())).await;
        let big = data(3 * 1024 * 1024 + 17);
        store.put("1/stream.zst", big.clone()).await.unwrap();
        let chunks: Vec<Bytes> = store
            .get_stream("1/stream.zst")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(chunks.len() > 1, "one chunk of {} bytes", big.len());
        assert!(chunks.concat() == big);
    }

    #[tokio::test]
    async fn check_is_ok_on_a_bucket_and_other_without_one() {
        let store = fresh_store(options(endpoint())).await;
        store.check().await.unwrap();

        let missing = S3BlobStore::connect(options(endpoint())).await.unwrap();
        match missing.check().await {
            Err(StoreError::Other(m)) => assert!(m.contains("does not exist"), "{m}"),
            other => panic!("expected Other, got {other:?}"),
        }
        // A missing bucket is a misconfiguration, not a missing object.
        match missing.get("1/x.zst").await {
            Err(StoreError::Other(m)) => assert!(m.contains("404 NoSuchBucket"), "{m}"),
            other => panic!("expected Other, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn unreachable_endpoint_is_unavailable_within_seconds() {
        // Nothing listens on port 1.
        let store = S3BlobStore::connect(options("http://127.0.0.1:1".into()))
            .await
            .unwrap();
        let started = Instant::now();
        let checked = store.check().await;
        let took = started.elapsed();
        match checked {
            Err(StoreError::Unavailable(m)) => assert!(m.contains("head_bucket"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        match store.get("1/x.zst").await {
            Err(StoreError::Unavailable(m)) => assert!(m.contains("1/x.zst"), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(took < Duration::from_secs(8), "took {took:?}");
    }

    #[tokio::test]
    async fn presigned_url_fetches_the_object() {
        let store = fresh_store(S3Options {
            presign_ttl: Some(Duration::from_secs(300)),
            ..options(endpoint())
        })
        .await;
        let body = data(4096);
        store.put("1/p/0.zst", body.clone()).await.unwrap();
        let url = store.presign_get("1/p/0.zst").await.unwrap().unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.bytes().await.unwrap() == body);
        // The signature is what grants access: the bare URL is refused.
        // (moto checks neither the signature's value nor its expiry.)
        let bare = url.split('?').next().unwrap_or_default();
        assert_eq!(reqwest::get(bare).await.unwrap().status(), 403);

        let off = fresh_store(options(endpoint())).await;
        assert_eq!(off.presign_get("1/p/0.zst").await.unwrap(), None);
    }

    #[tokio::test]
    async fn connect_refuses_parts_below_the_s3_minimum() {
        let opts = S3Options {
            part_size: MIN_PART_SIZE - 1,
            ..options(endpoint())
        };
        assert!(S3BlobStore::connect(opts).await.is_err());
    }

    #[test]
    fn huge_objects_get_larger_parts() {
        assert_eq!(part_size_for(12 << 20, MIN_PART_SIZE), MIN_PART_SIZE);
        let len = 100 * 1024 * 1024 * 1024_u64;
        assert!(len.div_ceil(part_size_for(len, MIN_PART_SIZE)) <= MAX_PARTS);
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let c = S3Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
        };
        let printed = format!("{c:?}");
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
        assert!(!printed.contains("AKIDEXAMPLE"), "{printed}");
    }
}
