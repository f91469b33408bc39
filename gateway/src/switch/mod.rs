//! The switch: decodes each message, routes it by MTI, and answers from what the ledger
//! recorded.
//!
//! Routing (by the MTI with its repeat flag cleared): x100/x200 authorization and financial
//! requests, x120/x220 advices, x400/x420 reversals, x800 network management; responses to
//! our own requests go back to the connection that waits for them; anything else is answered
//! 39=12.

mod advice;
mod authorization;
mod deadline;
mod fields;
mod network_management;
mod response;
mod reversal;
mod throttle;
mod voids;

pub use voids::MAX_PENDING_VOIDS;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use iso8583::mask::mask_pan;
use iso8583::{OwnedMessage, Spec};
use jiff::civil::Date;
use ledger::{AuthRequest, LedgerError, ResponseCode, Store};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::business_date::BusinessDate;
use crate::config::ResponseCodes;
use crate::network_code::NetworkCode;
use crate::security::SwitchSecurity;
use crate::server::{ConnContext, Service, Shared};
use deadline::LedgerFail;
use fields::FieldFault;
use response::respond;
pub use throttle::Throttle;
use voids::Voids;

/// What a log line says to identify a message: MTI, STAN and the masked PAN.
struct MsgId<'m> {
    mti: iso8583::Mti,
    stan: &'m str,
    pan: String,
}

impl<'m> MsgId<'m> {
    fn of(req: &'m OwnedMessage) -> Self {
        MsgId {
            mti: req.mti(),
            stan: req.get_str(11).unwrap_or(""),
            pan: req.get_str(2).map(mask_pan).unwrap_or_default(),
        }
    }
}

/// What every listener's switch shares: the ledger, the business date, the processing
/// deadline and the server's metrics.
#[derive(Debug)]
pub struct SwitchCore {
    store: Store,
    business_date: Arc<BusinessDate>,
    shared: Arc<Shared>,
    /// Processing deadline of a request, in milliseconds (`limits.deadline_ms`, replaced on
    /// reload; a listener's own `deadline_ms` can only shorten it).
    deadline_ms: AtomicU64,
    voids: Arc<Voids>,
    /// One line a second about requests the ledger did not decide, and about missed deadlines.
    log_failure: Throttle,
    log_deadline: Throttle,
    /// Key and result of the last cutover this instance could not record in the ledger, so
    /// that a retransmitted 0800/201 does not move its date twice. Held only for a compare,
    /// never across I/O.
    last_cutover: std::sync::Mutex<Option<(String, Date)>>,
    /// Card programs' real-time decision hooks (issue 22); `None` when none is configured.
    /// Replaced on reload; read only for a card in a program.
    hooks: arc_swap::ArcSwapOption<crate::hook::Hooks>,
}

impl SwitchCore {
    /// The shared core over `store`, answering within `deadline`.
    pub fn new(
        store: Store,
        business_date: Arc<BusinessDate>,
        shared: Arc<Shared>,
        deadline: Duration,
    ) -> Self {
        SwitchCore {
            store,
            business_date,
            shared,
            deadline_ms: AtomicU64::new(millis(deadline)),
            voids: Arc::default(),
            log_failure: Throttle::new(Duration::from_secs(1)),
            log_deadline: Throttle::new(Duration::from_secs(1)),
            last_cutover: std::sync::Mutex::new(None),
            hooks: arc_swap::ArcSwapOption::empty(),
        }
    }

    /// With the card programs' hooks (their members must be the store's programs:
    /// [`Store::set_programs`]).
    pub fn with_hooks(self, hooks: Option<Arc<crate::hook::Hooks>>) -> Self {
        self.set_hooks(hooks);
        self
    }

    /// Replaces the card programs' hooks and the ledger's programs (on reload): the hooks
    /// first, so that a program the ledger names has its hook.
    pub fn set_hooks(&self, hooks: Option<Arc<crate::hook::Hooks>>) {
        let members = hooks.as_ref().map(|h| h.members()).unwrap_or_default();
        self.hooks.store(hooks);
        self.store.set_programs(members);
    }

    /// The processing deadline of a request (a listener's own may be shorter).
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed))
    }

    /// Replaces the processing deadline (on reload); requests that start later see it.
    pub fn set_deadline(&self, deadline: Duration) {
        self.deadline_ms.store(millis(deadline), Ordering::Relaxed);
    }

    /// The ledger.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The business date.
    pub fn business_date(&self) -> &Arc<BusinessDate> {
        &self.business_date
    }

    /// Cutover requested by the message with `key` (network, DE 11, DE 7), recorded in the
    /// ledger so that every instance, and this one after a restart, keeps the new date (see
    /// [`SwitchCore::follow_cutovers`]). A key seen before, by any instance, gets its date
    /// again. When the ledger cannot record it by `deadline`, the date moves here only, and
    /// the reason is logged.
    pub(crate) async fn cutover_once(&self, key: String, deadline: Instant) -> Date {
        let current = self.business_date.today();
        let now = jiff::Timestamp::now();
        match deadline::before(deadline, self.store.cutover(key.clone(), current, now)).await {
            Ok(d) => {
                self.business_date.advance_to(d);
                d
            }
            Err(fail) => {
                let why = match fail {
                    LedgerFail::Deadline => "the ledger did not answer in time".to_owned(),
                    LedgerFail::Error(e) => e.to_string(),
                };
                warn!(reason = %why, "cutover not recorded in the ledger: this instance only \
                    moves its business date, and a restart before midnight would undo it");
                self.cutover_here(key)
            }
        }
    }

    /// The cutover of [`SwitchCore::cutover_once`] in this instance's memory only.
    fn cutover_here(&self, key: String) -> Date {
        let Ok(mut last) = self.last_cutover.lock() else {
            return self.business_date.cutover();
        };
        if let Some((k, d)) = last.as_ref() {
            if *k == key {
                return *d;
            }
        }
        let d = self.business_date.cutover();
        *last = Some((key, d));
        d
    }

    /// Takes the business date on to the latest cutover recorded in the ledger, if that is
    /// later; returns the business date after it. Called at start, before the first answer
    /// (a cutover before a restart stands), then by [`SwitchCore::follow_cutovers`].
    pub async fn catch_up_with_cutovers(&self) -> ledger::Result<Date> {
        let before = self.business_date.today();
        let after = match self.store.latest_cutover().await? {
            Some(d) => self.business_date.advance_to(d),
            None => before,
        };
        if after != before {
            info!(business_date = %after, "business date moved on by a recorded cutover");
        }
        Ok(after)
    }

    /// [`SwitchCore::catch_up_with_cutovers`] every `every`, so that a cutover another
    /// instance received (active-active, or the other side of a rolling restart) reaches
    /// this one within that time. Runs until `shutdown`.
    pub async fn follow_cutovers(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: crate::server::Shutdown,
    ) {
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.wait() => return,
            }
            match self.catch_up_with_cutovers().await {
                Ok(_) => failing = false,
                Err(e) => {
                    if !failing {
                        warn!(error = %e, "cannot read the recorded cutovers; retrying");
                    }
                    failing = true;
                }
            }
        }
    }

    /// Waits for background voids of missed deadlines (part of the drain).
    pub async fn wait_voids(&self, timeout: Duration) -> bool {
        self.voids.wait(timeout).await
    }

    /// The task that voids what was answered 91 with an outcome that could still land (see
    /// `voids.rs`); started once by `app::start`, runs for the life of the process.
    pub fn run_voids(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.voids.clone().run(self.store.clone())
    }

    /// Commits a heartbeat every `every`, so that `Store::health` (readiness) sees a ledger
    /// that stops committing within about that long even with no traffic; when commits work
    /// again after failing, queued voids are retried at once. Runs until `shutdown`.
    pub async fn heartbeat(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: crate::server::Shutdown,
    ) {
        let mut failing = false;
        let mut first = true;
        loop {
            // The first at once: readiness waits for a commit.
            if !std::mem::take(&mut first) {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.wait() => return,
                }
            }
            let beat = self.store.heartbeat(jiff::Timestamp::now());
            match tokio::time::timeout(every * 2, beat).await {
                Ok(Ok(())) => {
                    if failing {
                        info!("the ledger commits again");
                        self.voids.ledger_recovered();
                    }
                    failing = false;
                }
                Ok(Err(e)) => {
                    if !failing {
                        warn!(error = %e, "the ledger cannot commit a heartbeat");
                    }
                    failing = true;
                }
                Err(_) => {
                    if !failing {
                        warn!("the ledger did not commit a heartbeat in time");
                    }
                    failing = true;
                }
            }
        }
    }

    /// Voids queued or under way, voids dropped for want of room, voids done.
    pub fn void_counts(&self) -> (usize, u64, u64) {
        (
            self.voids.pending(),
            self.voids.dropped(),
            self.voids.done(),
        )
    }
}

/// The switch behind one listener or link: its spec and network name over the shared core.
#[derive(Debug)]
pub struct Switch {
    core: Arc<SwitchCore>,
    spec: Arc<Spec>,
    network: String,
    deadline: Option<Duration>,
    codes: ResponseCodes,
    /// The card security checks of this network (issue 23), if any.
    security: Option<Arc<SwitchSecurity>>,
}

impl Switch {
    /// Checks this network's card security with `security` (PIN, CVV, CVV2, ARQC, MAC).
    pub fn with_security(mut self, security: Option<SwitchSecurity>) -> Self {
        self.security = security.map(Arc::new);
        self
    }

    /// A switch for `network` speaking `spec`; `deadline` shortens the core's deadline;
    /// `codes` are the network's own codes for some outcomes.
    pub fn new(
        core: Arc<SwitchCore>,
        spec: Arc<Spec>,
        network: String,
        deadline: Option<Duration>,
        codes: ResponseCodes,
    ) -> Self {
        Switch {
            core,
            spec,
            network,
            deadline,
            codes,
            security: None,
        }
    }

    /// The answer to a message that reused a decided key for another request: the
    /// network's duplicate-transmission code, nothing of the decision under that key.
    fn duplicate(&self, req: &OwnedMessage, bd: Date) -> OwnedMessage {
        let m = MsgId::of(req);
        warn!(network = %self.network, mti = %m.mti, stan = %m.stan, pan = %m.pan,
            code = %self.codes.duplicate,
            "duplicate transmission: a decided key reused for another request; nothing moved");
        respond(req, bd, self.codes.duplicate)
    }

    fn deadline(&self) -> Duration {
        let configured = self.core.deadline();
        self.deadline.map_or(configured, |d| d.min(configured))
    }

    /// This network's processing deadline, for the simulator's wait for an answer.
    pub(crate) fn deadline_for_simulation(&self) -> Duration {
        self.deadline()
    }

    /// This network's card security checks, for the simulator (a MAC listener's requests
    /// must carry one).
    pub(crate) fn security(&self) -> Option<&Arc<SwitchSecurity>> {
        self.security.as_ref()
    }

    /// Answers one decoded request.
    async fn route(&self, req: &OwnedMessage, deadline: Instant) -> OwnedMessage {
        let mti = req.mti().original();
        match (mti.class(), mti.function()) {
            (1 | 2, 0) => self.authorization(req, deadline).await,
            (1 | 2, 2) => self.advice(req, deadline).await,
            (4, 0 | 2) => self.reversal(req, deadline).await,
            // Boxed: a cutover waits for the ledger, and this rare future must not size
            // every request's.
            (8, 0) => Box::pin(self.network_management(req, deadline)).await,
            _ => respond(
                req,
                self.core.business_date.today(),
                ResponseCode::INVALID_TRANSACTION,
            ),
        }
    }

    fn format_error(&self, req: &OwnedMessage, bd: Date, fault: FieldFault) -> OwnedMessage {
        self.core.shared.metrics.format_error();
        let m = MsgId::of(req);
        warn!(network = %self.network, mti = %m.mti, stan = %m.stan, pan = %m.pan,
            field = fault.0, "format error: {fault}");
        respond(req, bd, ResponseCode::FORMAT_ERROR)
    }

    /// 91 for a ledger that did not decide in time or at all. When a decision could still
    /// land (the deadline passed with the request queued, or the ledger cannot say whether it
    /// committed), the authorization `void` is queued to be voided: the network's 91 and the
    /// ledger then agree. A definite failure (refused, or rolled back) needs no void.
    ///
    /// In an outage every request fails alike: one line per second says so, with the count.
    fn ledger_failure(
        &self,
        req: &OwnedMessage,
        bd: Date,
        fail: LedgerFail,
        void: Option<Arc<AuthRequest>>,
    ) -> OwnedMessage {
        let m = MsgId::of(req);
        let (network, mti, stan, pan) = (&self.network, m.mti, m.stan, &m.pan);
        let unknown = match &fail {
            LedgerFail::Deadline => {
                self.core.shared.metrics.deadline_miss();
                if let Some(more) = self.core.log_deadline.admit() {
                    warn!(%network, %mti, %stan, %pan, lines_held_back = more,
                        "ledger missed the deadline; answering 91 and voiding");
                }
                true
            }
            LedgerFail::Error(LedgerError::Invalid { field, reason }) => {
                self.core.shared.metrics.format_error();
                warn!(%network, %mti, %stan, %pan, %field, %reason,
                    "ledger refused the request as malformed");
                return respond(req, bd, ResponseCode::FORMAT_ERROR);
            }
            LedgerFail::Error(e) => {
                let definite = e.is_definite();
                if let Some(more) = self.core.log_failure.admit() {
                    if definite {
                        warn!(%network, %mti, %stan, %pan, error = %e, lines_held_back = more,
                            "ledger did not decide; answering 91");
                    } else {
                        error!(%network, %mti, %stan, %pan, error = %e, lines_held_back = more,
                            "ledger outcome unknown; answering 91 and voiding");
                    }
                }
                !definite
            }
        };
        if let (true, Some(r)) = (unknown, void) {
            self.core.voids.push(r, bd);
        }
        respond(req, bd, ResponseCode::ISSUER_UNAVAILABLE)
    }

    /// A message that did not decode: 39=30 when its MTI and STAN could be read, else
    /// nothing (logged with each fault's field and offset; the connection stays up). The
    /// decoder reads past faults whose extent is known, so a bad DE 2, 4 or 7 does not hide
    /// DE 11; a faulty field is never in what it returns, so it is never echoed.
    fn undecodable(
        &self,
        conn: &ConnContext,
        body: &[u8],
        started: Instant,
    ) -> Option<OwnedMessage> {
        self.core.shared.metrics.format_error();
        let partial = iso8583::decode_partial(&self.spec, body);
        let (field, offset) = partial
            .error()
            .map_or((None, 0), |e| (e.field(), e.offset()));
        // Each fault names its field and offset, never its value.
        let faults = partial
            .faults()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let readable = partial
            .into_message()
            .filter(|p| !p.mti().is_response() && p.get_str(11).is_some());
        let Some(p) = readable else {
            let in_row = conn.note_unreadable();
            warn!(network = %self.network, len = body.len(), ?field, offset, error = %faults,
                in_row, "unreadable message dropped");
            return None;
        };
        conn.note_readable();
        let m = MsgId::of(&p);
        warn!(network = %self.network, mti = %m.mti, stan = %m.stan, pan = %m.pan,
            ?field, offset, error = %faults, "format error; answering 30");
        let code = ResponseCode::FORMAT_ERROR;
        let resp = respond(&p, self.core.business_date.today(), code);
        self.core
            .shared
            .metrics
            .request(p.mti().as_str(), code.as_str(), started.elapsed());
        Some(resp)
    }

    /// On a listener with MACs: the answer to a request whose MAC (DE 64/128) is missing or
    /// wrong (63, security violation: not decided, not recorded, for it is not known to come
    /// from the network), or 91 when the HSM cannot say. Network management (08xx) is not
    /// MACed.
    async fn mac_refusal(
        &self,
        req: &OwnedMessage,
        body: &[u8],
        deadline: Instant,
    ) -> Option<OwnedMessage> {
        let sec = self.security.as_ref().filter(|s| s.macs())?;
        if req.mti().class() == 8 {
            return None;
        }
        let bd = self.core.business_date.today();
        let m = MsgId::of(req);
        match sec.verify_mac(&self.spec, req, body, deadline).await {
            Ok(true) => None,
            Ok(false) => {
                warn!(network = %self.network, mti = %m.mti, stan = %m.stan, pan = %m.pan,
                    code = %self.codes.mac, "MAC missing or wrong: security violation");
                Some(respond(req, bd, self.codes.mac))
            }
            Err(e) => {
                warn!(network = %self.network, mti = %m.mti, stan = %m.stan, pan = %m.pan,
                    error = %e, "MAC not verified: the HSM did not answer; answering 91");
                Some(respond(req, bd, ResponseCode::ISSUER_UNAVAILABLE))
            }
        }
    }

    /// `resp` encoded with its MAC; unanswered when no MAC can be made (a network that
    /// requires MACs would refuse the answer anyway; it times out and retries).
    async fn encode_signed(
        &self,
        sec: &SwitchSecurity,
        resp: OwnedMessage,
        deadline: Instant,
    ) -> Option<Bytes> {
        // The answer's own budget: the request's deadline may have been spent.
        let until = deadline.max(Instant::now() + Duration::from_millis(50));
        match sec.sign(&self.spec, resp, until).await {
            Ok(v) => Some(Bytes::from(v)),
            Err(e) => {
                error!(network = %self.network, error = %e, "answer not MACed; not answered");
                None
            }
        }
    }

    /// `resp` encoded, with its MAC on a listener with MACs (a format error's 30 too: every
    /// answer of such a listener carries one).
    async fn answer(&self, resp: OwnedMessage, deadline: Instant) -> Option<Bytes> {
        match &self.security {
            Some(sec) if sec.macs() => self.encode_signed(sec, resp, deadline).await,
            _ => self.encode(&resp),
        }
    }

    fn encode(&self, resp: &OwnedMessage) -> Option<Bytes> {
        match resp.encode(&self.spec) {
            Ok(v) => Some(Bytes::from(v)),
            Err(e) => {
                error!(mti = %resp.mti(), error = %e, "response does not encode; not answered");
                None
            }
        }
    }
}

impl Service for Switch {
    async fn call(&self, conn: &ConnContext, body: Bytes) -> Option<Bytes> {
        let started = Instant::now();
        let deadline = started + self.deadline();
        let req = match iso8583::decode(&self.spec, &body) {
            Ok(m) => m.to_owned_message(),
            Err(_) => {
                let resp = self.undecodable(conn, &body, started)?;
                return self.answer(resp, deadline).await;
            }
        };
        conn.note_readable();
        let mti = req.mti();
        let stan = req.get_str(11).unwrap_or("");
        if mti.is_response() {
            // An answer to our own echo test or sign-on.
            let delivered = stan.parse().is_ok_and(|s| conn.complete(s, body.clone()));
            if !delivered {
                info!(network = %self.network, %mti, %stan, "unsolicited response ignored");
            }
            return None;
        }
        let resp = match self.mac_refusal(&req, &body, deadline).await {
            Some(refused) => refused,
            None => self.route(&req, deadline).await,
        };
        let code = resp.get_str(39).unwrap_or("");
        let latency = started.elapsed();
        // The message's one line at info. One event, not a span around the routing: opening a
        // span, formatting its fields, recording two more and entering it at every poll cost
        // the runtime about 8,000 of its 49,000 instructions per message (callgrind); the
        // rare warnings on the way carry the message's identity themselves (`MsgId`).
        if tracing::enabled!(tracing::Level::INFO) {
            let m = MsgId::of(&req);
            info!(network = %self.network, mti = %m.mti, stan = %m.stan, pan = %m.pan, %code,
                latency_us = latency.as_micros() as u64, "answered");
        }
        self.core
            .shared
            .metrics
            .request(mti.as_str(), code, latency);
        self.answer(resp, deadline).await
    }

    fn response_stan(&self, body: &[u8]) -> Option<u32> {
        let m = iso8583::decode(&self.spec, body).ok()?;
        if !m.mti().is_response() {
            return None;
        }
        m.text(11)?.parse().ok()
    }

    fn response_code(&self, body: &[u8]) -> Option<ResponseCode> {
        let m = iso8583::decode(&self.spec, body).ok()?;
        ResponseCode::parse(&m.text(39)?).ok()
    }

    fn network_request(&self, code: NetworkCode, stan: u32) -> Option<Bytes> {
        let de70 = code.digits()?;
        let mut m = OwnedMessage::new("0800".parse().ok()?);
        let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
        m.set(7, now.strftime("%m%d%H%M%S").to_string())
            .set(11, format!("{stan:06}"))
            .set(70, de70);
        self.encode(&m)
    }
}

/// A duration in whole milliseconds, saturating (the configuration gives milliseconds, so
/// nothing is lost on the way back).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
