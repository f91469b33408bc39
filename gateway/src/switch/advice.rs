//! 0120/0220 (and repeats): "Advices 0120/0220 are recorded even though the switch did not
//! decide them (force post; may make available negative); a 0220 whose DE 90 names an
//! approved authorization is its completion (capture the hold for DE 4, which may differ);
//! 0130/0230 acknowledge with 00."

use iso8583::OwnedMessage;
use jiff::Timestamp;
use ledger::{AdviceRequest, DecisionKind, Pan, ResponseCode};
use tokio::time::Instant;

use super::deadline::before;
use super::fields::{self, FieldFault};
use super::response::respond;
use super::Switch;

impl Switch {
    pub(crate) async fn advice(&self, req: &OwnedMessage, deadline: Instant) -> OwnedMessage {
        let bd = self.core.business_date.today();
        let built = (|| -> Result<AdviceRequest, FieldFault> {
            Ok(AdviceRequest {
                key: fields::network_key(req)?,
                terms: fields::terms(req, &fields::ADVICE_TERMS),
                pan: Pan::new(fields::required(req, 2)?).map_err(|_| FieldFault(2))?,
                amount_minor: fields::amount(req, 4)?.ok_or(FieldFault(4))?,
                currency: fields::currency_alpha(req, 49)?,
                // An advice without DE 39 reports an approval taken on our behalf.
                response_code: match fields::text(req, 39) {
                    Some(c) => ResponseCode::parse(c).map_err(|_| FieldFault(39))?,
                    None => ResponseCode::APPROVED,
                },
                approval_code: fields::text(req, 38).map(str::to_owned),
                original: fields::original_key(req)?,
                business_date: bd,
                now: Timestamp::now(),
            })
        })();
        let advice = match built {
            Ok(a) => a,
            Err(f) => return self.format_error(req, bd, f),
        };
        match before(deadline, self.core.store.advise(advice)).await {
            Ok(d) if d.kind == DecisionKind::Duplicate => self.duplicate(req, bd),
            // Recorded: acknowledged, whatever the advice itself said.
            Ok(d) => respond(req, d.business_date, ResponseCode::APPROVED),
            Err(fail) => self.ledger_failure(req, bd, fail, None),
        }
    }
}
