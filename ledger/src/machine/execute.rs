//! Running a batch's rules over its snapshot: the fast path, and the isolation of a failing
//! operation, written once for every engine.

use std::panic::AssertUnwindSafe;

use super::{invariants, rules, Ctx, Effects, Output, Prepared, Snapshot, State};
use crate::{LedgerError, Result};

/// One operation, a panic in it (a bug, or the gateway's quoter) turned into its error.
fn guarded(st: &mut State<'_>, ctx: &Ctx, p: &Prepared) -> Result<Output> {
    std::panic::catch_unwind(AssertUnwindSafe(|| rules::run(st, ctx, p)))
        .unwrap_or(Err(LedgerError::Panicked))
}

/// Runs `ops` over `snap`: each operation's output and the batch's effects.
///
/// Fast path: every operation over one state, the batch's changes checked once. When an
/// operation fails (an error, a panic) or the changes break an invariant, the batch runs
/// again from the snapshot one operation at a time, each checked on its own changes: a
/// failing one gets its error and leaves nothing, its neighbours are decided as if it had not
/// come (the old engines did this with a SQL savepoint per request).
pub(crate) fn execute(
    snap: &Snapshot,
    ctx: &Ctx,
    ops: &[&Prepared],
) -> (Vec<Result<Output>>, Effects) {
    let mut st = State::new(snap);
    let mut out = Vec::with_capacity(ops.len());
    for p in ops {
        match guarded(&mut st, ctx, p) {
            Ok(o) => out.push(Ok(o)),
            Err(_) => break,
        }
    }
    if out.len() == ops.len() && invariants::check(&State::new(snap), &st).is_ok() {
        return (out, st.effects());
    }
    let mut st = State::new(snap);
    let mut out = Vec::with_capacity(ops.len());
    for p in ops {
        let before = st.clone();
        let r = guarded(&mut st, ctx, p).and_then(|o| invariants::check(&before, &st).map(|()| o));
        if r.is_err() {
            st = before;
        }
        out.push(r);
    }
    (out, st.effects())
}
