//! The Store contract suite: every backend runs these checks through `contract_suite!`.
//!
//! The checks drive the real `ticketd_core::Engine` over the backend under test, so they cover both the
//! storage contract and the rules that depend on it (optimistic concurrency, serial numbers,
//! visibility, grants, outbox).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test-support crate: a failed check must panic with its location"
)]

pub mod checks;
pub mod fixture;

use std::sync::Arc;
use ticketd_core::store::Store;

/// A store under test plus whatever keeps it alive (a temporary directory, a database to drop).
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped at the end of the test.
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

impl std::fmt::Debug for TestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStore")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Expands to one `#[tokio::test]` per contract check; `$make` is an async fn returning
/// `Option<TestStore>` (`None` skips, e.g. when no PostgreSQL is configured).
#[macro_export]
macro_rules! contract_suite {
    ($make:path) => {
        $crate::contract_suite!(@tests $make;
            bootstrap_is_idempotent_and_creates_builtins,
            first_starts_racing_keep_the_admin_password_given,
            contents_keep_their_numbers_exactly,
            a_new_admin_token_revokes_the_one_it_replaces,
            users_memberships_and_directory_round_trip,
            user_writes_are_whole_and_keep_e_mail_addresses_unique,
            deletions_racing_other_requests_are_not_store_failures,
            logins_through_a_cache_see_other_processes_changes,
            tokens_expire_and_can_be_revoked,
            access_keys_round_trip,
            flows_update_with_optimistic_concurrency,
            concurrent_flow_writes_keep_their_organization_s_rules,
            concurrent_changes_of_an_organization_s_fields_both_stay,
            openings_with_one_chosen_id_store_one_ticket_and_refuse_the_others_alike,
            opening_assigns_serial_numbers_and_steps,
            serial_numbers_are_unique_under_concurrent_creation,
            serial_counter_widens_past_9999,
            another_api_s_flow_routes_neither_foreign_types_nor_undecidable_rounds,
            an_asset_application_grants_only_its_organization_s_assets,
            an_application_is_granted_only_to_an_applicant_still_in_its_organization,
            copies_go_only_to_users_of_the_ticket_s_organization,
            a_renamed_node_takes_its_descendants_along,
            two_approvers_racing_give_one_transition_and_one_conflict,
            a_decision_on_an_earlier_copy_is_decided_again_on_the_stored_ticket,
            all_mode_approvals_racing_both_count,
            two_level_apply_asset_flow_creates_one_grant,
            grants_written_together_each_take_a_free_name,
            a_decision_whose_grant_names_are_all_taken_is_a_conflict,
            leaving_an_organization_takes_the_user_out_of_its_grants,
            users_leaving_shared_grants_at_once_all_leave,
            a_removal_racing_the_final_approval_leaves_no_grant_to_a_non_member,
            stale_version_writes_nothing,
            writes_committed_together_succeed_or_fail_alone,
            openings_committed_together_keep_counts_countable,
            a_group_keeps_each_write_s_comments_and_events_in_order,
            decisions_committed_together_write_each_ticket_s_rows,
            openings_committed_together_fail_alone,
            an_approver_swapped_without_a_state_change_moves_between_lists,
            index_rows_left_in_place_answer_every_list,
            list_filters_and_visibility,
            text_tests_fold_every_letter_s_case,
            awaiting_and_current_assignee_lists,
            an_assignee_named_twice_in_a_step_is_indexed_once,
            comments_and_history_are_ordered,
            resubmit_starts_a_new_round,
            an_edit_that_changes_nothing_writes_nothing,
            organizations_are_isolated,
            outbox_has_one_event_per_transition,
            catalog_assets_and_nodes,
            search_exclusions_and_sorting,
            users_can_be_updated_and_deleted,
            user_changes_write_their_fields_and_keep_an_administrator,
            global_flows_resolve_approvers_in_the_ticket_org,
            chosen_approvers_and_table_permissions,
            directory_generation_tracks_every_directory_change,
            caches_over_one_database_stay_coherent,
            token_lookups_through_a_cache_see_every_change,
            counts_stay_exact_across_writes,
            remembered_counts_match_fresh_counts_after_every_write,
            a_page_never_holds_more_than_its_count_while_tickets_are_opened,
            deep_pages_stay_exact_while_tickets_are_opened,
            pages_continue_after_a_position,
            tickets_read_again_show_every_write,
            a_first_count_asked_for_at_once_is_exact_for_every_request
        );
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                match $make().await {
                    Some(test_store) => {
                        $crate::checks::$name(test_store.store.clone()).await;
                        drop(test_store);
                    }
                    None => eprintln!("skipped: backend not configured"),
                }
            }
        )*
    };
}
