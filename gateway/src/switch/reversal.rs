//! 0400/0420 (and repeats): "release the hold (partial with DE 95)"; "a reversal whose
//! original is unknown is remembered and answered 00".

use iso8583::OwnedMessage;
use jiff::Timestamp;
use ledger::{DecisionKind, Pan, ReversalRequest};
use tokio::time::Instant;

use super::deadline::before;
use super::fields::{self, FieldFault};
use super::response::respond;
use super::Switch;

impl Switch {
    pub(crate) async fn reversal(&self, req: &OwnedMessage, deadline: Instant) -> OwnedMessage {
        let bd = self.core.business_date.today();
        let built = (|| -> Result<ReversalRequest, FieldFault> {
            Ok(ReversalRequest {
                key: fields::network_key(req)?,
                terms: fields::terms(req, &fields::REVERSAL_TERMS),
                original: fields::original_key(req)?.ok_or(FieldFault(90))?,
                keep_minor: fields::replacement_amount(req)?.filter(|&v| v > 0),
                business_date: bd,
                now: Timestamp::now(),
                // Routing only: a DE 2 that is not a PAN is left out, not refused.
                pan: fields::text(req, 2).and_then(|p| Pan::new(p).ok()),
            })
        })();
        let rev = match built {
            Ok(r) => r,
            Err(f) => return self.format_error(req, bd, f),
        };
        match before(deadline, self.core.store.reverse(rev)).await {
            Ok(d) if d.kind == DecisionKind::Duplicate => self.duplicate(req, bd),
            Ok(d) => respond(req, d.business_date, d.response_code),
            // A reversal only releases funds: a late one is harmless, and the network
            // repeats it until it is acknowledged.
            Err(fail) => self.ledger_failure(req, bd, fail, None),
        }
    }
}
