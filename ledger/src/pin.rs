//! What the ledger keeps for card security (issue 23): the card's PIN verification value and
//! its PIN try counter, never the PIN; and the verdicts the gateway brings from the HSM.
//!
//! The HSM checks run before the writer, on the caller's side (they take a PIN block, a key
//! and milliseconds the one writer must not spend); what they found travels with the
//! authorization as a [`Security`], and the rule (`machine/rules/security.rs`) decides with
//! it in the same transaction as everything else: a wrong PIN counts a try, the try that
//! reaches the limit and every PIN after it until an operator's reset are answered
//! "PIN tries exceeded", a right PIN resets the count.
//!
//! The rows live in a table of their own, `card_security` (card id, PVV, PVKI, PSN, tries,
//! and the window of application transaction counters seen, `crate::atc`): a card without a
//! row, or without a PVV, has no PIN on record.

use crate::ResponseCode;

/// The default number of wrong PINs in a row that blocks PIN use (DESIGN.md "Card security").
pub const DEFAULT_PIN_TRIES_MAX: u32 = 3;

/// Most tries a counter can be configured to allow: beyond this the limit protects nothing.
pub const MAX_PIN_TRIES_LIMIT: u32 = 99;

/// The HSM's answer to DE 52, as the gateway passes it to the ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PinVerdict {
    /// No PIN was checked (no DE 52, or the listener does not check PINs).
    #[default]
    NotChecked,
    /// The PIN matched the card's PVV.
    Match,
    /// A well-formed PIN block with a wrong PIN: one try.
    Mismatch,
    /// A PIN was presented that cannot be verified: the card has no PVV on record, or the
    /// block did not decrypt to a PIN block of its format under the key (not a PIN try).
    /// Declined as a wrong PIN, not counted.
    Unverifiable,
}

/// How the PIN verdict is to be applied: the codes and the limit are the listener's
/// (configurable per network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinPolicy {
    /// Wrong PINs in a row that block PIN use ([`DEFAULT_PIN_TRIES_MAX`]).
    pub tries_max: u32,
    /// DE 39 for a wrong PIN (55).
    pub wrong_code: ResponseCode,
    /// DE 39 once the tries are exhausted (75).
    pub exceeded_code: ResponseCode,
}

impl Default for PinPolicy {
    fn default() -> Self {
        PinPolicy {
            tries_max: DEFAULT_PIN_TRIES_MAX,
            wrong_code: ResponseCode::INCORRECT_PIN,
            exceeded_code: ResponseCode::PIN_TRIES_EXCEEDED,
        }
    }
}

/// What the HSM found for one authorization, decided on by the ledger in the writer's
/// transaction. [`Security::default`]: nothing was checked (the card is decided on as before).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Security {
    /// DE 52 against the card's PVV.
    pub pin: PinVerdict,
    /// The PIN limit and codes.
    pub pin_policy: PinPolicy,
    /// A failed card check other than the PIN (CVV, iCVV or cryptogram: 82; CVV2: N7), with
    /// the code the listener answers it with. Decided after the card's status and the PIN
    /// limit, before the PIN itself: a counterfeit card's PIN try is not counted.
    pub refusal: Option<ResponseCode>,
    /// The application transaction counter (9F36) of an ARQC that verified, and only then
    /// (an unverified counter proves nothing and must not move the card's window). Refused
    /// with [`Security::card_check_code`] when the card has seen it already or it is older
    /// than its window (`crate::atc`); taken otherwise, whatever the decision.
    pub atc: Option<u16>,
    /// The PAN sequence number (DE 23 / tag 5F34, `00` when none) the cryptogram was verified
    /// with: the counter belongs to that card application (`crate::atc`).
    pub atc_psn: u8,
    /// The listener's code for a failed card check (82), given to a replayed ATC.
    pub card_check_code: ResponseCode,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            pin: PinVerdict::default(),
            pin_policy: PinPolicy::default(),
            refusal: None,
            atc: None,
            atc_psn: 0,
            card_check_code: ResponseCode::CARD_AUTHENTICATION_FAILED,
        }
    }
}

/// A card's security data as read before the writer: what the HSM checks need. No PIN.
#[derive(Clone, PartialEq, Eq)]
pub struct CardSecurity {
    /// The card's id.
    pub card_id: String,
    /// The card's expiry (YYMM): CVV2 and CVV are computed with it when DE 14 is absent.
    pub expiry: String,
    /// Visa PVV (4 digits), when a PIN is on record.
    pub pvv: Option<String>,
    /// The PVK index the PVV was computed with.
    pub pvki: Option<u8>,
    /// PAN sequence number (DE 23) of a chip card.
    pub psn: Option<String>,
    /// Wrong PINs in a row so far.
    pub pin_tries: u32,
    /// The highest application transaction counter (9F36) seen with a verified cryptogram
    /// (`None`: none yet), of the card application [`CardSecurity::atc_psn`]. As of the read,
    /// like `pin_tries`: the writer decides on its own.
    pub atc_highest: Option<u16>,
    /// The PAN sequence number of the card application that sent [`CardSecurity::atc_highest`].
    pub atc_psn: Option<u8>,
}

impl std::fmt::Debug for CardSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The PVV is not a PIN, but it narrows one down: never shown.
        f.debug_struct("CardSecurity")
            .field("card_id", &self.card_id)
            .field("has_pvv", &self.pvv.is_some())
            .field("pvki", &self.pvki)
            .field("psn", &self.psn)
            .field("pin_tries", &self.pin_tries)
            .field("atc_highest", &self.atc_highest)
            .field("atc_psn", &self.atc_psn)
            .finish_non_exhaustive()
    }
}

/// A card's security row to seed (the PVV computed by the HSM from the seed file's PIN).
#[derive(Clone, PartialEq, Eq)]
pub struct SeedSecurity {
    /// The card's id.
    pub card_id: String,
    /// Visa PVV, when the seed file gave a PIN.
    pub pvv: Option<String>,
    /// Its PVK index.
    pub pvki: Option<u8>,
    /// PAN sequence number.
    pub psn: Option<String>,
}

impl std::fmt::Debug for SeedSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedSecurity")
            .field("card_id", &self.card_id)
            .field("has_pvv", &self.pvv.is_some())
            .field("pvki", &self.pvki)
            .field("psn", &self.psn)
            .finish()
    }
}

/// A card's PIN try counter as the writer loads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PinState {
    pub(crate) card_id: String,
    /// The card's account (whose lock covers the counter on PostgreSQL).
    pub(crate) account_id: String,
    pub(crate) tries: u32,
}

/// A counter's new value, written with the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PinTriesChange {
    pub(crate) card_id: String,
    pub(crate) tries: u32,
    pub(crate) at_us: i64,
    /// Who reset it (an operator), for a reset.
    pub(crate) reset_by: Option<String>,
}

/// How long a card's security data read before the writer is reused: the PVV, PVKI, PSN and
/// expiry change only when a card is seeded (which clears the cache) or re-issued; a minute
/// bounds how long a change made by another instance goes unseen.
pub const SECURITY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Most cards whose security data is kept: beyond this the cache starts over (a bound on
/// memory, not an eviction policy: the sandbox and a busy issuer's hot cards fit).
pub const MAX_SECURITY_CACHE: usize = 65_536;

/// Cards' security data by PAN hash, as read before the writer: one read per card per
/// [`SECURITY_CACHE_TTL`] instead of one per request (measured: the read, on the store's one
/// read connection through the blocking pool, was a queue all PIN requests waited in).
#[derive(Default)]
pub(crate) struct SecurityCache(
    std::sync::Mutex<std::collections::HashMap<String, (CardSecurity, std::time::Instant)>>,
);

impl SecurityCache {
    pub(crate) fn get(&self, pan_hash: &str) -> Option<CardSecurity> {
        let map = self.0.lock().ok()?;
        let (c, at) = map.get(pan_hash)?;
        (at.elapsed() < SECURITY_CACHE_TTL).then(|| c.clone())
    }

    pub(crate) fn put(&self, pan_hash: String, c: CardSecurity) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_SECURITY_CACHE {
                map.clear();
            }
            map.insert(pan_hash, (c, std::time::Instant::now()));
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}

impl std::fmt::Debug for SecurityCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecurityCache")
    }
}
