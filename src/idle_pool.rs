//! Threads that only use CPU nothing else wants: the compactor's pool
//! (`reel_actors::compactor::CpuPool`). Each thread runs at `SCHED_IDLE`
//! (Linux: it gets a core only when no other thread of the machine wants
//! it, so it never delays the threads that ack batches) and, should that
//! be refused, at nice 19.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use reel_actors::compactor::CpuPool;

type Job = Box<dyn FnOnce() + Send>;

pub struct IdlePool {
    jobs: mpsc::Sender<Job>,
}

impl IdlePool {
    /// Starts `threads` idle threads (at least one).
    pub fn start(threads: usize) -> std::io::Result<IdlePool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("reel-idle-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(IdlePool { jobs: tx })
    }
}

impl CpuPool for IdlePool {
    fn spawn(&self, job: Box<dyn FnOnce() + Send>) {
        // The threads live as long as the process: a send cannot fail
        // while they run (if they are gone, the job is dropped and its
        // caller sees it).
        let _ = self.jobs.send(job);
    }
}

/// Moves the calling thread to `SCHED_IDLE`, else to nice 19.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscalls on the calling thread (pid 0), with a
        // valid parameter struct.
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
        if !idle {
            // SAFETY: as above; on Linux `PRIO_PROCESS` 0 is this thread.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
        }
        tracing::debug!(sched_idle = idle, "compaction thread started");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_at_idle_priority() {
        let pool = IdlePool::start(1).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.spawn(Box::new(move || {
            #[cfg(target_os = "linux")]
            // SAFETY: reads the calling thread's policy.
            let policy = unsafe { libc::sched_getscheduler(0) };
            #[cfg(not(target_os = "linux"))]
            let policy = 0;
            tx.send(policy).unwrap();
        }));
        let policy = rx.recv().unwrap();
        #[cfg(target_os = "linux")]
        assert_eq!(policy, libc::SCHED_IDLE);
        let _ = policy;
    }
}
