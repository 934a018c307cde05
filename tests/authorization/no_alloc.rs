//! `authorize` allocates nothing: a counting allocator proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tms::domain::{BranchScope, Principal, Role};
use tms::id::{BranchId, TenantId, UserId};
use tms::policy::{Action, Resource, ResourceKind, authorize};

/// Counts allocations made by the current thread, so that tests running in
/// parallel on other threads do not disturb the count.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// The workspace denies `unsafe`; a global allocator cannot be written
// without it. This one only counts and forwards to `System`.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn deciding_allocates_nothing() {
    let tenant = TenantId::new();
    let branches: Vec<BranchId> = (0..8).map(|_| BranchId::new()).collect();
    let principals: Vec<Principal> = Role::ALL
        .into_iter()
        .map(|role| {
            Principal::user(
                UserId::new(),
                tenant,
                role,
                BranchScope::only(branches[..4].iter().copied()),
            )
        })
        .chain([Principal::system(tenant, "test")])
        .collect();
    let resources: Vec<Resource> = ResourceKind::ALL
        .iter()
        .flat_map(|&kind| {
            [
                Resource::new(kind, tenant),
                Resource::new(kind, tenant).in_branch(branches[1]),
                Resource::new(kind, tenant).in_branch(branches[6]).draft(),
                Resource::new(kind, TenantId::new()),
            ]
        })
        .collect();

    let before = allocations();
    let mut allowed = 0usize;
    for principal in &principals {
        for &action in &Action::ALL {
            for resource in &resources {
                allowed += usize::from(authorize(principal, action, resource).is_allowed());
            }
        }
    }
    let during = allocations() - before;
    assert!(allowed > 0);
    assert_eq!(during, 0, "authorize allocated {during} times");
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(allocations() > before, "{}", v.len());
}
