//! The behavioural suite against the embedded (SQLite) store, plus its own tests:
//! backpressure and the SIGKILL crash test.

mod common;

use common::*;

suite!(embedded;
    approval_places_one_hold_and_a_repeat_replays,
    declines_are_recorded_with_their_codes,
    foreign_amount_converts_to_home_when_its_wallet_falls_short,
    partial_approval_only_when_allowed,
    reversals_release_in_full_or_down_to_the_actual_amount,
    reversal_before_original_blocks_the_late_original,
    advices_force_post_even_below_zero_and_once,
    completion_captures_a_different_amount,
    incremental_authorization_links_and_completes_together,
    timed_out_keys_answer_91_and_hold_nothing,
    expiry_releases_old_holds_in_bounded_batches,
    balance_inquiry_lists_home_wallet_first,
    seeding_twice_keeps_balances,
    many_tasks_never_overdraw_one_wallet,
    duplicates_racing_on_two_handles_hold_once,
);
