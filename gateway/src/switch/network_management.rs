//! 0800 -> 0810: "DE 70: 001 sign-on, 002 sign-off, 301 echo, 201 cutover (the business date
//! moves on to the next day; DE 15 shows it), other codes -> 39=12. 39=00 otherwise."

use iso8583::OwnedMessage;
use ledger::ResponseCode;
use tokio::time::Instant;
use tracing::info;

use super::response::respond;
use super::{fields, Switch};
use crate::network_code::NetworkCode;

impl Switch {
    pub(crate) async fn network_management(
        &self,
        req: &OwnedMessage,
        deadline: Instant,
    ) -> OwnedMessage {
        let code = fields::text(req, 70)
            .filter(|s| !s.is_empty())
            .map(NetworkCode::parse);
        let (code39, date) = match code {
            Some(c @ (NetworkCode::SignOn | NetworkCode::SignOff)) => {
                info!(network = %self.network, "{} from the network", c.name());
                (ResponseCode::APPROVED, self.core.business_date.today())
            }
            Some(NetworkCode::Echo) => (ResponseCode::APPROVED, self.core.business_date.today()),
            Some(NetworkCode::Cutover) => {
                // Recorded in the ledger, then one compare-and-swap here: requests in
                // flight keep their date, later ones see the new one; nothing else waits.
                let key = format!(
                    "{}:{}:{}",
                    self.network,
                    fields::text(req, 11).unwrap_or(""),
                    fields::text(req, 7).unwrap_or("")
                );
                let d = self.core.cutover_once(key, deadline).await;
                info!(network = %self.network, business_date = %d, "cutover");
                (ResponseCode::APPROVED, d)
            }
            None => (ResponseCode::FORMAT_ERROR, self.core.business_date.today()),
            Some(NetworkCode::Other) => (
                ResponseCode::INVALID_TRANSACTION,
                self.core.business_date.today(),
            ),
        };
        let mut resp = respond(req, date, code39);
        if let Some(v) = req.get(70) {
            resp.set(70, v);
        }
        resp
    }
}
