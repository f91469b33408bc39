//! Real-time decision hooks (issue 22): card programs whose approvals a program manager's
//! service confirms, declines or cuts, and what the ledger records of its answer.
//!
//! The hook is asked outside the ledger, between two operations: an authorization of a card
//! in a program that our own checks would approve comes back as [`Authorized::AskHook`]
//! (nothing recorded, nothing held), the gateway asks the program's service, and submits the
//! authorization again with the service's answer ([`HookVerdict`]) as one of its inputs. The
//! rules then decide again, with the verdict, and record the decision, its hook outcome and
//! its event in one commit. A repeat of the request finds the recorded decision and never
//! asks the hook again.

use std::collections::HashMap;
use std::sync::Arc;

use money::Currency;
use serde::{Deserialize, Serialize};

use crate::{Billing, Decision, ResponseCode};

/// Which cards are in which program, by card id and by account id (a card's own entry wins).
#[derive(Clone, Debug, Default)]
pub struct Programs {
    by_card: HashMap<String, Arc<str>>,
    by_account: HashMap<String, Arc<str>>,
}

impl Programs {
    /// No program: no authorization asks a hook.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `cards` and the cards of `accounts` into the program `name`.
    pub fn add(&mut self, name: &str, cards: &[String], accounts: &[String]) {
        let name: Arc<str> = Arc::from(name);
        for c in cards {
            self.by_card.insert(c.clone(), name.clone());
        }
        for a in accounts {
            self.by_account.insert(a.clone(), name.clone());
        }
    }

    /// Whether no card is in any program.
    pub fn is_empty(&self) -> bool {
        self.by_card.is_empty() && self.by_account.is_empty()
    }

    /// The program of a card, if it is in one.
    pub fn of(&self, card_id: &str, account_id: &str) -> Option<&Arc<str>> {
        if self.is_empty() {
            return None;
        }
        self.by_card
            .get(card_id)
            .or_else(|| self.by_account.get(account_id))
    }
}

/// What the spend controls said of an authorization the hook is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlsResult {
    /// The card (or its account) has controls, and they let the authorization through.
    Passed,
    /// No controls apply.
    None,
}

/// What the hook is asked about: an authorization our checks would approve, as they would
/// approve it. Nothing of it is recorded yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookQuery {
    /// The card's program.
    pub program: String,
    /// The card.
    pub card_id: String,
    /// Its account.
    pub account_id: String,
    /// First six and last four digits of the PAN.
    pub pan_masked: String,
    /// DE 4, minor units of `currency`.
    pub amount_minor: i64,
    /// DE 49.
    pub currency: Currency,
    /// What our checks would approve, in `currency` (less than `amount_minor` for a partial
    /// approval of the funds).
    pub approved_minor: i64,
    /// The conversion, when the home wallet would pay.
    pub billing: Option<Billing>,
    /// The spend controls' result.
    pub controls: ControlsResult,
}

/// What the program's service answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookAnswer {
    /// Approve as our checks would.
    Approve,
    /// Decline with this code (never an approval code).
    Decline(ResponseCode),
    /// Approve this much of the transaction amount (minor units of its currency, more than 0).
    ApprovePartial(i64),
}

/// Why a program's stand-in decided instead of its hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandInReason {
    /// No answer within the program's budget.
    Timeout,
    /// No connection, or it broke.
    Connection,
    /// An answer that is not one (a status other than 200, not the JSON asked for).
    Malformed,
}

impl StandInReason {
    /// The word in metrics, logs and the decision.
    pub fn as_str(self) -> &'static str {
        match self {
            StandInReason::Timeout => "timeout",
            StandInReason::Connection => "connection",
            StandInReason::Malformed => "malformed",
        }
    }
}

/// A program's stand-in: what is decided when its hook cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandIn {
    /// Decline 91 (issuer unavailable).
    Decline,
    /// Approve when the amount in the account's home currency (at the fee-free rate, as the
    /// spend controls count it) is at most this much; else decline 91.
    ApproveUpTo {
        /// Minor units of the account's home currency.
        home_minor: i64,
    },
}

/// The hook's outcome, given to the authorization as an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookVerdict {
    /// The service answered.
    Answered {
        /// The program asked.
        program: String,
        /// Its answer.
        answer: HookAnswer,
    },
    /// It did not (in time, or sensibly): the program's stand-in decides.
    StandIn {
        /// The program asked.
        program: String,
        /// Why.
        reason: StandInReason,
        /// The stand-in.
        stand_in: StandIn,
    },
}

/// What a decision records of its hook: who decided (the hook, or the stand-in and why), and
/// what. Kept with the decision (JSON text) and shown in its event's `data.hook`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookOutcome {
    /// The program.
    pub program: String,
    /// `hook` (its service answered) or `stand_in`.
    pub source: HookSource,
    /// Why the stand-in decided.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<StandInReason>,
    /// What was decided: `approved`, `partial` or `declined`.
    pub result: HookResult,
    /// For `partial`: the amount the hook approved, minor units of the transaction currency.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approved_minor: Option<i64>,
}

/// Who decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookSource {
    /// The program's service.
    Hook,
    /// The program's stand-in.
    StandIn,
}

/// What the hook (or stand-in) decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookResult {
    /// Approved as our checks would.
    Approved,
    /// Approved for less.
    Partial,
    /// Declined.
    Declined,
}

impl HookOutcome {
    /// The JSON kept in the decision's row.
    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Read back from a decision's row.
    pub(crate) fn from_text(s: &str) -> crate::Result<Self> {
        serde_json::from_str(s).map_err(|_| crate::LedgerError::corrupt("decisions", "bad hook"))
    }
}

/// An authorization's outcome where hooks apply: decided (and recorded), or waiting for its
/// program's hook (nothing recorded).
#[derive(Clone, Debug)]
// Decided is every authorization of a card in no program: boxing it would cost an allocation
// per authorization to save the rare AskHook a few hundred bytes on the stack.
#[allow(clippy::large_enum_variant)]
pub enum Authorized {
    /// The decision, recorded (or found again for a repeat).
    Decided(Decision),
    /// Ask the program's hook, then authorize again with its verdict.
    AskHook(Box<HookQuery>),
}
