//! The drain signal: one `watch` flag, set once, seen by every task.

use tokio::sync::watch;

/// Sets the drain flag.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Waits for the drain flag.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A trigger and its first listener.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// Starts the drain; idempotent.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// Another listener.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Whether the drain has started.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the drain has started (at once if it already has). Cancel-safe.
    pub async fn wait(&mut self) {
        // An error means the trigger is gone: treat it as a shutdown, never hang.
        let _ = self.0.wait_for(|v| *v).await;
    }
}
