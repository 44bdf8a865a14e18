//! The local blob directory of the embedded defaults: one file per segment,
//! at its key below the directory. Writes go to a temporary file, are
//! fsynced, then renamed, so a reader never sees half a segment.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use reel_actors::traits::{BlobStore, StoreError, StoreResult};

pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn open(root: &Path) -> anyhow::Result<LocalBlobStore> {
        std::fs::create_dir_all(root)?;
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
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let dir = path.parent().expect("keys have a parent");
            std::fs::create_dir_all(dir)?;
            let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()
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
    }
}
