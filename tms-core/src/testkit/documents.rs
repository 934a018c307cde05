//! Contract cases of the documents follow-ups (issue 8): what the credit
//! note PDF reads back from the store.

use std::sync::Arc;

use crate::id::{CreditNoteId, TenantId};
use crate::money::{Currency, Money};
use crate::ports::Store;

use super::FinanceWorld;
use crate::domain::finance::TaxRate;

/// A credit note reads back exactly as it was issued, only in its own
/// tenant; an unknown id is `None`.
pub async fn credit_notes_read_back_only_in_their_tenant(store: Arc<dyn Store>) {
    let world = FinanceWorld::new(store.clone()).await;
    let invoice = world.issued(2, 500_000).await;
    let note = world
        .finance
        .credit(
            &world.clerk,
            invoice,
            Money::from_minor(100_000, Currency::SAR),
            TaxRate::from_basis_points(1500).expect("rate"),
            "Hotel night not used",
        )
        .await
        .expect("credit");

    let mut uow = store.begin().await.expect("begin");
    let read = uow
        .finance()
        .get_credit_note(world.tenant.id, note.id)
        .await
        .expect("read");
    assert_eq!(read.as_ref(), Some(&note), "round trip");
    let foreign = uow
        .finance()
        .get_credit_note(TenantId::new(), note.id)
        .await
        .expect("read");
    assert_eq!(foreign, None, "another tenant does not see it");
    let unknown = uow
        .finance()
        .get_credit_note(world.tenant.id, CreditNoteId::new())
        .await
        .expect("read");
    assert_eq!(unknown, None);
    uow.rollback().await.expect("rollback");
    assert_eq!(
        note.total().expect("total"),
        Money::from_minor(115_000, Currency::SAR)
    );
}

/// The branding's emergency contact round-trips, is replaced and cleared
/// under the branding's version.
pub async fn branding_keeps_its_emergency_contact(store: Arc<dyn Store>) {
    use crate::domain::Phone;
    use crate::ports::{BrandingSettings, EmergencyContact};

    let tenant = super::seed_tenant(&*store).await;
    let contact = EmergencyContact {
        phone: Phone::parse("+966501234567").expect("phone"),
        name: "Al Noor duty desk".into(),
        notes: "24/7, Arabic and Urdu".into(),
    };
    let mut uow = store.begin().await.expect("begin");
    let mut branding = BrandingSettings::defaults(tenant.id);
    branding.emergency_contact = Some(contact.clone());
    uow.files().put_branding(&mut branding).await.expect("put");
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    let mut read = uow.files().branding(tenant.id).await.expect("read");
    assert_eq!(read.emergency_contact, Some(contact));
    read.emergency_contact = Some(EmergencyContact {
        phone: Phone::parse("+923001234567").expect("phone"),
        name: String::new(),
        notes: String::new(),
    });
    uow.files().put_branding(&mut read).await.expect("replace");
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    let mut read = uow.files().branding(tenant.id).await.expect("read");
    let replaced = read.emergency_contact.clone().expect("contact");
    assert_eq!(replaced.phone.as_str(), "+923001234567");
    assert_eq!(replaced.line(), "+923001234567");
    read.emergency_contact = None;
    uow.files().put_branding(&mut read).await.expect("clear");
    uow.commit().await.expect("commit");
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.files()
            .branding(tenant.id)
            .await
            .expect("read")
            .emergency_contact,
        None
    );
    uow.rollback().await.expect("rollback");
}
