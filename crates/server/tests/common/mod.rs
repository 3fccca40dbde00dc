//! Test backends: a fresh SQLite file, or a fresh database on the
//! PostgreSQL named by `PRINTWATCH_TEST_POSTGRES` (a recorded skip when
//! unset, a failure under `PRINTWATCH_REQUIRE_ALL=1`; `tools/test` starts a
//! throwaway cluster and sets it).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod app;

use printwatch_server::store::SqlStore;

/// How to get the PostgreSQL half of the battery.
pub const POSTGRES_ENABLE: &str = "run tools/test, which starts a throwaway cluster when \
                                   PostgreSQL's initdb and pg_ctl are installed, or set \
                                   PRINTWATCH_TEST_POSTGRES=postgres://USER@HOST:PORT/DB";

pub struct TestDb {
    pub store: SqlStore,
    /// Where `store` is: another server process would connect here.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    cleanup: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("printwatch.db").display()
        );
        let store = SqlStore::connect(&url).await.expect("sqlite store");
        TestDb {
            store,
            url,
            _dir: Some(dir),
            cleanup: None,
        }
    }

    /// A new, empty database on the test PostgreSQL, or None (skipped).
    /// The skip is recorded under the test's own name (its thread's), with
    /// one reason for all, so that the summary groups them.
    pub async fn postgres(_test: &str) -> Option<TestDb> {
        let Ok(base) = std::env::var("PRINTWATCH_TEST_POSTGRES") else {
            printwatch_testkit::skip(
                "the PostgreSQL run: PRINTWATCH_TEST_POSTGRES is unset",
                POSTGRES_ENABLE,
            );
            return None;
        };
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let name = format!("pw_test_{}_{}", std::process::id(), rand_suffix());
        let mut admin = sqlx::AnyConnection::connect(&base)
            .await
            .expect("connect to PRINTWATCH_TEST_POSTGRES");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = with_database(&base, &name);
        let store = SqlStore::connect(&url).await.expect("postgres store");
        Some(TestDb {
            store,
            url,
            _dir: None,
            cleanup: Some((base, name)),
        })
    }

    /// Another store on the same database, as a second server would open.
    pub async fn reopen(&self) -> SqlStore {
        SqlStore::connect(&self.url).await.expect("reopen")
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((base, name)) = self.cleanup {
            use sqlx::{Connection, Executor};
            if let Ok(mut admin) = sqlx::AnyConnection::connect(&base).await {
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
                    .await
                    .ok();
                admin.close().await.ok();
            }
        }
    }
}

fn rand_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("{n:016x}")
}

/// `base` with its database name replaced.
pub fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (base, None),
    };
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let root = match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Run each named async test `fn(&SqlStore)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! battery {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::common::TestDb::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            )*
        }
    };
}

/// Each named async test `fn(&TestApp)` on a fresh server on SQLite, and on
/// PostgreSQL when `PRINTWATCH_TEST_POSTGRES` is set (skipped with a
/// message otherwise; CI sets it).
#[macro_export]
macro_rules! app_on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite().await;
                    let app = $crate::common::app::TestApp::on(db).await;
                    super::$name(&app).await;
                    app.db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::common::TestDb::postgres(stringify!($name)).await else {
                        return;
                    };
                    let app = $crate::common::app::TestApp::on(db).await;
                    super::$name(&app).await;
                    app.db.finish().await;
                }
            )*
        }
    };
}

pub fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, vec![]);
    for c in text.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}
