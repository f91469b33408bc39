//! The funds decision: a pure function of the request, the card, the wallets and a quoter.
//! Both stores call it inside their transaction, after locking the account's wallets.

use jiff::civil::Date;
use money::Currency;

use crate::request::MAX_AMOUNT_MINOR;
use crate::{card, Billing, CardRecord, CardStatus, Quoter, ResponseCode, Wallet};

/// What the funds check concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Funds {
    /// Hold `hold_minor` on the wallet in `wallet_currency`.
    Approve {
        /// Currency of the wallet that pays.
        wallet_currency: Currency,
        /// Amount approved, in the transaction currency (less than requested when partial).
        approved_minor: i64,
        /// Amount held, in the wallet's currency.
        hold_minor: i64,
        /// The conversion, when the home wallet pays a foreign-currency amount.
        billing: Option<Billing>,
        /// 39=10 rather than 00.
        partial: bool,
    },
    /// Decline with this code.
    Decline(ResponseCode),
}

/// Card checks in the order the issuer's rules apply them: unknown 14; lost 41, stolen 43,
/// blocked or closed 62; expired (judged on the business date) or DE 14 mismatch 54.
pub fn check_card(
    card: Option<&CardRecord>,
    expiry: Option<&str>,
    business_date: Date,
) -> Result<(), ResponseCode> {
    let Some(card) = card else {
        return Err(ResponseCode::UNKNOWN_CARD);
    };
    match card.status {
        CardStatus::Active => {}
        CardStatus::Lost => return Err(ResponseCode::LOST_CARD),
        CardStatus::Stolen => return Err(ResponseCode::STOLEN_CARD),
        CardStatus::Blocked | CardStatus::Closed => return Err(ResponseCode::RESTRICTED_CARD),
    }
    if expiry.is_some_and(|e| e != card.expiry) || card::is_expired(&card.expiry, business_date) {
        return Err(ResponseCode::EXPIRED_CARD);
    }
    Ok(())
}

/// Checks DE 4 before anything else is looked at (the currency is a [`Currency`]: checked
/// when it was read).
pub fn check_amount(amount_minor: i64) -> Result<(), ResponseCode> {
    if amount_minor <= 0 || amount_minor > MAX_AMOUNT_MINOR {
        return Err(ResponseCode::INVALID_AMOUNT);
    }
    Ok(())
}

/// The answer to a request whose conversion failed: 13 when the converted amount does not
/// fit, 30 for a currency the rates cannot price, else 91 (rates stale or missing).
pub fn quote_refusal(e: &crate::QuoteError) -> ResponseCode {
    match e {
        crate::QuoteError::AmountOverflow => ResponseCode::INVALID_AMOUNT,
        crate::QuoteError::UnpricedCurrency { .. } => ResponseCode::FORMAT_ERROR,
        _ => ResponseCode::ISSUER_UNAVAILABLE,
    }
}

/// `amount_minor` of `currency` in the home currency, at the fee-free rate (itself when they
/// are the same): what the spend controls count. A failed conversion is refused as
/// [`quote_refusal`] says: a limit that cannot be checked is not passed.
pub fn home_amount(
    amount_minor: i64,
    currency: Currency,
    home_currency: Currency,
    quoter: &dyn Quoter,
) -> Result<i64, ResponseCode> {
    if currency == home_currency {
        return Ok(amount_minor);
    }
    let amount = u64::try_from(amount_minor).map_err(|_| ResponseCode::INVALID_AMOUNT)?;
    let q = quoter
        .quote(amount, currency, home_currency)
        .map_err(|e| quote_refusal(&e))?;
    i64::try_from(q.amount_minor)
        .ok()
        .filter(|v| *v <= MAX_AMOUNT_MINOR)
        .ok_or(ResponseCode::INVALID_AMOUNT)
}

/// "Pay from the wallet in the transaction currency when its available amount covers the
/// amount; else, when the transaction currency differs from the account's home currency,
/// convert the amount to the home currency at the fee-free rate and pay from the home wallet
/// if it covers the converted amount; else 51." A failed quote is a 91, or 13 when the
/// converted amount does not fit DE 6, or 30 for a currency the rates cannot price. When the
/// request allows it and the transaction-currency wallet covers part of the amount, that part is
/// approved with 39=10 (partial approvals are not offered through a conversion, so the
/// approved amount is always exact in the currency the acquirer asked for).
pub fn decide_funds(
    amount_minor: i64,
    currency: Currency,
    allow_partial: bool,
    home_currency: Currency,
    wallets: &[Wallet],
    quoter: &dyn Quoter,
) -> Funds {
    let txn_wallet = wallets.iter().find(|w| w.currency == currency);
    if let Some(w) = txn_wallet {
        if w.spendable_minor() >= amount_minor {
            return Funds::Approve {
                wallet_currency: w.currency,
                approved_minor: amount_minor,
                hold_minor: amount_minor,
                billing: None,
                partial: false,
            };
        }
    }
    if currency != home_currency {
        if let Some(home) = wallets.iter().find(|w| w.currency == home_currency) {
            // amount_minor > 0 was checked, so the cast is lossless.
            match quoter.quote(amount_minor as u64, currency, home_currency) {
                Err(e) => return Funds::Decline(quote_refusal(&e)),
                Ok(q) => {
                    let Ok(converted) = i64::try_from(q.amount_minor) else {
                        return Funds::Decline(ResponseCode::INVALID_AMOUNT);
                    };
                    if converted > MAX_AMOUNT_MINOR {
                        return Funds::Decline(ResponseCode::INVALID_AMOUNT);
                    }
                    if home.spendable_minor() >= converted {
                        return Funds::Approve {
                            wallet_currency: home.currency,
                            approved_minor: amount_minor,
                            hold_minor: converted,
                            billing: Some(Billing {
                                amount_minor: converted,
                                currency: q.currency,
                                rate: q.rate,
                                de10: q.de10,
                                version: q.version,
                            }),
                            partial: false,
                        };
                    }
                }
            }
        }
    }
    if allow_partial {
        if let Some(w) = txn_wallet {
            let part = w.spendable_minor();
            if part > 0 {
                return Funds::Approve {
                    wallet_currency: w.currency,
                    approved_minor: part,
                    hold_minor: part,
                    billing: None,
                    partial: true,
                };
            }
        }
    }
    Funds::Decline(ResponseCode::INSUFFICIENT_FUNDS)
}

/// `amount * numerator / denominator`, rounded half to even, in integers: how a part of a
/// converted hold is re-expressed in the wallet's currency without a new rate (partial
/// reversals and completions use the rate the hold was placed at).
pub fn pro_rata(amount: i64, numerator: i64, denominator: i64) -> i64 {
    if denominator == 0 {
        return 0;
    }
    let n = i128::from(amount) * i128::from(numerator);
    let d = i128::from(denominator);
    let (q, r) = (n / d, n % d);
    let twice = 2 * r.abs();
    let rounded = if twice > d.abs() || (twice == d.abs() && q % 2 != 0) {
        q + if (n < 0) != (d < 0) { -1 } else { 1 }
    } else {
        q
    };
    i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Quote, QuoteError};
    use jiff::civil::date;
    use rust_decimal_macros::dec;

    fn c(code: &str) -> Currency {
        code.parse().unwrap()
    }

    struct Fixed;
    impl Quoter for Fixed {
        fn quote(
            &self,
            amount_minor: u64,
            from: Currency,
            to: Currency,
        ) -> Result<Quote, QuoteError> {
            match (from.as_str(), to.as_str()) {
                // 1 USD = 1385.20 KRW; USD has 2 decimals, KRW none.
                ("USD", "KRW") => Ok(Quote {
                    amount_minor: (amount_minor * 138520).div_ceil(10000),
                    currency: c("KRW"),
                    rate: dec!(1385.20),
                    de10: "31385200".into(),
                    version: "v1".into(),
                }),
                ("JPY", "KRW") => Err(QuoteError::Stale),
                ("VND", "KRW") => Err(QuoteError::AmountOverflow),
                ("NZD", "KRW") => Err(QuoteError::UnpricedCurrency {
                    from: from.to_string(),
                    to: to.to_string(),
                }),
                _ => Err(QuoteError::Missing {
                    from: from.to_string(),
                    to: to.to_string(),
                }),
            }
        }
    }

    fn wallet(currency: &str, balance: i64, held: i64) -> Wallet {
        Wallet {
            account_id: "A".into(),
            currency: c(currency),
            balance_minor: balance,
            held_minor: held,
            overdraft_minor: 0,
            opening_minor: balance,
        }
    }

    #[test]
    fn pays_from_the_transaction_currency_wallet_first() {
        let w = [wallet("KRW", 1_000_000, 0), wallet("USD", 10_000, 2_000)];
        let f = decide_funds(8_000, c("USD"), false, c("KRW"), &w, &Fixed);
        assert!(
            matches!(f, Funds::Approve { ref wallet_currency, hold_minor: 8_000, billing: None, .. } if wallet_currency == "USD")
        );
    }

    #[test]
    fn converts_to_home_when_the_foreign_wallet_falls_short() {
        let w = [wallet("KRW", 1_000_000, 0), wallet("USD", 10_000, 2_001)];
        let Funds::Approve {
            wallet_currency,
            hold_minor,
            billing,
            ..
        } = decide_funds(8_000, c("USD"), false, c("KRW"), &w, &Fixed)
        else {
            panic!("expected approval")
        };
        assert_eq!(wallet_currency, "KRW");
        assert_eq!(hold_minor, 110_816);
        assert_eq!(billing.unwrap().de10, "31385200");
    }

    #[test]
    fn stale_rates_decline_91_and_no_wallet_declines_51() {
        let w = [wallet("KRW", 1_000_000, 0)];
        assert_eq!(
            decide_funds(100, c("JPY"), false, c("KRW"), &w, &Fixed),
            Funds::Decline(ResponseCode::ISSUER_UNAVAILABLE)
        );
        assert_eq!(
            decide_funds(100, c("KRW"), false, c("KRW"), &[], &Fixed),
            Funds::Decline(ResponseCode::INSUFFICIENT_FUNDS)
        );
    }

    #[test]
    fn an_amount_too_large_to_convert_is_13_and_an_unpriced_currency_30() {
        let w = [wallet("KRW", 1_000_000, 0)];
        assert_eq!(
            decide_funds(100, c("VND"), false, c("KRW"), &w, &Fixed),
            Funds::Decline(ResponseCode::INVALID_AMOUNT)
        );
        assert_eq!(
            decide_funds(100, c("NZD"), false, c("KRW"), &w, &Fixed),
            Funds::Decline(ResponseCode::FORMAT_ERROR)
        );
    }

    #[test]
    fn partial_approval_only_when_allowed() {
        let w = [wallet("KRW", 5_000, 1_000)];
        assert_eq!(
            decide_funds(10_000, c("KRW"), false, c("KRW"), &w, &Fixed),
            Funds::Decline(ResponseCode::INSUFFICIENT_FUNDS)
        );
        assert!(matches!(
            decide_funds(10_000, c("KRW"), true, c("KRW"), &w, &Fixed),
            Funds::Approve {
                approved_minor: 4_000,
                partial: true,
                ..
            }
        ));
    }

    #[test]
    fn overdraft_extends_what_may_be_held() {
        let mut w = wallet("KRW", 5_000, 0);
        w.overdraft_minor = 5_000;
        assert!(matches!(
            decide_funds(10_000, c("KRW"), false, c("KRW"), &[w], &Fixed),
            Funds::Approve { .. }
        ));
    }

    #[test]
    fn card_checks_in_order() {
        let mut c = CardRecord {
            id: "C-1".into(),
            masked: "476173******0010".into(),
            pan_hash: "h".into(),
            last4: "0010".into(),
            expiry: "2612".into(),
            status: CardStatus::Active,
            account_id: "A".into(),
            home_currency: c("KRW"),
            own_controls: None,
            controls: None,
            account_controls: None,
        };
        let d = date(2026, 11, 25);
        assert_eq!(check_card(None, None, d), Err(ResponseCode::UNKNOWN_CARD));
        assert_eq!(check_card(Some(&c), Some("2612"), d), Ok(()));
        assert_eq!(
            check_card(Some(&c), Some("2711"), d),
            Err(ResponseCode::EXPIRED_CARD)
        );
        assert_eq!(
            check_card(Some(&c), None, date(2027, 1, 1)),
            Err(ResponseCode::EXPIRED_CARD)
        );
        c.status = CardStatus::Stolen;
        assert_eq!(
            check_card(Some(&c), None, d),
            Err(ResponseCode::STOLEN_CARD)
        );
    }

    #[test]
    fn amounts_are_checked() {
        assert_eq!(check_amount(0), Err(ResponseCode::INVALID_AMOUNT));
        assert_eq!(
            check_amount(MAX_AMOUNT_MINOR + 1),
            Err(ResponseCode::INVALID_AMOUNT)
        );
        // A code that is not one never gets here: "krw" is no Currency.
        assert!("krw".parse::<Currency>().is_err());
        assert_eq!(check_amount(1), Ok(()));
    }

    #[test]
    fn pro_rata_rounds_half_even() {
        assert_eq!(pro_rata(1, 5, 2), 2); // 2.5 -> 2
        assert_eq!(pro_rata(3, 5, 2), 8); // 7.5 -> 8
        assert_eq!(pro_rata(5_000, 110_816, 8_000), 69_260);
        assert_eq!(pro_rata(1, 1, 0), 0);
    }
}
