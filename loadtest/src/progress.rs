//! The progress bar while a run goes (on standard error, only when it is
//! a terminal): elapsed of planned time, clients connected, batches acked
//! per second and the ack p99 so far. It also samples the node's RSS each
//! second into the timeline when `--server-pid` is given.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

use crate::client::Ctx;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(200);

/// How often the node's RSS is sampled.
const RSS_EVERY: Duration = Duration::from_secs(1);

/// A running bar; [`Progress::finish`] clears it.
pub struct Progress {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts the bar for the run of `ctx` (`hidden`: no bar, RSS samples
    /// still taken).
    pub fn start(ctx: Arc<Ctx>, title: &str, hidden: bool, server_pid: Option<u32>) -> Progress {
        let planned = ctx.send_end.saturating_duration_since(Instant::now());
        let bar = if hidden {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(
                Some(planned.as_millis() as u64),
                ProgressDrawTarget::stderr(),
            )
        };
        // unwrap: the template is a constant that parses.
        let style =
            ProgressStyle::with_template("{prefix:>4} [{bar:20}] {elapsed:>3}/{duration:3} {msg}")
                .unwrap()
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(title.to_string());
        let (stop, mut stopped) = oneshot::channel();
        let clients = ctx.args.clients;
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(TICK);
            let mut last_rss = started - RSS_EVERY;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => break,
                }
                let now = Instant::now();
                if let Some(pid) = server_pid {
                    if now.duration_since(last_rss) >= RSS_EVERY {
                        last_rss = now;
                        if let Ok(mib) = crate::node::status_mib(pid, "VmRSS") {
                            ctx.timeline.record_rss(now, (mib * 1024.0) as u64);
                        }
                    }
                }
                let t = &ctx.timeline;
                let p99 = t
                    .all_latency
                    .quantile(0.99)
                    .map_or("-".to_string(), |us| format!("{:.1}", us as f64 / 1000.0));
                bar.set_position(now.duration_since(started).as_millis() as u64);
                bar.set_message(format!(
                    "{}/{clients} conn, {} acks/s, {} acked, p99 {p99} ms",
                    t.connected.load(std::sync::atomic::Ordering::Relaxed),
                    t.last_full_second_acks(now),
                    t.acked.load(std::sync::atomic::Ordering::Relaxed),
                ));
            }
            bar.finish_and_clear();
        });
        Progress { stop, task }
    }

    /// Stops and clears the bar.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
