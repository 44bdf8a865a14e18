//! Real recordings to replay: fixture files as `loadtest/README.md`
//! "Corpus fixtures" describes them (`NAME.batches.ndjson.zst`, zstd
//! NDJSON, one line per batch as the tracker sent it:
//! `{"at": MS_SINCE_FIRST_BATCH, "events": [...]}`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The file name ending of a fixture.
pub const FIXTURE_SUFFIX: &str = ".batches.ndjson.zst";

/// One recorded batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Milliseconds since the fixture's first batch.
    pub at_ms: u64,
    /// The `events` array's JSON text exactly as recorded.
    pub events: String,
}

/// One recorded tab.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub batches: Vec<Batch>,
}

impl Fixture {
    /// `at` of the last batch.
    pub fn duration_ms(&self) -> u64 {
        self.batches.last().map_or(0, |b| b.at_ms)
    }

    /// JSON bytes of every batch's events.
    pub fn raw_bytes(&self) -> usize {
        self.batches.iter().map(|b| b.events.len()).sum()
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    at: u64,
    #[serde(borrow)]
    events: &'a RawValue,
}

/// Every fixture of `path`: one file, or every `*.batches.ndjson.zst` of a
/// directory (sorted by name, so that client `i` replays the same one in
/// every run).
pub fn load(path: &Path) -> anyhow::Result<Vec<Fixture>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(FIXTURE_SUFFIX))
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    if files.is_empty() {
        bail!("no *{FIXTURE_SUFFIX} in {}", path.display());
    }
    files.iter().map(|f| load_file(f)).collect()
}

/// One fixture file.
pub fn load_file(path: &Path) -> anyhow::Result<Fixture> {
    let compressed = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = zstd::decode_all(compressed.as_slice())
        .with_context(|| format!("{} is not zstd", path.display()))?;
    let text =
        String::from_utf8(text).with_context(|| format!("{} is not UTF-8", path.display()))?;
    let mut batches = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", path.display(), n + 1))?;
        if !l.events.get().starts_with('[') {
            bail!("{} line {}: events is not an array", path.display(), n + 1);
        }
        batches.push(Batch {
            at_ms: l.at,
            events: l.events.get().to_string(),
        });
    }
    if batches.is_empty() {
        bail!("{} holds no batch", path.display());
    }
    let name = path
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_end_matches(FIXTURE_SUFFIX)
                .to_string()
        })
        .unwrap_or_default();
    Ok(Fixture { name, batches })
}

/// Writes `batches` (`(at_ms, events JSON)`) as a fixture file: for tests
/// and for anyone making a fixture by hand.
pub fn write(path: &Path, batches: &[(u64, &str)]) -> anyhow::Result<()> {
    let mut text = String::new();
    for (at, events) in batches {
        text.push_str(&format!("{{\"at\":{at},\"events\":{events}}}\n"));
    }
    let compressed = zstd::encode_all(text.as_bytes(), 3)?;
    std::fs::write(path, compressed).with_context(|| format!("writing {}", path.display()))
}

/// A tiny fixture of a page load and a few interactions (two seconds), for
/// tests: written to `dir/tiny.batches.ndjson.zst`.
pub fn write_tiny(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("tiny{FIXTURE_SUFFIX}"));
    let t = 1_700_000_000_000u64;
    let first = format!(
        r#"[{{"type":4,"timestamp":{t},"data":{{"href":"https://docs.example/","width":1280,"height":720}}}},{{"type":2,"timestamp":{t},"data":{{"node":{{"type":0,"childNodes":[{{"type":2,"tagName":"html","attributes":{{}},"childNodes":[{{"type":3,"textContent":"Hello docs","id":3}}],"id":2}}],"id":1}},"initialOffset":{{"left":0,"top":0}}}}}}]"#
    );
    let moves = |dt: u64, x: u64| {
        format!(
            r#"[{{"type":3,"timestamp":{},"data":{{"source":1,"positions":[{{"x":{x},"y":10,"id":2,"timeOffset":0}}]}}}},{{"type":3,"timestamp":{},"data":{{"source":2,"type":2,"id":3,"x":{x},"y":10}}}}]"#,
            t + dt,
            t + dt + 5
        )
    };
    let (b1, b2, b3) = (moves(400, 10), moves(900, 20), moves(1500, 30));
    write(&path, &[(0, &first), (400, &b1), (900, &b2), (1500, &b3)])?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes_byte_for_byte() {
        let dir = std::env::temp_dir().join(format!("reel-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_tiny(&dir).unwrap();
        let fixtures = load(&dir).unwrap();
        assert_eq!(fixtures.len(), 1);
        let f = &fixtures[0];
        assert_eq!(f.name, "tiny");
        assert_eq!(f.batches.len(), 4);
        assert_eq!(f.duration_ms(), 1500);
        assert!(f.batches[0]
            .events
            .starts_with(r#"[{"type":4,"timestamp":1700000000000,"#));
        assert_eq!(load(&path).unwrap()[0].batches[3].at_ms, 1500);
        std::fs::write(dir.join(format!("bad{FIXTURE_SUFFIX}")), b"not zstd").unwrap();
        assert!(load(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
