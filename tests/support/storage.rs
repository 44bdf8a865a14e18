//! The storage a test node runs on. The suites are written once and run on
//! either: the embedded defaults (SQLite and the local blob directory), or,
//! with `REEL_TEST_STORAGE=postgres-s3`, Postgres (a fresh database per
//! node, on the server at `REEL_TEST_POSTGRES_URL`) and S3 (a fresh bucket
//! per node, at `REEL_TEST_S3_ENDPOINT`, through the real AWS SDK).

use reel::config::Config;

/// The Postgres server the Postgres runs use (`REEL_TEST_POSTGRES_URL`),
/// as a role that may create databases: the machine's, with the password
/// login `scripts/services` creates (so no `trust` in `pg_hba.conf` is
/// needed). Keep in step with `scripts/services`.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://reel:reel@127.0.0.1:5432/postgres";
/// The S3-compatible server the S3 runs use (`scripts/s3-server` starts one).
pub const DEFAULT_S3_ENDPOINT: &str = "http://127.0.0.1:4566";

/// Does this run use Postgres and S3?
pub fn on_postgres_s3() -> bool {
    match std::env::var("REEL_TEST_STORAGE").as_deref() {
        Ok("postgres-s3") => true,
        Ok("embedded") | Err(_) => false,
        Ok(other) => panic!("REEL_TEST_STORAGE must be embedded or postgres-s3, not {other:?}"),
    }
}

/// One node's storage: nothing to set up on the embedded defaults; a
/// fresh Postgres database and S3 bucket otherwise, the database dropped
/// when this is.
pub struct TestStorage {
    /// `(admin URL, database name)` of the database to drop.
    database: Option<(String, String)>,
    database_url: Option<String>,
    bucket: Option<String>,
    endpoint: String,
}

impl TestStorage {
    /// The storage this run uses.
    pub async fn new() -> TestStorage {
        if on_postgres_s3() {
            TestStorage::postgres_s3().await
        } else {
            TestStorage::embedded()
        }
    }

    pub fn embedded() -> TestStorage {
        TestStorage {
            database: None,
            database_url: None,
            bucket: None,
            endpoint: String::new(),
        }
    }

    /// A fresh database on the test Postgres server and a fresh bucket.
    pub async fn postgres_s3() -> TestStorage {
        use sqlx::Connection;
        let admin =
            std::env::var("REEL_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into());
        let id = reel_actors::sessions::new_id(12).to_lowercase();
        let name = format!("reel_test_{id}");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("Postgres at {admin} (REEL_TEST_POSTGRES_URL; scripts/services): {e}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let (base, _) = admin.rsplit_once('/').unwrap();
        aws_test_credentials();
        TestStorage {
            database_url: Some(format!("{base}/{name}")),
            database: Some((admin, name)),
            bucket: Some(format!("reel-test-{id}")),
            endpoint: std::env::var("REEL_TEST_S3_ENDPOINT")
                .unwrap_or_else(|_| DEFAULT_S3_ENDPOINT.into()),
        }
    }

    /// The Postgres database's URL (`None` on the embedded defaults: the
    /// node's SQLite file is `index.db` in its data dir).
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// Runs `sql` (portable: literals only) on the index of a node whose
    /// data dir is `dir`: what a test changes behind the node's back
    /// (an expiry moved into the past, a constraint).
    pub async fn execute(&self, dir: &std::path::Path, sql: &str) -> u64 {
        use sqlx::Connection;
        match &self.database_url {
            Some(url) => {
                let mut db = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query(sql)
                    .execute(&mut db)
                    .await
                    .unwrap()
                    .rows_affected()
            }
            None => {
                let url = format!("sqlite://{}", dir.join("index.db").display());
                let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query(sql)
                    .execute(&mut db)
                    .await
                    .unwrap()
                    .rows_affected()
            }
        }
    }

    /// Every blob object's key of a node whose data dir is `dir`, sorted:
    /// the files under its blob directory (not the writes in progress of
    /// its temporary directory), or the bucket's listing.
    pub async fn objects(&self, dir: &std::path::Path) -> Vec<String> {
        let mut keys = Vec::new();
        match &self.bucket {
            Some(bucket) => {
                // The S3-compatible test server answers unsigned listings.
                let mut token: Option<String> = None;
                loop {
                    let mut url = format!("{}/{bucket}?list-type=2", self.endpoint);
                    if let Some(t) = &token {
                        url.push_str(&format!("&continuation-token={t}"));
                    }
                    let res = reqwest::get(&url).await.unwrap();
                    if res.status() == 404 {
                        break;
                    }
                    let xml = res.text().await.unwrap();
                    keys.extend(xml_values(&xml, "Key"));
                    token = xml_values(&xml, "NextContinuationToken").into_iter().next();
                    if token.is_none() {
                        break;
                    }
                }
            }
            None => {
                let root = dir.join("blobs");
                let tmp = root.join(reel::blob::TMP_DIR);
                let mut stack = vec![root.clone()];
                while let Some(d) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(&d) else {
                        continue;
                    };
                    for e in entries.flatten() {
                        let path = e.path();
                        if path == tmp {
                            continue;
                        } else if path.is_dir() {
                            stack.push(path);
                        } else {
                            let key = path.strip_prefix(&root).unwrap();
                            keys.push(key.to_string_lossy().into_owned());
                        }
                    }
                }
            }
        }
        keys.sort();
        keys
    }

    /// Points `config` at this storage.
    pub fn apply(&self, config: &mut Config) {
        if let Some(url) = &self.database_url {
            config.database_url = Some(reel::secrets::Secret::new(url.clone()));
        }
        if let Some(bucket) = &self.bucket {
            config.s3.bucket = Some(bucket.clone());
            config.s3.endpoint = Some(self.endpoint.clone());
            config.s3.create_bucket = true;
        }
    }

    /// The same, as environment variables of a `reel` child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(url) = &self.database_url {
            env.push(("REEL_DATABASE_URL", url.clone()));
        }
        if let Some(bucket) = &self.bucket {
            env.push(("REEL_S3_BUCKET", bucket.clone()));
            env.push(("REEL_S3_ENDPOINT", self.endpoint.clone()));
            env.push(("REEL_S3_CREATE_BUCKET", "1".into()));
        }
        env
    }
}

/// The texts of every `<tag>` element of `xml` (enough for S3 listings).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.to_owned()))
        .collect()
}

impl Drop for TestStorage {
    fn drop(&mut self) {
        let Some((admin, name)) = self.database.take() else {
            return;
        };
        // Off any runtime the test may be on.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The S3-compatible test server takes any credentials; the AWS SDK wants
/// some. Set once, before any node starts, when the environment has none.
pub fn aws_test_credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        }
    });
}
