//! Every metric reel exports, declared once: its name (the const every
//! `metrics::counter!/gauge!/histogram!` call site uses), its kind, the
//! labels call sites attach, and its help text. The node describes each one
//! at start and registers it (counters and gauges at zero, histograms
//! empty), so that a fresh node's `/metrics` already lists them all
//! (`reel::telemetry::describe_metrics`). The alert rules and the
//! Grafana dashboard in `deploy/monitoring/` are checked against what a
//! running node exports.
//!
//! Adding a metric: one line in the list below (kind, CONST, name, labels,
//! help), then `metrics::counter!(metric_names::CONST)` at the call site.
//! A test in the server crate fails on any `counter!/gauge!/histogram!`
//! call site that still spells a `"reel_..."` name as a literal.

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported metric.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// The labels its call sites attach (empty: none).
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

macro_rules! metrics_list {
    ($($kind:ident $konst:ident = $name:literal, [$($label:literal),*], $help:literal;)*) => {
        $(
            #[doc = $help]
            pub const $konst: &str = $name;
        )*
        /// Every metric, in the order of the list.
        pub const ALL: &[Metric] = &[
            $(Metric {
                name: $konst,
                kind: metrics_list!(@kind $kind),
                labels: &[$($label),*],
                help: $help,
            },)*
        ];
    };
    (@kind counter) => { Kind::Counter };
    (@kind gauge) => { Kind::Gauge };
    (@kind histogram) => { Kind::Histogram };
}

metrics_list! {
    // Node, connections, HTTP.
    gauge READY = "reel_ready", [], "1 when the node's last readiness check passed (what /readyz answers), 0 otherwise.";
    gauge MAINTENANCE = "reel_maintenance", [], "1 while the operator's maintenance switch holds this node.";
    gauge OPEN_CONNECTIONS = "reel_open_connections", [], "Ingest WebSocket connections open on this node.";
    histogram HTTP_REQUEST_DURATION_SECONDS = "reel_http_request_duration_seconds", ["route", "method", "status"], "HTTP request latency by route pattern, method and status.";
    counter HTTP_SLOW_REQUESTS_TOTAL = "reel_http_slow_requests_total", ["route"], "HTTP requests slower than log.slow_request_ms, by route pattern (each also logged as `slow request`).";
    counter ERRORS_TOTAL = "reel_errors_total", ["code"], "Errors answered to clients (HTTP and WebSocket), by stable error code.";
    // Ingest and acks.
    counter MESSAGES_TOTAL = "reel_messages_total", [], "Tracker messages decoded on ingest connections.";
    counter BATCH_BYTES_TOTAL = "reel_batch_bytes_total", [], "Wire bytes of batches handed to session actors.";
    counter SETTINGS_SENT_TOTAL = "reel_settings_sent_total", [], "settings messages sent to connected trackers.";
    counter SESSIONS_STARTED_TOTAL = "reel_sessions_started_total", [], "Sessions started on this node.";
    gauge LIVE_SESSIONS = "reel_live_sessions", [], "Session actors live on this node.";
    counter BATCHES_TOTAL = "reel_batches_total", [], "Batches accepted (made durable and acked).";
    counter EVENTS_TOTAL = "reel_events_total", [], "rrweb events in accepted batches.";
    counter EVENT_BYTES_TOTAL = "reel_event_bytes_total", [], "Raw bytes of accepted events.";
    counter DUPLICATE_BATCHES_TOTAL = "reel_duplicate_batches_total", [], "Batches received again (below the next expected seq) and acked without storing.";
    counter REDACTED_EVENTS_TOTAL = "reel_redacted_events_total", [], "Events the site's redaction rules changed before the spool.";
    counter IDENTIFIES_TOTAL = "reel_identifies_total", [], "identify messages handled.";
    counter IDENTIFY_REPLACED_TOTAL = "reel_identify_replaced_total", [], "identify writes replaced by a newer one before being written.";
    histogram ACK_DELAY_SECONDS = "reel_ack_delay_seconds", [], "Time from a batch received to its ack (bound: 5 s, PROTOCOL.md section 1).";
    gauge INGEST_INFLIGHT_BYTES = "reel_ingest_inflight_bytes", [], "Bytes of received batches not yet acked (the in-flight budget in use).";
    gauge INGEST_INFLIGHT_MAX_BYTES = "reel_ingest_inflight_max_bytes", [], "The in-flight budget's bound (ingest.inflight_max_bytes).";
    counter INGEST_BUDGET_WAITS_TOTAL = "reel_ingest_budget_waits_total", [], "Batches that waited for in-flight budget.";
    counter INGEST_BUFFER_MEMORY_WAITS_TOTAL = "reel_ingest_buffer_memory_waits_total", [], "Batches that waited for segment buffer memory.";
    counter OVERLOAD_REFUSALS_TOTAL = "reel_overload_refusals_total", ["reason"], "New connections refused because the node is overloaded, by reason.";
    // Segments and buffers.
    gauge SEGMENT_BUFFER_BYTES = "reel_segment_buffer_bytes", [], "Bytes of durable batches held in memory (segment buffers and pending compression).";
    gauge SEGMENT_BUFFER_MAX_BYTES = "reel_segment_buffer_max_bytes", [], "The bound on segment buffer memory (segments.max_buffered_bytes).";
    counter SEGMENTS_FLUSHED_TOTAL = "reel_segments_flushed_total", [], "Segments committed to the blob store and index.";
    counter SEGMENTS_FLUSHED_EARLY_TOTAL = "reel_segments_flushed_early_total", [], "Segments flushed before their size or age bound (memory pressure).";
    counter SEGMENT_RAW_BYTES_TOTAL = "reel_segment_raw_bytes_total", [], "Raw bytes of committed segments.";
    counter SEGMENT_STORED_BYTES_TOTAL = "reel_segment_stored_bytes_total", [], "Compressed bytes of committed segments.";
    histogram SEGMENT_FLUSH_SECONDS = "reel_segment_flush_seconds", [], "Time to commit a segment.";
    counter BATCHES_REWOUND_TOTAL = "reel_batches_rewound_total", [], "Batches dropped from a segment by a rewind (client resent from an earlier seq).";
    counter SEGMENT_BATCHES_TRIMMED_TOTAL = "reel_segment_batches_trimmed_total", [], "Batches kept when a segment was trimmed to what another node had not stored.";
    counter SEGMENT_OVERLAPS_READ_WHOLE_TOTAL = "reel_segment_overlaps_read_whole_total", [], "Overlapping segments read whole because their batch ends were unusable.";
    // Spool.
    gauge SPOOL_BYTES = "reel_spool_bytes", [], "Bytes in the spool files.";
    gauge SPOOL_FILES = "reel_spool_files", [], "Spool files on disk.";
    gauge SPOOL_FILL_RATIO = "reel_spool_fill_ratio", [], "Spool bytes over spool.max_bytes (new connections are refused at 1).";
    counter SPOOL_BYTES_TOTAL = "reel_spool_bytes_total", [], "Bytes written to the spool.";
    counter SPOOL_WRITE_FAILURES_TOTAL = "reel_spool_write_failures_total", ["kind"], "Spool writes that failed, by kind.";
    counter SPOOL_FULL_REFUSALS_TOTAL = "reel_spool_full_refusals_total", [], "Ingest connections refused because the spool or its disk is full.";
    counter SPOOL_SKIPPED_BYTES_TOTAL = "reel_spool_skipped_bytes_total", [], "Unreadable spool bytes skipped by recovery.";
    histogram SPOOL_FSYNC_SECONDS = "reel_spool_fsync_seconds", [], "Time of one spool group write and fsync.";
    histogram SPOOL_GROUP_SIZE = "reel_spool_group_size", [], "Records per spool fsync group.";
    gauge SPOOL_DISK_FREE_BYTES = "reel_spool_disk_free_bytes", [], "Free bytes on the spool's filesystem (the data directory).";
    gauge SPOOL_DISK_MIN_FREE_BYTES = "reel_spool_disk_min_free_bytes", [], "Free space below which the disk counts as full (spool.min_free_bytes).";
    gauge SPOOL_DISK_FULL = "reel_spool_disk_full", [], "1 while the spool's disk is below spool.min_free_bytes (new connections refused).";
    // Outbox and dead letters.
    gauge OUTBOX_QUEUED = "reel_outbox_queued", [], "Index and blob writes queued in the spool while storage is down.";
    counter OUTBOX_QUEUED_TOTAL = "reel_outbox_queued_total", ["op"], "Writes queued in the outbox, by operation.";
    counter OUTBOX_APPLIED_TOTAL = "reel_outbox_applied_total", ["op"], "Queued writes applied, by operation.";
    counter DEAD_LETTERS_TOTAL = "reel_dead_letters_total", ["op"], "Writes storage refused that went to the dead letters, by operation.";
    counter TOMBSTONED_WRITES_SKIPPED_TOTAL = "reel_tombstoned_writes_skipped_total", ["op"], "Writes of deleted sessions not applied, by operation.";
    counter STORAGE_RETRIES_TOTAL = "reel_storage_retries_total", ["op"], "Storage writes retried with backoff, by operation.";
    // Blob store.
    counter S3_REQUESTS_TOTAL = "reel_s3_requests_total", ["op", "outcome"], "S3 requests by operation and outcome.";
    histogram S3_REQUEST_SECONDS = "reel_s3_request_seconds", ["op"], "S3 request latency by operation.";
    // Bus and presence.
    gauge BUS_UP = "reel_bus_up", [], "1 while the bus (Redis, or the in-process bus) is connected.";
    counter BUS_PUBLISHED_TOTAL = "reel_bus_published_total", [], "Messages published on the Redis bus.";
    counter BUS_RECONNECTS_TOTAL = "reel_bus_reconnects_total", [], "Redis bus reconnections.";
    counter BUS_UNDECODABLE_TOTAL = "reel_bus_undecodable_total", [], "Bus messages that could not be decoded.";
    counter PRESENCE_DROPPED_TOTAL = "reel_presence_dropped_total", [], "Presence writes dropped because their queue was full.";
    // Live viewing.
    gauge LIVE_CLIENTS = "reel_live_clients", [], "Dashboard live-view connections open.";
    counter LIVE_WATCHES_TOTAL = "reel_live_watches_total", [], "Live watches started by dashboard clients.";
    counter WATCHES_STARTED_TOTAL = "reel_watches_started_total", [], "Watches started on session actors.";
    counter LIVE_SLOW_CLIENTS_TOTAL = "reel_live_slow_clients_total", [], "Live clients disconnected for being too slow.";
    counter LIVE_REVOKED_TOTAL = "reel_live_revoked_total", [], "Live clients disconnected because their access was revoked.";
    counter LIVE_DROPPED_TOTAL = "reel_live_dropped_total", [], "Live batches dropped for a full watcher queue.";
    counter LIVE_CATCH_UPS_TOTAL = "reel_live_catch_ups_total", [], "Watchers caught up from the live tails.";
    counter LIVE_TAILS_DROPPED_TOTAL = "reel_live_tails_dropped_total", [], "Live tails cleared for exceeding their bound.";
    // Compaction.
    histogram COMPACTION_SECONDS = "reel_compaction_seconds", [], "Time to compact one session.";
    counter COMPACTION_SESSIONS_TOTAL = "reel_compaction_sessions_total", [], "Sessions compacted.";
    counter COMPACTION_FAILURES_TOTAL = "reel_compaction_failures_total", [], "Session compactions that failed.";
    counter COMPACTION_TABS_TOTAL = "reel_compaction_tabs_total", [], "Tabs compacted.";
    counter COMPACTION_BYTES_IN_TOTAL = "reel_compaction_bytes_in_total", [], "Stored bytes read by compaction.";
    counter COMPACTION_BYTES_OUT_TOTAL = "reel_compaction_bytes_out_total", [], "Stored bytes written by compaction.";
    counter COMPACTION_RAW_BYTES_TOTAL = "reel_compaction_raw_bytes_total", [], "Raw bytes of compacted tabs.";
    counter COMPACTION_ABANDONED_TOTAL = "reel_compaction_abandoned_total", [], "Tab compactions abandoned.";
    counter COMPACTION_OBJECTS_DELETED_TOTAL = "reel_compaction_objects_deleted_total", [], "Blob objects deleted after compaction.";
    gauge COMPACTION_HELD_BY_FLAG = "reel_compaction_held_by_flag", [], "Ended sessions the compaction flag holds back (compacted once it is on for them).";
    // Feature flags.
    gauge FLAG_RULES = "reel_flag_rules", [], "Feature flag rules (global, organisation and site) this node follows.";
    // Deletion, erasure, retention.
    counter SESSIONS_DELETED_TOTAL = "reel_sessions_deleted_total", ["reason"], "Sessions deleted, by reason.";
    counter BLOB_OBJECTS_DELETED_TOTAL = "reel_blob_objects_deleted_total", [], "Blob objects deleted with their sessions.";
    counter ERASURES_DONE_TOTAL = "reel_erasures_done_total", [], "Person erasure jobs completed.";
    counter RETENTION_SESSIONS_DELETED_TOTAL = "reel_retention_sessions_deleted_total", [], "Sessions deleted by the retention sweep.";
    gauge RETENTION_LAG_SECONDS = "reel_retention_lag_seconds", [], "Age past its retention of the oldest session still stored.";
    gauge RETENTION_LAST_PASS_TIMESTAMP_SECONDS = "reel_retention_last_pass_timestamp_seconds", [], "Unix time of the last completed retention pass.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        let mut seen = std::collections::HashSet::new();
        for m in ALL {
            assert!(seen.insert(m.name), "{} declared twice", m.name);
            assert!(m.name.starts_with("reel_"), "{}", m.name);
            assert!(
                m.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                m.name
            );
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                m.name
            );
            assert!(!m.help.is_empty(), "{} has no help", m.name);
        }
    }
}
