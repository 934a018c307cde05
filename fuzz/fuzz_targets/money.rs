//! Money parsing: any text and currency code give an amount or a clear
//! error, never a panic or an overflow; a parsed amount prints back to a
//! string that parses to the same amount.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tms_core::money::{Currency, Money};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // `amount|code` exercises both parsers; plain text uses fixed
    // currencies of 0, 2 and 3 decimals.
    if let Some((amount, code)) = text.split_once('|') {
        if let Ok(money) = Money::parse_with_code(amount, code) {
            check(money);
        }
    }
    for currency in [Currency::JPY, Currency::USD, Currency::KWD] {
        if let Ok(money) = Money::parse(&text, currency) {
            check(money);
        }
    }
});

fn check(money: Money) {
    let printed = money.to_decimal_string();
    let again = Money::parse(&printed, money.currency()).expect("a printed amount parses");
    assert_eq!(again, money, "{printed}");
    let _ = money.to_string();
    let _ = money.checked_neg().and_then(|n| n.checked_add(money));
    let _ = money.checked_mul(-1);
}
