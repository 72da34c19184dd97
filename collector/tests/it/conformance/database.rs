//! A fresh PostgreSQL database per test: `lm_test_<random>` on the server that
//! `LANDMETER_TEST_PG` names (default the machine's, `postgres://postgres@127.0.0.1:5432/postgres`),
//! dropped when the value is dropped. An unreachable server fails the test with the reason.

use std::sync::atomic::{AtomicU64, Ordering};

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("LANDMETER_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let admin = server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "lm_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin_execute(&admin, &format!("CREATE DATABASE {name}"));
        let url = with_database(&admin, &name);
        Self { admin, name, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name on its server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `sql` in this database (e.g. to put it back the way an older build left it).
    pub fn execute(&self, sql: &str) {
        admin_execute(&self.url, sql);
    }

    /// Runs `sql` as the server's admin (e.g. to end another connection).
    pub fn admin_execute(&self, sql: &str) {
        admin_execute(&self.admin, sql);
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // FORCE: the store's pool may still be closing its connections in the background.
        admin_execute(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// `url` with its database path replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Runs `sql` on the admin database, on a thread of its own, so that it works from a test's
/// async runtime too.
fn admin_execute(admin: &str, sql: &str) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| admin_execute_here(admin, sql))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    });
}

fn admin_execute_here(admin: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {admin} ({e}). The PostgreSQL tests need a \
                     server: start one (`service postgresql start`) or set LANDMETER_TEST_PG \
                     to a server where this user may create databases"
                )
            });
        let driver = tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql} on {admin}: {e}"));
        drop(client);
        let _ = driver.await;
    });
}

#[test]
fn a_database_url_keeps_the_server_and_its_options() {
    assert_eq!(
        with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u@h:5432/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
