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
        let auth = Arc::new(auth);
        match before(deadline, self.core.store.authorize(auth.clone())).await {
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
            let s = checked.security;
            if s.pin != ledger::PinVerdict::NotChecked || s.refusal.is_some() {
                let tried =
                    self.core
                        .store
                        .pin_try(pan.clone(), checked.security, Timestamp::now());
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
