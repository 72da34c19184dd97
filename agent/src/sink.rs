//! Where providers put what they observe.
//!
//! A [`FactSink`] is the providers' only output: they push [`Fact`]s into it and report
//! progress on it. It is a bounded channel, so a slow consumer (the uplink waiting for acks)
//! slows the scan down instead of buffering without limit. Providers never see the network.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use landmeter_proto::v1::{Fact, fact};
use tokio::sync::mpsc;

/// The consumer went away (the uplink failed or the process is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fact sink closed: the consumer stopped")]
pub struct SinkClosed;

/// Sending half: cloned into every task of a scan.
#[derive(Debug, Clone)]
pub struct FactSink {
    tx: mpsc::Sender<Fact>,
    progress: Arc<Progress>,
}

/// Receiving half: owned by the uplink or the JSON writer.
pub type FactReceiver = mpsc::Receiver<Fact>;

/// Counters a scan updates as it goes; read for the progress line and the summary.
#[derive(Debug, Default)]
pub struct Progress {
    facts: AtomicU64,
    gaps: AtomicU64,
    stores_found: AtomicU64,
    stores_done: AtomicU64,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    pub facts: u64,
    pub gaps: u64,
    pub stores_found: u64,
    pub stores_done: u64,
}

impl Progress {
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            facts: self.facts.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            stores_found: self.stores_found.load(Ordering::Relaxed),
            stores_done: self.stores_done.load(Ordering::Relaxed),
        }
    }
}

impl FactSink {
    /// A sink and its receiver, holding at most `capacity` facts in between.
    pub fn channel(capacity: usize) -> (FactSink, FactReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            FactSink {
                tx,
                progress: Arc::new(Progress::default()),
            },
            rx,
        )
    }

    /// Pushes one fact, waiting while the consumer is behind.
    pub async fn push(&self, fact: Fact) -> Result<(), SinkClosed> {
        let is_gap = matches!(fact.body, Some(fact::Body::Gap(_)));
        self.tx.send(fact).await.map_err(|_| SinkClosed)?;
        self.progress.facts.fetch_add(1, Ordering::Relaxed);
        if is_gap {
            self.progress.gaps.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Records that `n` more stores were found (listing).
    pub fn stores_found(&self, n: u64) {
        self.progress.stores_found.fetch_add(n, Ordering::Relaxed);
    }

    /// Records that one store was fully examined.
    pub fn store_done(&self) {
        self.progress.stores_done.fetch_add(1, Ordering::Relaxed);
    }

    /// Shared counters, for progress display.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::v1::Gap;

    #[tokio::test]
    async fn counts_facts_and_gaps_and_reports_a_closed_consumer() {
        let (sink, mut rx) = FactSink::channel(4);
        let gap = Fact {
            body: Some(fact::Body::Gap(Gap::default())),
            ..Fact::default()
        };
        sink.push(Fact::default()).await.expect("open");
        sink.push(gap).await.expect("open");
        sink.stores_found(3);
        sink.store_done();
        assert_eq!(
            sink.progress().snapshot(),
            ProgressSnapshot {
                facts: 2,
                gaps: 1,
                stores_found: 3,
                stores_done: 1
            }
        );
        assert!(rx.recv().await.is_some());
        drop(rx);
        assert_eq!(sink.push(Fact::default()).await, Err(SinkClosed));
    }
}
