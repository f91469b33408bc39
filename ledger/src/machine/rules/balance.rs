//! Balance inquiry (DE 3 `31xxxx`): card checks, then the wallets for DE 54. Read-only:
//! nothing is recorded.

use jiff::civil::Date;

use crate::decide;
use crate::{order_for_de54, BalanceAnswer, CardRecord, ResponseCode, Wallet};

/// The answer for `card` (as found by its PAN hash) and its account's `wallets`.
pub(crate) fn answer(
    card: Option<&CardRecord>,
    wallets: Vec<Wallet>,
    expiry: Option<&str>,
    business_date: Date,
) -> BalanceAnswer {
    if let Err(code) = decide::check_card(card, expiry, business_date) {
        return BalanceAnswer {
            response_code: code,
            home_currency: card.map(|c| c.home_currency),
            wallets: Vec::new(),
        };
    }
    let home = card.map(|c| c.home_currency);
    let mut wallets = wallets;
    if let Some(h) = home {
        order_for_de54(&mut wallets, h);
    }
    BalanceAnswer {
        response_code: ResponseCode::APPROVED,
        home_currency: home,
        wallets,
    }
}
