//! Which schema migrations a store applies: the rule both stores share.
//!
//! A database records each migration it received as (version, name). A version this build does
//! not know means a newer ticketd migrated the database; a known version under another name
//! means another build did. Running on either could read or write columns that mean something
//! else, so the store refuses to open instead of serving.

use crate::error::StoreError;

/// One migration a store carries: its version, its name and its SQL.
pub type Migration = (i64, &'static str, &'static str);

/// Why a database's recorded migrations do not fit this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationMismatch {
    /// The database holds a migration this build does not carry.
    #[error(
        "the database was migrated by a newer ticketd: migration {version} ({name}) is not one \
         this version knows (it knows 1 to {newest_known}); run that newer ticketd, or restore \
         a backup taken before it ran"
    )]
    Newer {
        /// The recorded version.
        version: i64,
        /// The name it was recorded with.
        name: String,
        /// The newest version this build carries.
        newest_known: i64,
    },
    /// The database holds a migration of a known version under another name.
    #[error(
        "migration {version} is recorded as {recorded:?} but this version's migration {version} \
         is {known:?}: the database was migrated by another build of ticketd"
    )]
    Renamed {
        /// The version both share.
        version: i64,
        /// The name in the database.
        recorded: String,
        /// The name this build carries.
        known: &'static str,
    },
}

/// The migrations of `known` that `applied` (the database's recorded rows) lacks, in order; a
/// refusal when the database was migrated by a build other than this one.
pub fn migrations_to_apply<'a>(
    known: &'a [Migration],
    applied: &[(i64, String)],
) -> Result<Vec<&'a Migration>, StoreError> {
    let newest_known = known.iter().map(|(version, _, _)| *version).max();
    for (version, recorded) in applied {
        let mismatch = match known
            .iter()
            .find(|(known_version, _, _)| known_version == version)
        {
            None => MigrationMismatch::Newer {
                version: *version,
                name: recorded.clone(),
                newest_known: newest_known.unwrap_or(0),
            },
            Some((_, name, _)) if name != recorded => MigrationMismatch::Renamed {
                version: *version,
                recorded: recorded.clone(),
                known: name,
            },
            Some(_) => continue,
        };
        return Err(StoreError::Other(Box::new(mismatch)));
    }
    Ok(known
        .iter()
        .filter(|(version, _, _)| !applied.iter().any(|(done, _)| done == version))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{Migration, MigrationMismatch, migrations_to_apply};
    use crate::error::StoreError;

    const KNOWN: &[Migration] = &[(1, "init", "SELECT 1"), (2, "more", "SELECT 2")];

    fn applied(rows: &[(i64, &str)]) -> Vec<(i64, String)> {
        rows.iter()
            .map(|(version, name)| (*version, (*name).to_owned()))
            .collect()
    }

    fn versions(rows: &[(i64, &str)]) -> Vec<i64> {
        migrations_to_apply(KNOWN, &applied(rows))
            .unwrap()
            .iter()
            .map(|(version, _, _)| *version)
            .collect()
    }

    fn refusal(rows: &[(i64, &str)]) -> MigrationMismatch {
        match migrations_to_apply(KNOWN, &applied(rows)) {
            Err(StoreError::Other(source)) => source
                .downcast_ref::<MigrationMismatch>()
                .cloned()
                .expect("a migration mismatch"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_database_gets_the_migrations_it_lacks_in_order() {
        assert_eq!(versions(&[]), vec![1, 2]);
        assert_eq!(versions(&[(1, "init")]), vec![2]);
        assert_eq!(versions(&[(2, "more"), (1, "init")]), Vec::<i64>::new());
    }

    #[test]
    fn a_database_migrated_by_a_newer_ticketd_is_refused_with_the_way_out() {
        let mismatch = refusal(&[(1, "init"), (2, "more"), (3, "future")]);
        assert_eq!(
            mismatch,
            MigrationMismatch::Newer {
                version: 3,
                name: "future".into(),
                newest_known: 2
            }
        );
        let message = mismatch.to_string();
        assert!(message.contains("newer ticketd"), "{message}");
        assert!(message.contains("migration 3 (future)"), "{message}");
        assert!(message.contains("1 to 2"), "{message}");
    }

    #[test]
    fn a_known_version_under_another_name_is_refused() {
        assert_eq!(
            refusal(&[(1, "init"), (2, "other")]),
            MigrationMismatch::Renamed {
                version: 2,
                recorded: "other".into(),
                known: "more"
            }
        );
    }
}
