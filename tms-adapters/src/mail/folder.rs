//! Mail written to a folder, one `.eml` file per message.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tms_core::ports::{MailTransport, OutgoingMail, Receipt};
use tms_core::{Error, Result};

/// Writes each message to `<root>/<tenant id>/<Message-ID>.eml`.
///
/// The file name comes from the message's fixed `Message-ID`, so a message
/// sent twice (a crash between the send and its record) is one file, not
/// two. Files are written to a temporary name and renamed into place: a
/// reader never sees half a message.
///
/// ```no_run
/// # async fn demo() -> tms_core::Result<()> {
/// use tms_adapters::mail::FolderMailer;
/// let mailer = FolderMailer::new("./tms-data/mail");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FolderMailer {
    root: PathBuf,
}

impl FolderMailer {
    /// A mailer writing under `root` (created on first send).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder it writes to.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The `Message-ID` without its angle brackets, reduced to characters that
/// are safe in a file name on every system.
fn file_stem(message_id: &str) -> String {
    let stem: String = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' | '@' => c,
            _ => '_',
        })
        .take(200)
        .collect();
    match stem.trim_start_matches('.') {
        "" => "message".to_owned(),
        s => s.to_owned(),
    }
}

#[async_trait]
impl MailTransport for FolderMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<Receipt> {
        let dir = self.root.join(mail.tenant_id.to_string());
        let unavailable = |e: std::io::Error| {
            Error::unavailable(format!(
                "cannot write mail to {}: {}",
                dir.display(),
                e.kind()
            ))
        };
        tokio::fs::create_dir_all(&dir).await.map_err(unavailable)?;
        let stem = file_stem(&mail.message_id);
        let path = dir.join(format!("{stem}.eml"));
        let partial = dir.join(format!(".{stem}.{}.partial", uuid::Uuid::now_v7().simple()));
        tokio::fs::write(&partial, &mail.raw)
            .await
            .map_err(unavailable)?;
        if let Err(e) = tokio::fs::rename(&partial, &path).await {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(unavailable(e));
        }
        Ok(Receipt {
            provider_message_id: Some(format!("{}/{stem}.eml", mail.tenant_id)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tms_core::domain::Email;
    use tms_core::id::TenantId;

    fn mail(message_id: &str) -> OutgoingMail {
        OutgoingMail {
            tenant_id: TenantId::new(),
            from: Email::parse("bookings@al-noor.example").unwrap(),
            to: vec![Email::parse("amina@example.com").unwrap()],
            message_id: message_id.to_owned(),
            raw: b"Subject: hello\r\n\r\nbody\r\n".to_vec(),
        }
    }

    #[test]
    fn file_names_are_safe_whatever_the_message_id() {
        assert_eq!(file_stem("<abc@tms.invalid>"), "abc@tms.invalid");
        assert_eq!(file_stem("<../../etc/passwd>"), "_.._etc_passwd");
        assert_eq!(file_stem("<>"), "message");
        assert!(!file_stem("<a/b\\c:d>").contains(['/', '\\', ':']));
    }

    #[tokio::test]
    async fn a_message_sent_twice_is_one_file() {
        let dir = std::env::temp_dir().join(format!("tms-mail-{}", uuid::Uuid::now_v7()));
        let mailer = FolderMailer::new(&dir);
        let mail = mail("<0190-1@tms.invalid>");
        let first = mailer.send(&mail).await.unwrap();
        let second = mailer.send(&mail).await.unwrap();
        assert_eq!(first, second);
        let folder = dir.join(mail.tenant_id.to_string());
        let files: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
        assert_eq!(files.len(), 1, "no partial file is left behind");
        let written = std::fs::read(folder.join("0190-1@tms.invalid.eml")).unwrap();
        assert_eq!(written, mail.raw);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_unwritable_folder_is_unavailable_not_a_panic() {
        let file = std::env::temp_dir().join(format!("tms-mail-file-{}", uuid::Uuid::now_v7()));
        std::fs::write(&file, b"not a folder").unwrap();
        let err = FolderMailer::new(&file)
            .send(&mail("<x@y>"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        std::fs::remove_file(file).unwrap();
    }
}
