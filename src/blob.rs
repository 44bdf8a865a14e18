//! The local blob directory of the embedded defaults: one file per segment,
//! at its key below the directory. Writes go to a temporary file in
//! [`TMP_DIR`], are fsynced, then renamed to their key, so a reader never
//! sees half a segment. A write that fails removes its temporary file; one
//! a crash left behind is removed when a node next opens the directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use reel_actors::traits::{BlobStore, StoreError, StoreResult};

/// The directory below the blob root that holds writes in progress (no
/// key starts with a dot, so it is never an object).
pub const TMP_DIR: &str = ".tmp";
/// A temporary file older than this when a node opens the directory was
/// left by a crash (a write takes seconds), and is removed.
pub const STALE_TMP: Duration = Duration::from_secs(10 * 60);

pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn open(root: &Path) -> anyhow::Result<LocalBlobStore> {
        let tmp = root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp)?;
        let removed = remove_stale(&tmp, SystemTime::now() - STALE_TMP)?;
        if removed > 0 {
            tracing::info!(removed, dir = %tmp.display(), "removed writes a crash left behind");
        }
        Ok(LocalBlobStore {
            root: root.to_path_buf(),
        })
    }

    /// The file of `key`; keys are made by the server, but check anyway that
    /// one cannot climb out of the directory.
    fn path(&self, key: &str) -> StoreResult<PathBuf> {
        if key.is_empty()
            || key
                .split('/')
                .any(|part| part.is_empty() || part == "." || part == "..")
        {
            return Err(StoreError::Refused(format!("bad blob key {key:?}")));
        }
        Ok(self.root.join(key))
    }
}

/// Removes the files of `dir` last modified before `before`; returns how
/// many.
fn remove_stale(dir: &Path, before: SystemTime) -> std::io::Result<u64> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let modified = entry.metadata()?.modified()?;
        if modified < before {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Writes `data` to `tmp`, fsynced, then renames it to `path`.
fn write_then_rename(tmp: &Path, path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("keys have a parent");
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::File::create(tmp)?;
    std::io::Write::write_all(&mut f, data)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn io_err(e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StoreError::NotFound
    } else {
        StoreError::Other(e.to_string())
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &str, data: Bytes) -> StoreResult<()> {
        let path = self.path(key)?;
        let tmp = self
            .root
            .join(TMP_DIR)
            .join(format!("{:016x}", rand::random::<u64>()));
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let written = write_then_rename(&tmp, &path, &data);
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?
        .map_err(io_err)
    }

    async fn get(&self, key: &str) -> StoreResult<Bytes> {
        let path = self.path(key)?;
        tokio::fs::read(path).await.map(Bytes::from).map_err(io_err)
    }

    async fn get_from(&self, key: &str, offset: u64) -> StoreResult<Bytes> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let path = self.path(key)?;
        let mut f = tokio::fs::File::open(path).await.map_err(io_err)?;
        f.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(io_err)?;
        let mut out = Vec::new();
        f.read_to_end(&mut out).await.map_err(io_err)?;
        Ok(Bytes::from(out))
    }

    async fn delete(&self, keys: &[String]) -> StoreResult<()> {
        let paths = keys
            .iter()
            .map(|k| self.path(k))
            .collect::<StoreResult<Vec<_>>>()?;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for path in paths {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                // Leave no empty directory of the session behind (a
                // directory another writer still fills stays).
                let mut dir = path.parent();
                while let Some(d) = dir.filter(|d| *d != root) {
                    if std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?
        .map_err(io_err)
    }

    async fn check(&self) -> StoreResult<()> {
        tokio::fs::metadata(&self.root)
            .await
            .map(|_| ())
            .map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_and_bad_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        store
            .put("1/2023-11-14/s/t/0.zst", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        assert_eq!(
            store.get("1/2023-11-14/s/t/0.zst").await.unwrap(),
            Bytes::from_static(b"abc")
        );
        assert!(matches!(store.get("1/x").await, Err(StoreError::NotFound)));
        assert!(store.put("../escape", Bytes::new()).await.is_err());
        assert!(store.put("/abs", Bytes::new()).await.is_err());
        let tmp = dir.path().join(TMP_DIR);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        // Written, then the rename fails: a directory is at the key.
        std::fs::create_dir_all(dir.path().join("1/s/t/0.zst/x")).unwrap();
        assert!(store
            .put("1/s/t/0.zst", Bytes::from_static(b"abc"))
            .await
            .is_err());
        assert_eq!(
            std::fs::read_dir(dir.path().join(TMP_DIR)).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_crashs_temporary_files_are_removed_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        LocalBlobStore::open(dir.path()).unwrap();
        let tmp = dir.path().join(TMP_DIR);
        let stale = tmp.join("stale");
        let fresh = tmp.join("fresh");
        std::fs::write(&stale, b"half a segment").unwrap();
        std::fs::write(&fresh, b"a write in progress").unwrap();
        let old = SystemTime::now() - STALE_TMP - Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        LocalBlobStore::open(dir.path()).unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists());
    }
}
