//! The one scope filter of the SQL store: every scoped read narrows its
//! query here, so "which rows may this caller see" is decided in one place.

use sea_query::{Expr, ExprTrait as _, SelectStatement};
use tms_core::domain::BranchScope;
use tms_core::ports::{Page, Scope};

use super::repos::uuid;

/// Restricts `q` to the scope's tenant and, unless it sees every branch, to
/// its branches: in the query, never after loading, so a page is never cut
/// short by rows filtered out later.
///
/// Returns `false` when the scope sees no branch at all, so the caller can
/// answer "nothing" without a round trip. The branch filter is in `q` either
/// way (sea-query renders an empty `IN` as `1 = 2`): a caller that runs the
/// query anyway still reads no row, and an out-of-scope row stays not found.
#[must_use = "an empty scope sees nothing: return no rows without querying"]
pub(super) fn scoped(q: &mut SelectStatement, scope: &Scope) -> bool {
    scoped_on(q, scope, "branch_id")
}

/// [`scoped`] for a table whose branch is in `branch_col` rather than
/// `branch_id` (the branches table itself: its `id`).
#[must_use = "an empty scope sees nothing: return no rows without querying"]
pub(super) fn scoped_on(q: &mut SelectStatement, scope: &Scope, branch_col: &str) -> bool {
    q.and_where(Expr::col("tenant_id").eq(uuid(scope.tenant_id)));
    match &scope.branches {
        BranchScope::All => true,
        BranchScope::Only(set) => {
            q.and_where(Expr::col(branch_col.to_owned()).is_in(set.iter().map(uuid)));
            !set.is_empty()
        }
    }
}

/// The answer to a list whose scope sees no branch.
pub(super) fn empty_page<T>() -> Page<T> {
    Page {
        items: Vec::new(),
        next: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::{Query, SqliteQueryBuilder};
    use tms_core::id::{BranchId, TenantId};

    fn sql(branches: BranchScope, column: &str) -> (bool, String) {
        let scope = Scope {
            tenant_id: TenantId::new(),
            branches,
        };
        let mut q = Query::select();
        q.column("id").from("t");
        let any = scoped_on(&mut q, &scope, column);
        (any, q.to_string(SqliteQueryBuilder))
    }

    #[test]
    fn every_branch_filters_the_tenant_only() {
        let (any, sql) = sql(BranchScope::All, "branch_id");
        assert!(any);
        assert!(sql.contains(r#""tenant_id" = "#), "{sql}");
        assert!(!sql.contains("branch_id"), "{sql}");
    }

    #[test]
    fn some_branches_filter_the_given_column() {
        let (a, b) = (BranchId::new(), BranchId::new());
        let (any, sql) = sql(BranchScope::only([a, b]), "id");
        assert!(any);
        assert!(sql.contains(r#""tenant_id" = "#), "{sql}");
        assert!(sql.contains(r#""id" IN ("#), "{sql}");
        assert!(!sql.contains("branch_id"), "{sql}");
    }

    #[test]
    fn no_branch_is_no_row_even_when_the_query_runs() {
        let (any, sql) = sql(BranchScope::only([]), "branch_id");
        assert!(!any);
        // The filter stays in the query: running it anyway reads nothing.
        assert!(sql.contains("1 = 2"), "{sql}");
    }
}
