//! The behavioural suite over the in-memory store: the same rules as the durable engines
//! (one state machine, three engines), checked without a database, in milliseconds.

mod common;

use common::*;

suite!(memory;
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
    a_panicking_quoter_fails_one_request_not_the_store,
    mixed_concurrent_operations_keep_invariants,
    batch_stats_count_every_write,
    reversing_an_original_reverses_its_incrementals,
    a_failing_request_keeps_its_neighbours_writes,
    cutovers_are_shared_durable_and_once_per_message,
    a_key_reused_for_another_request_is_a_duplicate_not_a_repeat,
    other_messages_reusing_a_key_are_duplicates,
    one_key_with_many_amounts_at_once_makes_one_decision,
    resetting_cutovers_returns_to_the_calendar,
    spend_controls_refuse_57_61_65_in_the_home_currency,
    reversals_give_back_to_the_day_they_were_counted_in,
    an_accounts_controls_are_its_cards_default,
    a_daily_limit_holds_across_instances_at_once,
    an_operators_change_is_seen_by_the_next_authorization_and_recorded,
    a_cards_decisions_page_newest_first,
    adjustments_move_a_balance_once_per_key_and_keep_the_invariants,
    clearing_posts_each_presentment_once_against_its_hold,
    wrong_pins_count_block_at_the_limit_and_reset,
    a_failed_card_check_declines_without_counting_a_pin_try,
    wrong_pins_on_two_instances_at_once_are_all_counted,
    pins_presented_with_balance_inquiries_count_as_any_other,
    every_change_writes_one_event_and_a_repeat_none,
    published_events_are_marked_pruned_and_leased_once,
    unpublished_events_are_found_whatever_order_they_are_published_in,
);
