//! The progress bar while a run goes (on standard error, only when it is
//! a terminal, or on a terminal the caller gives, see [`Draw`]): elapsed
//! of planned time, clients connected, batches acked in the last second,
//! acked so far and the ack p99 so far. It also samples the node's RSS
//! each second into the timeline when `--server-pid` is given.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use tokio::sync::oneshot;

use crate::client::Ctx;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(200);

/// How often the node's RSS is sampled.
const RSS_EVERY: Duration = Duration::from_secs(1);

/// Where a run's bars are drawn (`--no-progress`: nowhere).
#[derive(Clone, Default)]
pub enum Draw {
    /// Standard error; indicatif draws nothing when it is not a terminal.
    #[default]
    Stderr,
    /// A terminal the caller makes, a new one for each bar (a test reads
    /// what was drawn on it).
    Term(Arc<dyn Fn() -> Box<dyn TermLike> + Send + Sync>),
}

impl Draw {
    fn target(&self) -> ProgressDrawTarget {
        match self {
            Draw::Stderr => ProgressDrawTarget::stderr(),
            // Unlimited refresh: every tick's message is drawn.
            Draw::Term(make) => ProgressDrawTarget::term_like(make()),
        }
    }
}

/// A running bar; [`Progress::finish`] clears it.
pub struct Progress {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts the bar for the run of `ctx` on `draw` (with `--no-progress`
    /// no bar, RSS samples still taken).
    pub fn start(ctx: Arc<Ctx>, title: &str, draw: &Draw, server_pid: Option<u32>) -> Progress {
        let planned = ctx.send_end.saturating_duration_since(Instant::now());
        let bar = if ctx.args.output.no_progress {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(Some(planned.as_millis() as u64), draw.target())
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use clap::Parser;

    use super::*;
    use crate::args::Args;
    use crate::sink::InProcessSink;

    /// A terminal that keeps every line drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl Screen {
        fn draw(&self) -> Draw {
            let screen = self.clone();
            Draw::Term(Arc::new(move || Box::new(screen.clone())))
        }

        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            if !s.trim().is_empty() {
                self.0.lock().unwrap().push(s.to_string());
            }
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// `(connected, acks in the last second, acked so far)` of a drawn
    /// bar: `... N/4 conn, R acks/s, A acked, p99 ...`.
    fn figures(line: &str) -> (u64, u64, u64) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "conn,").expect(line);
        let n = |w: &str| w.parse::<u64>().expect(line);
        assert_eq!(
            (words[at + 2], words[at + 4]),
            ("acks/s,", "acked,"),
            "{line}"
        );
        let connected = words[at - 1].split('/').next().expect(line);
        (n(connected), n(words[at + 1]), n(words[at + 3]))
    }

    fn args(sink: SocketAddr, extra: &[&str]) -> Args {
        let server = format!("ws://{sink}");
        let mut v = vec![
            "reel-loadtest",
            "--server",
            &server,
            "--site",
            "any",
            "--clients",
            "4",
            "--rate",
            "20",
            "--ramp",
            "0.2",
            "--snapshot-kb",
            "2",
            "--batch-kb-min",
            "1",
            "--batch-kb-max",
            "2",
            "--drain-timeout",
            "5",
            "--no-metrics",
        ];
        v.extend_from_slice(extra);
        Args::parse_from(v)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_bar_shows_the_acks_as_the_run_goes() {
        let sink = InProcessSink::start(SocketAddr::from(([127, 0, 0, 1], 0)), 1).unwrap();
        let screen = Screen::default();
        let s = crate::run_with(args(sink.addr, &["--duration", "2.5"]), screen.draw())
            .await
            .unwrap();
        let lines = screen.lines();
        // Every tick's bar (the first, drawn as it is set up, has no message).
        let bars: Vec<_> = lines
            .iter()
            .filter(|l| l.starts_with("reel [") && l.contains(" conn, "))
            .collect();
        assert!(bars.len() >= 3, "{lines:#?}");
        let shown: Vec<_> = bars.iter().map(|l| figures(l)).collect();
        // Acked so far only grows, and grew while the run went.
        assert!(shown.windows(2).all(|w| w[0].2 <= w[1].2), "{lines:#?}");
        let (first, last) = (shown[0].2, shown[shown.len() - 1].2);
        assert!(first < last && last > 0, "{lines:#?}");
        assert!(last <= s["batches_acked"].as_u64().unwrap(), "{s:#}");
        assert!(shown.iter().any(|f| f.0 == 4), "{lines:#?}");
        // The rate is a whole second's acks, as the summary counts them.
        let busiest = s["per_second"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["acks"].as_u64().unwrap())
            .max()
            .unwrap();
        assert!(shown.iter().any(|f| f.1 > 0), "{lines:#?}");
        assert!(shown.iter().all(|f| f.1 <= busiest), "{busiest} {lines:#?}");

        // `--no-progress`: nothing drawn.
        let quiet = Screen::default();
        let args = args(sink.addr, &["--duration", "0.5", "--no-progress"]);
        crate::run_with(args, quiet.draw()).await.unwrap();
        assert!(quiet.lines().is_empty(), "{:#?}", quiet.lines());
    }
}
