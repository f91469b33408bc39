//! 0100/0200 (and their repeats): balance inquiry, purchase and cash, incremental
//! authorization. The ledger decides and records; we answer from what it recorded.

use std::sync::Arc;

use iso8583::OwnedMessage;
use jiff::Timestamp;
use ledger::{AuthRequest, BalanceRequest, DecisionKind, Pan, ResponseCode, TransactionKind};
use tokio::time::Instant;

use super::deadline::before;
use super::fields::{self, FieldFault, Processing};
use super::response::{apply_decision, de54, respond};
use super::{MsgId, Switch};
use crate::security::arpc_for;

impl Switch {
    pub(crate) async fn authorization(
        &self,
        req: &OwnedMessage,
        deadline: Instant,
    ) -> OwnedMessage {
        let bd = self.core.business_date.today();
        let processing = match fields::processing(req) {
            Ok(p) => p,
            Err(f) => return self.format_error(req, bd, f),
        };
        let kind = match processing {
            Processing::Purchase => TransactionKind::Purchase,
            Processing::Cash => TransactionKind::Cash,
            // Boxed: its future (a read on either store) is the largest of all and would
            // otherwise size every request's task, which each spawn copies.
            Processing::BalanceInquiry => {
                return Box::pin(self.balance_inquiry(req, deadline)).await
            }
            Processing::Other => return respond(req, bd, ResponseCode::INVALID_TRANSACTION),
        };
        let built = (|| -> Result<AuthRequest, FieldFault> {
            Ok(AuthRequest {
                key: fields::network_key(req)?,
                terms: fields::terms(req, &fields::AUTHORIZATION_TERMS),
                pan: Pan::new(fields::required(req, 2)?).map_err(|_| FieldFault(2))?,
                expiry: fields::text(req, 14).map(str::to_owned),
                kind,
                // Missing or zero amounts are the ledger's recorded decline 13.
                amount_minor: fields::amount(req, 4)?.unwrap_or(0),
                currency: fields::currency_alpha(req, 49)?,
                allow_partial: fields::allows_partial(req),
                original: fields::original_key(req)?,
                merchant: fields::merchant(req),
                security: Default::default(),
                hook: None,
                business_date: bd,
                now: Timestamp::now(),
            })
        })();
        let mut auth = match built {
            Ok(a) => a,
            Err(f) => return self.format_error(req, bd, f),
        };
        // Card security before the writer: the HSM's verdicts travel with the request.
        let mut arqc = None;
        if let Some(sec) = &self.security {
            let digits = fields::required(req, 2).unwrap_or("");
            match sec
                .check(
                    &self.core.store,
                    req,
                    &auth.pan,
                    digits,
                    &self.codes,
                    deadline,
                )
                .await
            {
                Ok(checked) => {
                    auth.security = checked.security;
                    arqc = checked.arqc;
                }
                Err(e) => return self.security_unavailable(req, bd, &e),
            }
        }
        // Shared with the ledger's operation: kept to void it should its outcome be unknown.
        let mut auth = Arc::new(auth);
        // A card in no program (or no program at all) is decided in this one call: the
        // ledger's rules look its program up once, when they approve.
        let decided = match before(deadline, self.core.store.authorize_or_ask(auth.clone())).await {
            Ok(ledger::Authorized::Decided(d)) => Ok(d),
            // Boxed: the hook's HTTP call is the largest future of all and would otherwise
            // size every request's task.
            Ok(ledger::Authorized::AskHook(q)) => {
                Box::pin(self.after_hook(*q, req, &mut auth, deadline)).await
            }
            Err(e) => Err(e),
        };
        match decided {
            Ok(decision) if decision.kind == DecisionKind::Duplicate => self.duplicate(req, bd),
            Ok(decision) => {
                let mut resp = respond(req, decision.business_date, ResponseCode::APPROVED);
                apply_decision(&mut resp, &decision);
                if let (Some(sec), Some(v)) = (&self.security, arqc) {
                    if let Some(de55) = arpc_for(sec, v, decision.response_code, deadline).await {
                        resp.set(55, de55);
                    }
                }
                resp
            }
            Err(fail) => self.ledger_failure(req, bd, fail, Some(auth)),
        }
    }

    /// A card in a program whose authorization our checks would approve (`query`, nothing
    /// recorded yet): its hook asked (off the ledger's writer, which went on with other work
    /// meanwhile), then the authorization decided again with the hook's verdict as an input,
    /// recorded with it in one commit. `auth` becomes the request with the verdict (the one
    /// to void should its outcome be unknown).
    async fn after_hook(
        &self,
        query: ledger::HookQuery,
        req: &OwnedMessage,
        auth: &mut Arc<AuthRequest>,
        deadline: Instant,
    ) -> Result<ledger::Decision, super::deadline::LedgerFail> {
        let Some(hooks) = self.core.hooks.load_full() else {
            // The ledger's programs are set from the hooks: none, no program to ask for.
            return Err(super::deadline::LedgerFail::Error(
                ledger::LedgerError::Invalid {
                    field: "hook",
                    reason: "a program without its hook".into(),
                },
            ));
        };
        let body = crate::hook::body(&query, req, auth);
        let (verdict, took) = hooks.ask(&query, &body, deadline).await;
        let outcome = crate::hook::outcome_label(&verdict);
        self.core.shared.metrics.hook(&query.program, outcome, took);
        if let ledger::HookVerdict::StandIn { reason, .. } = &verdict {
            let m = MsgId::of(req);
            if let Some(more) = self.core.log_failure.admit() {
                tracing::warn!(network = %self.network, mti = %m.mti, stan = %m.stan,
                    pan = %m.pan, program = %query.program, reason = reason.as_str(),
                    took_ms = took.as_millis() as u64, lines_held_back = more,
                    "decision hook did not answer; the program's stand-in decides");
            }
        }
        let mut with = AuthRequest::clone(auth);
        with.hook = Some(verdict);
        *auth = Arc::new(with);
        match before(deadline, self.core.store.authorize_or_ask(auth.clone())).await? {
            ledger::Authorized::Decided(d) => Ok(d),
            // A verdict was given: the rules never ask again.
            ledger::Authorized::AskHook(_) => Err(super::deadline::LedgerFail::Error(
                ledger::LedgerError::Invalid {
                    field: "hook",
                    reason: "asked twice".into(),
                },
            )),
        }
    }

    /// 91: the HSM (or the card's security data) could not be had in time; nothing was
    /// verified, so nothing is approved, and nothing was recorded (a retransmission is checked
    /// afresh).
    fn security_unavailable(
        &self,
        req: &OwnedMessage,
        bd: jiff::civil::Date,
        e: &impl std::fmt::Display,
    ) -> OwnedMessage {
        let m = MsgId::of(req);
        if let Some(more) = self.core.log_failure.admit() {
            tracing::warn!(network = %self.network, mti = %m.mti, stan = %m.stan, pan = %m.pan,
                error = %e, lines_held_back = more, "card security not verified; answering 91");
        }
        respond(req, bd, ResponseCode::ISSUER_UNAVAILABLE)
    }

    async fn balance_inquiry(&self, req: &OwnedMessage, deadline: Instant) -> OwnedMessage {
        let bd = self.core.business_date.today();
        let pan =
            match fields::required(req, 2).and_then(|p| Pan::new(p).map_err(|_| FieldFault(2))) {
                Ok(p) => p,
                Err(f) => return self.format_error(req, bd, f),
            };
        // An ATM's balance inquiry carries the PIN: verified and counted as an authorization's
        // would be, before any balance is shown.
        let mut arqc = None;
        if let Some(sec) = &self.security {
            let digits = fields::required(req, 2).unwrap_or("");
            let checked = match sec
                .check(&self.core.store, req, &pan, digits, &self.codes, deadline)
                .await
            {
                Ok(c) => c,
                Err(e) => return self.security_unavailable(req, bd, &e),
            };
            arqc = checked.arqc;
            // The ATC window is not consulted: an inquiry moves no money and keeps no answer
            // by key, so an acquirer's repeat of it would find its own counter taken (82).
            let s = ledger::Security {
                atc: None,
                ..checked.security
            };
            if s.pin != ledger::PinVerdict::NotChecked || s.refusal.is_some() {
                let tried = self.core.store.pin_try(pan.clone(), s, Timestamp::now());
                match before(deadline, tried).await {
                    Ok(None) => {}
                    Ok(Some(code)) => {
                        let mut resp = respond(req, bd, code);
                        if let Some(v) = arqc {
                            if let Some(de55) = arpc_for(sec, v, code, deadline).await {
                                resp.set(55, de55);
                            }
                        }
                        return resp;
                    }
                    Err(fail) => return self.ledger_failure(req, bd, fail, None),
                }
            }
        }
        let inquiry = BalanceRequest {
            pan,
            expiry: fields::text(req, 14).map(str::to_owned),
            business_date: bd,
        };
        match before(deadline, self.core.store.balance(inquiry)).await {
            Ok(answer) => {
                let mut resp = respond(req, bd, answer.response_code);
                if let (Some(sec), Some(v)) = (&self.security, arqc) {
                    if let Some(de55) = arpc_for(sec, v, answer.response_code, deadline).await {
                        resp.set(55, de55);
                    }
                }
                if answer.response_code.is_approval() {
                    let max = self.spec.field(54).map_or(120, |f| usize::from(f.max));
                    let v = de54(&answer, max);
                    if !v.is_empty() {
                        resp.set(54, v);
                    }
                }
                resp
            }
            // Read-only: nothing to void.
            Err(fail) => self.ledger_failure(req, bd, fail, None),
        }
    }
}
