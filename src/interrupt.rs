//! Signals (Ctrl-C's SIGINT, SIGTERM, SIGHUP: one event) while statements
//! run on a user's database, or while a prompt waits for an answer.
//!
//! By default the CLI drops the running command on a signal (which also
//! removes a scratch cluster). While `apply` or `migrate` run statements,
//! that is not enough: dropping the connection leaves a long statement
//! running on the server until it next writes to the socket. Such work holds
//! a [`Handling`] guard; Ctrl-C then only sets a flag, the running statement
//! is cancelled on the server with a cancel request ([`cancellable`]), what
//! is transactional rolls back, and the command reports which steps stayed
//! applied. A prompt races its answer against a signal ([`wait`]). A second
//! signal drops the command at once.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio_postgres::Client;

static HANDLERS: AtomicUsize = AtomicUsize::new(0);
static REQUESTED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();

/// While alive, Ctrl-C is delivered to the running work instead of dropping
/// it.
pub struct Handling(());

/// Starts handling Ctrl-C in the running work.
pub fn handle() -> Handling {
    HANDLERS.fetch_add(1, Ordering::SeqCst);
    Handling(())
}

impl Drop for Handling {
    fn drop(&mut self) {
        HANDLERS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Called on Ctrl-C: true when the running work handles it (the first time
/// only), false when the caller should drop the work.
pub fn request() -> bool {
    if HANDLERS.load(Ordering::SeqCst) == 0 || REQUESTED.swap(true, Ordering::SeqCst) {
        return false;
    }
    NOTIFY.notify_waiters();
    true
}

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Runs `work`, a statement on `client`; on Ctrl-C meanwhile sends the
/// server a cancel request for it (through `url`'s TLS settings) and waits
/// for the statement to end, which it then does with SQLSTATE 57014.
pub async fn cancellable<F: Future>(client: &Client, url: Option<&str>, work: F) -> F::Output {
    let notified = NOTIFY.notified();
    tokio::pin!(work, notified);
    // Registers the waiter before the flag is read, so no request is missed.
    notified.as_mut().enable();
    if !requested() {
        tokio::select! {
            out = &mut work => return out,
            _ = &mut notified => {}
        }
    }
    if let Err(e) = crate::conninfo::cancel(client.cancel_token(), url).await {
        crate::ui::print_err(&format!("sending the cancel request failed: {e:#}\n"));
    }
    work.await
}

/// Waits for a signal (the first one, or one already received).
pub async fn wait() {
    let notified = NOTIFY.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if !requested() {
        notified.await;
    }
}

/// Sleeps for `wait`, or until Ctrl-C.
pub async fn sleep(wait: std::time::Duration) {
    let notified = NOTIFY.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if !requested() {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut notified => {}
        }
    }
}
