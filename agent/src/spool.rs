//! The durable spool: every batch is on disk before it is sent and stays there until the
//! collector acknowledges it.
//!
//! Layout under `[spool] dir`, one directory per scan:
//!
//! ```text
//! <dir>/<scan_id>/begin.pb        ScanBegin (written first)
//! <dir>/<scan_id>/<seq>.pb        FactsBatch, seq zero-padded to 20 digits; removed when acked
//! <dir>/<scan_id>/acked           highest acknowledged seq (decimal), for closing an abandoned scan
//! <dir>/<scan_id>/end.pb          ScanEnd (once the scan has ended)
//! <dir>/<scan_id>.rejected/       a scan the collector refused for good, kept for inspection
//! ```
//!
//! Every record is written to a `.tmp` file, fsynced, then renamed into place (and the scan
//! directory fsynced), so a killed agent leaves whole records or none. A scan's directory is
//! removed when the collector acknowledges its `ScanEnd`.
//!
//! A scan whose agent died before `ScanEnd` cannot be continued (the facts after the kill were
//! never observed): [`Spool::close_abandoned`] ends it as incomplete for every account, so its
//! facts are delivered and the collector closes it without marking anything gone.
//!
//! The spool is bounded by bytes ([`Spool::push_batch`] waits while it is full: the scan
//! pauses; nothing is dropped). Without a directory ([`Spool::memory`]) the same bookkeeping
//! runs in memory, for one-shot scans without `[spool] dir`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use landmeter_proto::v1::{AccountCoverage, FactsBatch, ScanBegin, ScanEnd};
use prost::Message as _;
use tokio::sync::watch;

/// Default bound of the spool: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Why the spool could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool record {path} is corrupt: {source}")]
    Decode {
        path: PathBuf,
        source: prost::DecodeError,
    },
    #[error("scan {0} is not in the spool")]
    UnknownScan(String),
    #[error("spool {0} is in use by another landmeter-agent process (one agent per spool)")]
    Locked(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What the uplink sees of one spooled scan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanView {
    pub begin: ScanBegin,
    /// Sequence numbers of the batches not yet acknowledged, ascending.
    pub pending: Vec<u64>,
    pub end: Option<ScanEnd>,
}

#[derive(Debug)]
struct BatchEntry {
    bytes: u64,
    facts: u64,
    /// The encoded batch, for a memory spool.
    data: Option<Vec<u8>>,
}

#[derive(Debug)]
struct ScanEntry {
    begin: ScanBegin,
    batches: BTreeMap<u64, BatchEntry>,
    /// Highest sequence number ever spooled or acknowledged.
    high: u64,
    end: Option<ScanEnd>,
}

#[derive(Debug, Default)]
struct State {
    /// In delivery order: (started_at_ms, scan_id).
    scans: BTreeMap<(i64, String), ScanEntry>,
    bytes: u64,
    batches: u64,
}

impl State {
    fn find(&mut self, scan_id: &str) -> Option<&mut ScanEntry> {
        self.scans
            .iter_mut()
            .find(|((_, id), _)| id == scan_id)
            .map(|(_, e)| e)
    }

    fn key(&self, scan_id: &str) -> Option<(i64, String)> {
        self.scans.keys().find(|(_, id)| id == scan_id).cloned()
    }
}

/// Batches not yet acknowledged, on disk (or in memory), bounded by bytes.
#[derive(Debug)]
pub struct Spool {
    dir: Option<PathBuf>,
    /// `<dir>/.lock`, held exclusively while the spool is open: one agent per spool, so one
    /// scan of its accounts at a time.
    _lock: Option<std::fs::File>,
    max_bytes: u64,
    state: Mutex<State>,
    /// Bumped on every change (a batch spooled or acked, a scan begun or ended).
    version: watch::Sender<u64>,
}

impl Spool {
    /// A spool kept in memory only (nothing survives the process).
    pub fn memory(max_bytes: u64) -> Spool {
        Spool {
            dir: None,
            _lock: None,
            max_bytes: max_bytes.max(1),
            state: Mutex::new(State::default()),
            version: watch::Sender::new(0),
        }
    }

    /// Opens (creating) the spool directory and loads the scans left in it.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::Locked(dir.to_owned()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let mut state = State::default();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !path.is_dir() || name.starts_with('.') || name.ends_with(".rejected") {
                continue;
            }
            let begin_path = path.join("begin.pb");
            if !begin_path.exists() {
                // Killed between creating the directory and writing its first record.
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
                continue;
            }
            let begin = decode::<ScanBegin>(&begin_path)?;
            let end_path = path.join("end.pb");
            let end = if end_path.exists() {
                Some(decode::<ScanEnd>(&end_path)?)
            } else {
                None
            };
            let acked_path = path.join("acked");
            let mut high = std::fs::read_to_string(&acked_path)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let mut batches = BTreeMap::new();
            for file in std::fs::read_dir(&path).map_err(io(&path))? {
                let file = file.map_err(io(&path))?;
                let fname = file.file_name().to_string_lossy().into_owned();
                let fpath = file.path();
                if fname.ends_with(".tmp") {
                    std::fs::remove_file(&fpath).map_err(io(&fpath))?;
                    continue;
                }
                let Some(seq) = fname
                    .strip_suffix(".pb")
                    .and_then(|s| s.parse::<u64>().ok())
                else {
                    continue;
                };
                let batch = decode::<FactsBatch>(&fpath)?;
                let bytes = file.metadata().map_err(io(&fpath))?.len();
                state.bytes += bytes;
                state.batches += 1;
                high = high.max(seq);
                batches.insert(
                    seq,
                    BatchEntry {
                        bytes,
                        facts: batch.facts.len() as u64,
                        data: None,
                    },
                );
            }
            tracing::info!(scan_id = %begin.scan_id, batches = batches.len(), ended = end.is_some(), "spool holds an undelivered scan");
            state.scans.insert(
                (begin.started_at_ms, begin.scan_id.clone()),
                ScanEntry {
                    begin,
                    batches,
                    high,
                    end,
                },
            );
        }
        Ok(Spool {
            dir: Some(dir.to_owned()),
            _lock: Some(lock),
            max_bytes: max_bytes.max(1),
            state: Mutex::new(state),
            version: watch::Sender::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters only; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// A receiver that sees every change.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn scan_dir(&self, scan_id: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(scan_id))
    }

    /// Records a new scan (before any of its batches).
    pub fn begin(&self, begin: &ScanBegin) -> Result<(), SpoolError> {
        if let Some(dir) = self.scan_dir(&begin.scan_id) {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            write_atomic(&dir, "begin.pb", &begin.encode_to_vec())?;
        }
        self.lock().scans.insert(
            (begin.started_at_ms, begin.scan_id.clone()),
            ScanEntry {
                begin: begin.clone(),
                batches: BTreeMap::new(),
                high: 0,
                end: None,
            },
        );
        self.bump();
        Ok(())
    }

    /// Spools a batch, waiting while the spool is full (the scan pauses; nothing is dropped).
    pub async fn push_batch(&self, batch: &FactsBatch) -> Result<(), SpoolError> {
        let data = batch.encode_to_vec();
        let size = data.len() as u64;
        let mut version = self.watch();
        let mut warned = false;
        loop {
            let (bytes, batches) = {
                let state = self.lock();
                (state.bytes, state.batches)
            };
            // An empty spool always takes one batch, however large.
            if bytes == 0 || bytes + size <= self.max_bytes {
                break;
            }
            if !warned {
                tracing::warn!(
                    spool_bytes = bytes,
                    spool_batches = batches,
                    max_bytes = self.max_bytes,
                    "spool full: the scan pauses until the collector acknowledges batches"
                );
                warned = true;
            }
            version.borrow_and_update();
            if version.changed().await.is_err() {
                // Cannot happen: `self` owns the sender.
                break;
            }
        }
        if warned {
            tracing::info!("spool has room again: the scan resumes");
        }
        let stored = match self.scan_dir(&batch.scan_id) {
            Some(dir) => {
                write_atomic(&dir, &format!("{:020}.pb", batch.seq), &data)?;
                None
            }
            None => Some(data),
        };
        {
            let mut state = self.lock();
            let entry = state
                .find(&batch.scan_id)
                .ok_or_else(|| SpoolError::UnknownScan(batch.scan_id.clone()))?;
            entry.high = entry.high.max(batch.seq);
            entry.batches.insert(
                batch.seq,
                BatchEntry {
                    bytes: size,
                    facts: batch.facts.len() as u64,
                    data: stored,
                },
            );
            state.bytes += size;
            state.batches += 1;
        }
        self.bump();
        Ok(())
    }

    /// Records the end of a scan (after its last batch).
    pub fn end(&self, end: &ScanEnd) -> Result<(), SpoolError> {
        if let Some(dir) = self.scan_dir(&end.scan_id) {
            write_atomic(&dir, "end.pb", &end.encode_to_vec())?;
        }
        self.lock()
            .find(&end.scan_id)
            .ok_or_else(|| SpoolError::UnknownScan(end.scan_id.clone()))?
            .end = Some(end.clone());
        self.bump();
        Ok(())
    }

    /// Ends every scan that has no `ScanEnd` as incomplete (their agent stopped mid-scan), so
    /// what they spooled is delivered and the collector can close them. Returns their ids.
    pub fn close_abandoned(&self, reason: &str) -> Result<Vec<String>, SpoolError> {
        let open: Vec<(String, u64, Vec<String>)> = self
            .lock()
            .scans
            .values()
            .filter(|e| e.end.is_none())
            .map(|e| (e.begin.scan_id.clone(), e.high, e.begin.accounts.clone()))
            .collect();
        for (scan_id, batches, accounts) in &open {
            tracing::warn!(%scan_id, batches, "closing a scan the agent did not finish as incomplete");
            self.end(&ScanEnd {
                scan_id: scan_id.clone(),
                ended_at_ms: crate::now_ms(),
                batches: *batches,
                coverage: incomplete_coverage(accounts, reason),
            })?;
        }
        Ok(open.into_iter().map(|(id, _, _)| id).collect())
    }

    /// The first scan to deliver, if any.
    pub fn first(&self) -> Option<ScanView> {
        let state = self.lock();
        state.scans.values().next().map(view)
    }

    /// One scan's state, if it is still spooled.
    pub fn view(&self, scan_id: &str) -> Option<ScanView> {
        self.lock().find(scan_id).map(|e| view(e))
    }

    pub fn contains(&self, scan_id: &str) -> bool {
        self.lock().key(scan_id).is_some()
    }

    /// Reads one spooled batch.
    pub fn read_batch(&self, scan_id: &str, seq: u64) -> Result<FactsBatch, SpoolError> {
        let data = {
            let mut state = self.lock();
            let entry = state
                .find(scan_id)
                .and_then(|e| e.batches.get(&seq))
                .ok_or_else(|| SpoolError::UnknownScan(format!("{scan_id} batch {seq}")))?;
            entry.data.clone()
        };
        match (data, self.scan_dir(scan_id)) {
            (Some(data), _) => {
                FactsBatch::decode(data.as_slice()).map_err(|source| SpoolError::Decode {
                    path: PathBuf::from(format!("memory:{scan_id}/{seq}")),
                    source,
                })
            }
            (None, Some(dir)) => decode(&dir.join(format!("{seq:020}.pb"))),
            (None, None) => Err(SpoolError::UnknownScan(scan_id.to_owned())),
        }
    }

    /// Forgets an acknowledged batch; returns its fact count (None when it was not spooled).
    pub fn ack_batch(&self, scan_id: &str, seq: u64) -> Result<Option<u64>, SpoolError> {
        let removed = {
            let mut state = self.lock();
            let Some(entry) = state.find(scan_id) else {
                return Ok(None);
            };
            let removed = entry.batches.remove(&seq);
            entry.high = entry.high.max(seq);
            if let Some(b) = &removed {
                state.bytes -= b.bytes;
                state.batches -= 1;
            }
            removed
        };
        if let Some(dir) = self.scan_dir(scan_id) {
            // The watermark first: a kill between the two leaves a batch resent as a duplicate.
            let high = self.lock().find(scan_id).map_or(seq, |e| e.high);
            write_atomic(&dir, "acked", high.to_string().as_bytes())?;
            if removed.is_some() {
                let path = dir.join(format!("{seq:020}.pb"));
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&path)(e)),
                }
            }
        }
        self.bump();
        Ok(removed.map(|b| b.facts))
    }

    /// Forgets a scan whose `ScanEnd` the collector acknowledged.
    pub fn finish(&self, scan_id: &str) -> Result<(), SpoolError> {
        self.remove(scan_id, None)
    }

    /// Moves a scan the collector refused for good out of the way (kept as `<id>.rejected`).
    pub fn reject(&self, scan_id: &str) -> Result<(), SpoolError> {
        self.remove(scan_id, Some(".rejected"))
    }

    fn remove(&self, scan_id: &str, keep_as: Option<&str>) -> Result<(), SpoolError> {
        {
            let mut state = self.lock();
            if let Some(key) = state.key(scan_id)
                && let Some(entry) = state.scans.remove(&key)
            {
                let bytes: u64 = entry.batches.values().map(|b| b.bytes).sum();
                state.bytes -= bytes;
                state.batches -= entry.batches.len() as u64;
            }
        }
        if let Some(dir) = self.scan_dir(scan_id) {
            let result = match keep_as {
                None => std::fs::remove_dir_all(&dir),
                Some(suffix) => {
                    std::fs::rename(&dir, dir.with_file_name(format!("{scan_id}{suffix}")))
                }
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&dir)(e)),
            }
        }
        self.bump();
        Ok(())
    }

    /// Batches and bytes waiting for an acknowledgement.
    pub fn depth(&self) -> (u64, u64) {
        let state = self.lock();
        (state.batches, state.bytes)
    }

    /// Scans not yet closed at the collector.
    pub fn scans(&self) -> usize {
        self.lock().scans.len()
    }
}

/// Coverage saying that every account of a scan is incomplete, for `reason`.
pub fn incomplete_coverage(accounts: &[String], reason: &str) -> Vec<AccountCoverage> {
    accounts
        .iter()
        .map(|a| AccountCoverage {
            account: a.clone(),
            complete: false,
            stores_seen: 0,
            gaps: 0,
            reason: reason.to_owned(),
        })
        .collect()
}

fn view(e: &ScanEntry) -> ScanView {
    ScanView {
        begin: e.begin.clone(),
        pending: e.batches.keys().copied().collect(),
        end: e.end.clone(),
    }
}

fn decode<M: prost::Message + Default>(path: &Path) -> Result<M, SpoolError> {
    let data = std::fs::read(path).map_err(io(path))?;
    M::decode(data.as_slice()).map_err(|source| SpoolError::Decode {
        path: path.to_owned(),
        source,
    })
}

/// Writes `dir/name` whole or not at all: temp file, fsync, rename, fsync the directory.
fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<(), SpoolError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(data).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::v1::Fact;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "landmeter-spool-{name}-{}-{}",
            std::process::id(),
            crate::now_ms()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn begin(id: &str, at: i64) -> ScanBegin {
        ScanBegin {
            scan_id: id.to_owned(),
            started_at_ms: at,
            accounts: vec!["111111111111".to_owned()],
            provider: "cloud-a".to_owned(),
            ..Default::default()
        }
    }

    fn batch(id: &str, seq: u64, facts: usize) -> FactsBatch {
        FactsBatch {
            scan_id: id.to_owned(),
            seq,
            facts: (0..facts)
                .map(|i| Fact {
                    subject: format!("bucket-{seq}-{i}"),
                    ..Fact::default()
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn survives_a_restart_and_closes_abandoned_scans() {
        let dir = temp_dir("restart");
        {
            let spool = Spool::open(&dir, DEFAULT_MAX_BYTES).expect("open");
            spool.begin(&begin("old", 1)).expect("begin");
            for seq in 1..=3 {
                spool
                    .push_batch(&batch("old", seq, 10))
                    .await
                    .expect("push");
            }
            assert_eq!(spool.ack_batch("old", 1).expect("ack"), Some(10));
            spool.begin(&begin("done", 2)).expect("begin");
            spool.push_batch(&batch("done", 1, 5)).await.expect("push");
            spool
                .end(&ScanEnd {
                    scan_id: "done".to_owned(),
                    batches: 1,
                    ..ScanEnd::default()
                })
                .expect("end");
            assert_eq!(spool.depth().0, 3);
            // Dropped without finishing: a killed agent.
        }
        let spool = Spool::open(&dir, DEFAULT_MAX_BYTES).expect("reopen");
        assert_eq!(spool.depth().0, 3);
        let first = spool.first().expect("a scan");
        assert_eq!(first.begin.scan_id, "old");
        assert_eq!(first.pending, vec![2, 3]);
        assert!(first.end.is_none());
        assert_eq!(
            spool.close_abandoned("agent stopped").expect("close"),
            vec!["old".to_owned()]
        );
        let end = spool.view("old").and_then(|v| v.end).expect("ended");
        assert_eq!(end.batches, 3);
        assert!(!end.coverage[0].complete);
        assert_eq!(
            spool.read_batch("old", 2).expect("read"),
            batch("old", 2, 10)
        );

        // An abandoned scan whose batches were all acked keeps its count from the watermark.
        for seq in [2, 3] {
            spool.ack_batch("old", seq).expect("ack");
        }
        spool.finish("old").expect("finish");
        assert!(!dir.join("old").exists());
        drop(spool);
        let reopened = Spool::open(&dir, DEFAULT_MAX_BYTES).expect("reopen");
        assert_eq!(reopened.scans(), 1);
        assert_eq!(
            reopened.view("done").and_then(|v| v.end).map(|e| e.batches),
            Some(1)
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn one_agent_per_spool() {
        let dir = temp_dir("lock");
        let first = Spool::open(&dir, DEFAULT_MAX_BYTES).expect("open");
        let err = Spool::open(&dir, DEFAULT_MAX_BYTES).expect_err("locked");
        assert!(matches!(err, SpoolError::Locked(_)), "{err}");
        drop(first);
        Spool::open(&dir, DEFAULT_MAX_BYTES).expect("free again");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn watermark_counts_acked_batches_of_an_abandoned_scan() {
        let dir = temp_dir("watermark");
        {
            let spool = Spool::open(&dir, DEFAULT_MAX_BYTES).expect("open");
            spool.begin(&begin("s", 1)).expect("begin");
            for seq in 1..=2 {
                spool.push_batch(&batch("s", seq, 1)).await.expect("push");
                spool.ack_batch("s", seq).expect("ack");
            }
        }
        let spool = Spool::open(&dir, DEFAULT_MAX_BYTES).expect("reopen");
        spool.close_abandoned("stopped").expect("close");
        assert_eq!(
            spool.view("s").and_then(|v| v.end).map(|e| e.batches),
            Some(2)
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_spool_pauses_the_writer_until_an_ack() {
        let one = batch("s", 1, 20).encoded_len() as u64;
        let spool = std::sync::Arc::new(Spool::memory(one * 2));
        spool.begin(&begin("s", 1)).expect("begin");
        spool.push_batch(&batch("s", 1, 20)).await.expect("push");
        spool.push_batch(&batch("s", 2, 20)).await.expect("push");
        let writer = {
            let spool = std::sync::Arc::clone(&spool);
            tokio::spawn(async move { spool.push_batch(&batch("s", 3, 20)).await })
        };
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        assert!(!writer.is_finished(), "a full spool must hold the writer");
        assert_eq!(spool.depth().0, 2);
        spool.ack_batch("s", 1).expect("ack");
        writer.await.expect("joined").expect("pushed");
        assert_eq!(spool.view("s").expect("scan").pending, vec![2, 3]);
    }
}
