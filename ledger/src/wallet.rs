//! Currency wallets and the balances exported for reconciliation.

use money::Currency;

/// One currency wallet of an account. Amounts are minor units of `currency`. Serializes to
/// the JSON rows of the reconciliation export.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Wallet {
    /// Owning account.
    pub account_id: String,
    /// Alpha code.
    pub currency: Currency,
    /// Ledger balance: changes only by captures, advices and reversals of captured amounts.
    pub balance_minor: i64,
    /// Sum of the active holds on this wallet.
    pub held_minor: i64,
    /// How far `available` may go below zero through authorizations (0: no overdraft).
    pub overdraft_minor: i64,
    /// Balance when seeded; `balance = opening - sum(captured)` is checked by tests.
    pub opening_minor: i64,
}

impl Wallet {
    /// `balance - held`. May be negative after advices.
    pub fn available_minor(&self) -> i64 {
        self.balance_minor - self.held_minor
    }

    /// What an authorization may still hold: available plus the overdraft allowed.
    pub fn spendable_minor(&self) -> i64 {
        self.available_minor() + self.overdraft_minor
    }
}

/// Answer to a balance inquiry: DE 39, and the wallets (home first, then by alpha code)
/// when approved, for DE 54.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceAnswer {
    /// 00, or the card check's decline.
    pub response_code: crate::ResponseCode,
    /// The account's home currency (empty when the card is unknown).
    pub home_currency: Option<Currency>,
    /// Wallets, home first, then ordered by alpha code.
    pub wallets: Vec<Wallet>,
}

/// Orders wallets as DE 54 wants them: the home wallet first, then by alpha code.
pub fn order_for_de54(wallets: &mut [Wallet], home_currency: Currency) {
    wallets.sort_by(|a, b| {
        (a.currency != home_currency, &a.currency).cmp(&(b.currency != home_currency, &b.currency))
    });
}
