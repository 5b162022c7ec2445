//! The edge's one mapping of read errors: a rendering failure is a 500 of its own, never
//! reported as the store's, and an unavailable store stays a 503 with `Retry-After`.

use domain::ports::StoreError;
use domain::services::QueryError;
use service_kit::Problem;

#[test]
fn a_render_failure_is_an_internal_error_not_a_store_one() {
    let problem = Problem::from(QueryError::Render("JSON: key must be a string".into()));
    assert_eq!(problem.status, 500);
    assert_eq!(problem.title, "Internal server error");
    let detail = problem.detail.as_deref().unwrap_or_default();
    assert!(
        !detail.contains("JSON"),
        "internals stay in the logs: {detail}"
    );
}

#[test]
fn a_store_failure_keeps_the_store_mapping() {
    let through_query = Problem::from(QueryError::Store(StoreError::Unavailable("down".into())));
    let direct = Problem::from(StoreError::Unavailable("down".into()));
    assert_eq!(through_query.status, 503);
    assert_eq!(through_query.status, direct.status);
    assert_eq!(through_query.title, direct.title);
    assert_eq!(
        Problem::from(QueryError::Store(StoreError::NotFound)).status,
        404
    );
}
