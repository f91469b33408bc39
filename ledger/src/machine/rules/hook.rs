//! A card program's real-time decision hook in the authorization rule (issue 22; the types
//! are in `crate::hook`): once our own checks approve, a card in a program is either sent
//! back to ask its hook (nothing recorded), or decided with the hook's verdict: approved as
//! our checks would, declined with the hook's code, approved for the hook's smaller amount,
//! or decided by the program's stand-in. Never more than our checks approve.

use crate::decide::{self, Funds};
use crate::machine::Ctx;
use crate::{
    AuthRequest, CardRecord, ControlsResult, HookAnswer, HookOutcome, HookQuery, HookResult,
    HookSource, HookVerdict, ResponseCode, StandIn, StandInReason, Wallet,
};

/// What the authorization does after its funds were approved.
pub(super) enum Gate {
    /// Hold these funds; record the hook's outcome, if it was asked.
    Proceed(Funds, Option<HookOutcome>),
    /// Decline with this code, recording the hook's outcome.
    Decline(ResponseCode, HookOutcome),
    /// Ask the card's program's hook first.
    Ask(Box<HookQuery>),
}

fn outcome(
    program: &str,
    reason: Option<StandInReason>,
    result: HookResult,
    approved_minor: Option<i64>,
) -> HookOutcome {
    HookOutcome {
        program: program.to_owned(),
        source: if reason.is_some() {
            HookSource::StandIn
        } else {
            HookSource::Hook
        },
        reason,
        result,
        approved_minor,
    }
}

/// `funds` (an approval of our checks) as the card's program's hook has it, if the card is in
/// a program. One lookup for a card in none (none at all when no program is configured).
pub(super) fn gate(
    ctx: &Ctx,
    r: &AuthRequest,
    card: &CardRecord,
    wallets: &[Wallet],
    funds: Funds,
    controls: ControlsResult,
) -> Gate {
    let Funds::Approve {
        approved_minor,
        ref billing,
        ..
    } = funds
    else {
        return Gate::Proceed(funds, None);
    };
    let programs = ctx.programs.load();
    let Some(program) = programs.of(&card.id, &card.account_id) else {
        return Gate::Proceed(funds, None);
    };
    let Some(verdict) = &r.hook else {
        return Gate::Ask(Box::new(HookQuery {
            program: program.to_string(),
            card_id: card.id.clone(),
            account_id: card.account_id.clone(),
            pan_masked: card.masked.clone(),
            amount_minor: r.amount_minor,
            currency: r.currency,
            approved_minor,
            billing: billing.clone(),
            controls,
        }));
    };
    match verdict {
        HookVerdict::Answered { program, answer } => {
            answered(ctx, r, card, wallets, funds, program, *answer)
        }
        HookVerdict::StandIn {
            program,
            reason,
            stand_in,
        } => {
            let within = match stand_in {
                StandIn::Decline => false,
                StandIn::ApproveUpTo { home_minor } => decide::home_amount(
                    approved_minor,
                    r.currency,
                    card.home_currency,
                    ctx.quoter.as_ref(),
                )
                .is_ok_and(|home| home <= *home_minor),
            };
            if within {
                let o = outcome(program, Some(*reason), HookResult::Approved, None);
                Gate::Proceed(funds, Some(o))
            } else {
                let o = outcome(program, Some(*reason), HookResult::Declined, None);
                Gate::Decline(ResponseCode::ISSUER_UNAVAILABLE, o)
            }
        }
    }
}

/// The hook's own answer applied to what our checks approve.
fn answered(
    ctx: &Ctx,
    r: &AuthRequest,
    card: &CardRecord,
    wallets: &[Wallet],
    funds: Funds,
    program: &str,
    answer: HookAnswer,
) -> Gate {
    let Funds::Approve { approved_minor, .. } = funds else {
        return Gate::Proceed(funds, None);
    };
    let cut = match answer {
        HookAnswer::Approve => {
            return Gate::Proceed(
                funds,
                Some(outcome(program, None, HookResult::Approved, None)),
            )
        }
        HookAnswer::Decline(code) => {
            // An approval code is no decline: the gateway refuses such an answer as
            // malformed; were one to get here, it declines all the same.
            let code = if code.is_approval() {
                ResponseCode::DO_NOT_HONOUR
            } else {
                code
            };
            return Gate::Decline(code, outcome(program, None, HookResult::Declined, None));
        }
        HookAnswer::ApprovePartial(cut) => cut,
    };
    if cut >= approved_minor {
        // Nothing to cut: approved as our checks would.
        let o = outcome(program, None, HookResult::Approved, Some(cut));
        return Gate::Proceed(funds, Some(o));
    }
    let declined = outcome(program, None, HookResult::Declined, Some(cut));
    if cut <= 0 || !r.allow_partial {
        // The acquirer takes no partial approval: a smaller amount cannot be approved.
        return Gate::Decline(ResponseCode::DO_NOT_HONOUR, declined);
    }
    match decide::decide_funds(
        cut,
        r.currency,
        false,
        card.home_currency,
        wallets,
        ctx.quoter.as_ref(),
    ) {
        Funds::Approve {
            wallet_currency,
            approved_minor,
            hold_minor,
            billing,
            ..
        } => Gate::Proceed(
            Funds::Approve {
                wallet_currency,
                approved_minor,
                hold_minor,
                billing,
                partial: true,
            },
            Some(outcome(program, None, HookResult::Partial, Some(cut))),
        ),
        Funds::Decline(code) => Gate::Decline(code, declined),
    }
}
