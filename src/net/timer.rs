//! A socket's one-shot idle timer (`socket.timeout(seconds)`), on the I/O thread.
//!
//! The deadline lives in an atomic, so re-arming on every message costs a store, not a task.
//! One small task runs while a deadline is set and ends when it is cleared (closing a socket
//! clears it). Any number from JS is accepted: huge or infinite
//! values never fire, and nothing here can panic on them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What owns a timer: fired on the I/O thread when the deadline passes.
pub trait Owner: Send + Sync + 'static {
  fn fire(&self);
  fn timer(&self) -> &Timer;
}

/// Milliseconds after `base()` at which the timer fires; 0 when none is set.
#[derive(Default)]
pub struct Timer {
  deadline: AtomicU64,
  running: AtomicBool,
  changed: Notify,
}

/// The longest single sleep: a deadline further away is approached in steps, so no `Instant`
/// arithmetic can overflow.
const MAX_SLEEP: Duration = Duration::from_secs(24 * 3600);

impl Timer {
  /// Fires once after `seconds`; zero, negative or NaN clears the timer.
  pub fn set<O: Owner>(&self, owner: &Arc<O>, seconds: f64) {
    let deadline = if seconds > 0.0 {
      // Saturating float-to-int cast: Infinity and 1e308 become "practically never".
      let ms = (seconds * 1000.0) as u64;
      now_ms().saturating_add(ms.max(1))
    } else {
      0
    };
    self.deadline.store(deadline, Ordering::Release);
    self.changed.notify_one();
    if deadline != 0 && !self.running.swap(true, Ordering::AcqRel) {
      let weak = Arc::downgrade(owner);
      crate::runtime::handle().spawn(run(weak));
    }
  }

  pub fn clear(&self) {
    self.deadline.store(0, Ordering::Release);
    self.changed.notify_one();
  }

  #[cfg(test)]
  pub fn is_running(&self) -> bool {
    self.running.load(Ordering::Acquire)
  }
}

async fn run<O: Owner>(owner: Weak<O>) {
  loop {
    let Some(strong) = owner.upgrade() else {
      return;
    };
    let timer = strong.timer();
    let deadline = timer.deadline.load(Ordering::Acquire);
    if deadline == 0 {
      timer.running.store(false, Ordering::Release);
      // A `set` between the load and the store saw `running` still true: go on for it.
      if timer.deadline.load(Ordering::Acquire) == 0 || timer.running.swap(true, Ordering::AcqRel) {
        return;
      }
      continue;
    }
    let now = now_ms();
    if now >= deadline {
      if timer
        .deadline
        .compare_exchange(deadline, 0, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
      {
        strong.fire();
      }
      continue;
    }
    // Holds the socket while sleeping; closing it clears the deadline, which ends this task.
    let wait = Duration::from_millis(deadline - now).min(MAX_SLEEP);
    tokio::select! {
      _ = tokio::time::sleep(wait) => {}
      _ = timer.changed.notified() => {}
    }
  }
}

fn base() -> Instant {
  static BASE: OnceLock<Instant> = OnceLock::new();
  *BASE.get_or_init(Instant::now)
}

/// Milliseconds since `base()`, never 0.
fn now_ms() -> u64 {
  Instant::now().saturating_duration_since(base()).as_millis() as u64 + 1
}
