//! Throw-away PostgreSQL clusters for the tests, examples and benchmarks of
//! pg-bulk-ingest.
//!
//! [`server()`] is what a test calls: it uses `DATABASE_URL` when it is set and
//! otherwise starts one cluster per process from the local PostgreSQL binaries
//! (`PG_BIN`, else `pg_config --bindir`, else `initdb` on `PATH`, else the newest
//! `/usr/lib/postgresql/<major>/bin`). [`Server::create_database`] then gives each
//! test a fresh database of its own. [`describe`] turns a `postgres::Error` into
//! a message that shows what the server said.
//!
//! PostgreSQL refuses to run as root. When the harness runs as root it starts
//! `initdb` and `postgres` as the `postgres` OS user (which Debian's package
//! creates), with its primary group only and a data directory it hands to that
//! user. That user must be able to reach, read and execute the binaries: when
//! the permission bits on the way forbid it (binaries under `/root`, say), the
//! error names the first directory or file that user may not use, before
//! anything is started; so does the error for a `TMPDIR` it may not enter.
//!
//! # Cleanup
//!
//! A cluster lives in `<temp>/pg-bulk-ingest-cluster-<pid>-<n>`, where `<temp>`
//! is `TMPDIR` or `/tmp`: the data directory (40 MB and more), the socket
//! directory and the logs. Its server is stopped and the whole directory
//! removed when the cluster ends, however that happens:
//!
//! - **Dropping** a [`Cluster`] (or a [`Server`] that holds one) sends SIGQUIT to
//!   the postmaster (immediate shutdown: the data is thrown away, so no
//!   checkpoint), waits for it to exit (SIGKILL after 10 s) and removes the
//!   directory, all before `drop` returns.
//! - **A normal exit** of the process (`main` returns, `std::process::exit`, the
//!   test harness finishes, failing or panicking tests included, a panic that
//!   unwinds out of `main`) does the same, from an `atexit` handler, for every
//!   cluster not dropped by then; those of [`server()`] and
//!   [`example_database`] live in statics and are never dropped. (A cluster
//!   that another thread is starting or dropping at that very moment is left
//!   to the watcher.)
//! - **Any other end** (SIGKILL, Ctrl-C or another fatal signal, `abort`, a
//!   panic with `panic = "abort"`) is handled by the cluster's watcher: a small
//!   `/bin/sh` process started before `initdb`, running as the user of this
//!   process (root included, so it may remove the directory) in a session of
//!   its own (a Ctrl-C to the terminal's process group does not reach it). Its
//!   standard input is a pipe whose write end only this process holds (it is
//!   close-on-exec: neither the server nor any other program started from this
//!   process inherits it). When this process is gone, the watcher reads end of
//!   file, sends SIGQUIT to the postmaster if it is still running on the
//!   cluster's data directory, waits for it (SIGKILL after 10 s) and removes
//!   the directory, usually within a fraction of a second. The watcher holds
//!   nothing the server needs, and neither it nor the server inherits any
//!   other descriptor of this process (those above standard error are made
//!   close-on-exec in the child; Linux 5.11 and later). Dropping the cluster, or the exit handler,
//!   closes the pipe after doing the work, and the watcher exits finding
//!   nothing left to do.
//! - As second lines of defence, the postmaster is started with
//!   `PR_SET_PDEATHSIG` set to SIGQUIT (the kernel asks it to shut down
//!   immediately when this process ends) and `initdb` with SIGKILL, and each
//!   cluster that starts first removes the directories of clusters whose
//!   process no longer exists, stopping a server still running on one.
//!
//! The postmaster runs in a process group of its own, so a Ctrl-C reaches the
//! test process, not the server directly; the server then goes as described.
//! Left behind are only: the directory of a cluster whose machine crashed, or
//! whose watcher was killed too (killing every process of a container or a
//! systemd unit, say), until the next cluster starts with the same `TMPDIR`;
//! the cluster of a process that forked without exec, until that fork exits
//! too (it holds the pipe); and exited server and watcher processes as
//! zombies where nothing reaps orphans (a container whose PID 1 does not).

mod access;
mod cleanup;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use access::{first_denied, Denied, Identity};
use cleanup::Cleanup;

const DIR_PREFIX: &str = "pg-bulk-ingest-cluster-";
const SUPERUSER: &str = "postgres";
const PORT: u16 = 5432;

/// How a throw-away cluster is tuned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: fast, for tests.
    /// A crash of the machine loses the cluster, which nobody minds here.
    Tests,
    /// PostgreSQL's defaults (durable commits), for benchmarks whose figures
    /// should mean something for a production server.
    Production,
}

/// A PostgreSQL server started by this process, with its own data directory and
/// a Unix socket in a private directory (it listens on no TCP port).
///
/// The server is stopped and the directory removed when the value is dropped,
/// when the process exits, and when it is killed (see the
/// [crate documentation](crate#cleanup)).
pub struct Cluster {
    dir: PathBuf,
    pid: u32,
    version: String,
    cleanup: Arc<Cleanup>,
}

impl Cluster {
    /// Runs `initdb` into a new temporary directory and starts `postgres` on it.
    ///
    /// # Errors
    /// When no server binaries are found, the server user may not run them (the
    /// message names the directory or file to blame and what to do), `initdb`
    /// fails or the server does not come up within 60 s (with their logs).
    pub fn start(durability: Durability) -> io::Result<Cluster> {
        let bin = pg_bin_dir()?;
        cleanup::remove_stale_dirs(DIR_PREFIX);
        let owner = server_user()?;
        let initdb_path = bin.join("initdb");
        let postgres_path = bin.join("postgres");
        if let Some(owner) = owner {
            // Root: the `postgres` user must be able to run them; say so before
            // starting anything if the permission bits forbid it.
            for program in [&initdb_path, &postgres_path] {
                if let Some(denied) = first_denied(program, owner.uid, owner.gid, &[]) {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        cannot_run(program, Some(owner), "Permission denied", Some(denied)),
                    ));
                }
            }
        }

        let temp = std::env::temp_dir();
        let dir = fs::canonicalize(&temp).unwrap_or(temp).join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed)
        ));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        if let Err(e) = fs::create_dir_all(dir.join("socket")) {
            let _ = fs::remove_dir_all(&dir);
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "create the cluster directory {} (set TMPDIR to put it elsewhere): {e}",
                    dir.display()
                ),
            ));
        }
        let cleanup = match Cleanup::start(dir.clone()) {
            Ok(cleanup) => cleanup,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        // From here on, an error drops `cluster`, which removes it all again.
        let mut cluster = Cluster {
            dir,
            pid: 0,
            version: String::new(),
            cleanup,
        };
        let dir = cluster.dir.clone();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        if let Some(owner) = owner {
            std::os::unix::fs::chown(&dir, Some(owner.uid), Some(owner.gid))?;
            std::os::unix::fs::chown(dir.join("socket"), Some(owner.uid), Some(owner.gid))?;
            if let Some(denied) = first_denied(&dir, owner.uid, owner.gid, &[]) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "the `{SUPERUSER}` OS user, which runs the server, cannot use the \
                         cluster directory {}: `{SUPERUSER}` {denied}. Set TMPDIR to a \
                         directory it can enter (such as /tmp), or set DATABASE_URL to use a \
                         running server.",
                        dir.display()
                    ),
                ));
            }
        }

        // Standard output and error to one file, sharing one offset.
        let log = |name: &str| -> io::Result<(fs::File, fs::File)> {
            let file = fs::File::create(dir.join(name))?;
            let clone = file.try_clone()?;
            Ok((file, clone))
        };
        let (initdb_out, initdb_err) = log("initdb.log")?;
        let mut initdb = Command::new(&initdb_path);
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(initdb_out)
            .stderr(initdb_err);
        as_server_user(&mut initdb, owner);
        // `status()` blocks this thread until initdb exits, so the signal comes
        // only when the process ends.
        die_with_parent(&mut initdb, libc::SIGKILL);
        cleanup::inherit_no_stray_fds(&mut initdb);
        let status = initdb
            .status()
            .map_err(|e| spawn_error(&initdb_path, owner, e))?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "initdb failed ({status}):\n{}",
                fs::read_to_string(dir.join("initdb.log")).unwrap_or_default()
            )));
        }

        let (server_out, server_err) = log("server.log")?;
        let mut postgres = Command::new(&postgres_path);
        postgres
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-k")
            .arg(dir.join("socket"))
            .arg("-p")
            .arg(PORT.to_string())
            .args(["-c", "listen_addresses=", "-c", "max_connections=300"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(server_out)
            .stderr(server_err)
            // Signals aimed at the terminal's foreground process group (Ctrl-C)
            // are for this process; the server goes when it goes.
            .process_group(0);
        if durability == Durability::Tests {
            for setting in [
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
            ] {
                postgres.args(["-c", setting]);
            }
        }
        as_server_user(&mut postgres, owner);
        // Immediate shutdown when the thread that started the server ends.
        die_with_parent(&mut postgres, libc::SIGQUIT);
        cleanup::inherit_no_stray_fds(&mut postgres);
        let child = spawn_from_long_lived_thread(postgres)
            .map_err(|e| spawn_error(&postgres_path, owner, e))?;
        cluster.pid = child.id();
        cluster.cleanup.set_server(child)?;
        cluster.wait_until_ready()?;
        Ok(cluster)
    }

    fn wait_until_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.config("postgres").connect(postgres::NoTls) {
                Ok(mut client) => {
                    let row = client.query_one("SHOW server_version", &[]).map_err(|e| {
                        io::Error::other(format!("SHOW server_version: {}", describe(&e)))
                    })?;
                    self.version = row.get(0);
                    return Ok(());
                }
                Err(err) => {
                    if let Some(status) = self.cleanup.server_exited()? {
                        return Err(io::Error::other(format!(
                            "postgres exited ({status}):\n{}",
                            fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                        )));
                    }
                    if Instant::now() > deadline {
                        return Err(io::Error::other(format!(
                            "postgres did not accept connections within 60 s: {}\n{}",
                            describe(&err),
                            fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Connection settings for database `dbname` as the superuser.
    pub fn config(&self, dbname: &str) -> postgres::Config {
        let mut config = postgres::Config::new();
        config
            .host_path(self.dir.join("socket"))
            .port(PORT)
            .user(SUPERUSER)
            .dbname(dbname)
            .application_name("pg-bulk-ingest-testkit");
        config
    }

    /// The server's `server_version`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The cluster's directory (`data/`, `socket/` and the logs
    /// `initdb.log`, `server.log`), removed when the cluster ends.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log (its standard output and error).
    pub fn server_log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The process id of the server (the postmaster).
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.cleanup.run();
    }
}

static NEXT_CLUSTER: AtomicU32 = AtomicU32::new(0);

/// Has the kernel send `signal` to the child when the thread that forks it ends.
fn die_with_parent(command: &mut Command, signal: libc::c_int) {
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    // It runs after the switch to the server user, which would clear it.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, so the
/// server is forked from a thread that lives as long as the process.
fn spawn_from_long_lived_thread(mut command: Command) -> io::Result<Child> {
    type Job = (Command, mpsc::Sender<io::Result<Child>>);
    static SPAWNER: OnceLock<mpsc::Sender<Box<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Box<Job>>();
        std::thread::Builder::new()
            .name("pg-bulk-ingest-testkit-spawner".into())
            .spawn(move || {
                // `rx` lives in a static's thread: the loop ends only with the process.
                while let Ok(job) = rx.recv() {
                    let (mut command, reply) = *job;
                    let _ = reply.send(command.spawn());
                }
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn the server-spawner thread");
        tx
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let job = Box::new((
        std::mem::replace(&mut command, Command::new("true")),
        reply_tx,
    ));
    spawner
        .send(job)
        .map_err(|_| io::Error::other("server-spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("server-spawner thread is gone"))?
}

#[derive(Clone, Copy)]
struct Owner {
    uid: u32,
    gid: u32,
}

/// `None` when not root; otherwise the `postgres` OS user the server runs as.
fn server_user() -> io::Result<Option<Owner>> {
    // SAFETY: geteuid has no memory effects.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    match access::user_by_name(SUPERUSER) {
        Some((uid, gid)) => Ok(Some(Owner { uid, gid })),
        None => Err(io::Error::other(
            "running as root, and PostgreSQL refuses to run as root: the `postgres` OS \
             user to run it as does not exist (installing Debian's `postgresql` package \
             creates it), or set DATABASE_URL",
        )),
    }
}

fn as_server_user(command: &mut Command, owner: Option<Owner>) {
    if let Some(owner) = owner {
        // Rust drops the supplementary groups when root switches users: the
        // server has the primary group only.
        command.uid(owner.uid).gid(owner.gid);
        command.env("HOME", "/tmp").env_remove("PGDATA");
    }
}

/// A failure to start `program`, with its path, and for a `Permission denied`
/// what is to blame and what to do.
fn spawn_error(program: &Path, owner: Option<Owner>, err: io::Error) -> io::Error {
    if err.kind() != io::ErrorKind::PermissionDenied {
        return io::Error::new(
            err.kind(),
            format!("cannot run {}: {err}", program.display()),
        );
    }
    let denied = match owner {
        Some(owner) => first_denied(program, owner.uid, owner.gid, &[]),
        None => {
            let me = Identity::current();
            first_denied(program, me.uid, me.gid, &me.groups)
        }
    };
    io::Error::new(
        err.kind(),
        cannot_run(program, owner, &err.to_string(), denied),
    )
}

/// The message for a server binary that the server user may not run.
fn cannot_run(program: &Path, owner: Option<Owner>, err: &str, denied: Option<Denied>) -> String {
    let (who, ids) = match owner {
        Some(owner) => (format!("`{SUPERUSER}`"), (owner.uid, owner.gid)),
        None => {
            let me = Identity::current();
            (format!("`{}`", me.name), (me.uid, me.gid))
        }
    };
    let cause = match denied {
        Some(denied) => format!("{who} {denied}"),
        None => "the permission bits on the way allow it, so an ACL, a `noexec` mount \
                 or a security module may forbid it"
            .to_owned(),
    };
    let remedy = match owner {
        Some(_) => format!(
            "PostgreSQL refuses to run as root, so the harness runs initdb and postgres \
             as the {who} OS user, which must be able to reach, read and execute them. \
             Put the server binaries where it can (under /opt or /var/cache, say: \
             `bash .ci/postgres-bin MAJOR` installs PostgreSQL 12 to 18 under \
             /var/cache/pg-bulk-ingest and prints the directory), set PG_BIN to such a \
             directory, or set DATABASE_URL to use a running server"
        ),
        None => "Make the server binaries readable and executable for this user, set PG_BIN \
                 to a directory holding initdb and postgres that is, or set DATABASE_URL to \
                 use a running server"
            .to_owned(),
    };
    format!(
        "cannot run {} as {who} (uid {}, gid {}): {err}: {cause}.\n{remedy}.",
        program.display(),
        ids.0,
        ids.1,
    )
}

/// The directory holding `initdb` and `postgres` (an absolute path): `PG_BIN`
/// when set, else `pg_config --bindir`, else the first directory on `PATH`
/// with both, else the newest `/usr/lib/postgresql/<major>/bin`.
///
/// # Errors
/// When none holds `initdb`, or `PG_BIN` cannot be read by this user (the
/// message names the directory to blame).
pub fn pg_bin_dir() -> io::Result<PathBuf> {
    find_pg_bin_dir().and_then(std::path::absolute)
}

fn find_pg_bin_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        let initdb = dir.join("initdb");
        return match fs::metadata(&initdb) {
            Ok(meta) if meta.is_file() => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                let me = Identity::current();
                let denied = first_denied(&initdb, me.uid, me.gid, &me.groups);
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "PG_BIN={}: {}",
                        dir.display(),
                        cannot_run(&initdb, None, &e.to_string(), denied)
                    ),
                ))
            }
            _ => Err(io::Error::other(format!(
                "PG_BIN={} holds no initdb",
                dir.display()
            ))),
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                return Ok(dir);
            }
        }
    }
    // Debian keeps the server binaries in a per-major directory off PATH.
    let mut majors: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin).ok_or_else(|| {
        io::Error::other(
            "no PostgreSQL server binaries found: install them (`apt-get install -y \
             postgresql`), point PG_BIN at a directory holding initdb and postgres, \
             or set DATABASE_URL",
        )
    })
}

/// The server's major version (`server_version_num / 10000`: 12 to 18), for
/// tests that assert what each major guarantees.
pub fn major(client: &mut impl postgres::GenericClient) -> i32 {
    let num: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int4", &[])
        .expect("server_version_num")
        .get(0);
    num / 10_000
}

/// `CREATE FUNCTION public.count_staged()`: a trigger function for a
/// statement trigger with `REFERENCING NEW TABLE AS new` that adds the rows
/// inserted to the transaction's setting `test.staged` (read with
/// [`staged_rows`]). Tests put it on an upsert's staging table (with
/// [`count_staged_trigger`]) to count the rows a call staged.
pub const COUNT_STAGED: &str =
    "CREATE FUNCTION public.count_staged() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN PERFORM set_config('test.staged', \
       (coalesce(nullif(current_setting('test.staged', true), ''), '0')::int8 \
        + (SELECT count(*) FROM new))::text, true); \
     RETURN NULL; END $$";

/// The statement trigger of [`COUNT_STAGED`] on `table` (quoted and
/// qualified, e.g. as an `on_new_table` hook is given it).
pub fn count_staged_trigger(table: &str) -> String {
    format!(
        "CREATE TRIGGER count_staged AFTER INSERT ON {table} \
         REFERENCING NEW TABLE AS new FOR EACH STATEMENT \
         EXECUTE FUNCTION public.count_staged()"
    )
}

/// The rows [`COUNT_STAGED`] counted in this transaction.
pub fn staged_rows(client: &mut impl postgres::GenericClient) -> i64 {
    client
        .query_one(
            "SELECT coalesce(nullif(current_setting('test.staged', true), ''), '0')::int8",
            &[],
        )
        .expect("test.staged")
        .get(0)
}

/// What went wrong, for a message: for an error the server reported, its
/// severity, message, SQLSTATE and, when present, detail, hint and context,
/// one per line the way `psql` shows them, e.g.
/// `ERROR: database "x" already exists (SQLSTATE 42P04)` (where the error's own
/// `Display` says only `db error`); for any other error, its `Display`
/// followed by those of its sources (`error connecting to server: No such
/// file or directory (os error 2)`).
pub fn describe(err: &postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        for (label, value) in [
            ("DETAIL", db.detail()),
            ("HINT", db.hint()),
            ("CONTEXT", db.where_()),
        ] {
            if let Some(value) = value {
                text.push_str(&format!("\n{label}: {value}"));
            }
        }
        return text;
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A server to run tests against: `DATABASE_URL`, or a throw-away cluster.
pub struct Server {
    admin: postgres::Config,
    cluster: Option<Cluster>,
    next_db: AtomicU32,
}

/// The process-wide server: `DATABASE_URL` when set, otherwise one throw-away
/// cluster per process ([`Durability::Tests`]), started on first use and
/// removed when the process ends (see the [crate documentation](crate#cleanup)).
///
/// # Panics
/// When no server can be had; the message says why and what to do.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| Server::from_env(Durability::Tests).unwrap_or_else(|e| panic!("{e}")))
}

impl Server {
    /// Uses `DATABASE_URL` when it is set; otherwise starts a throw-away cluster
    /// tuned for `durability`.
    pub fn from_env(durability: Durability) -> io::Result<Server> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let admin: postgres::Config = url
                    .parse()
                    .map_err(|e| io::Error::other(format!("DATABASE_URL: {e}")))?;
                Ok(Server {
                    admin,
                    cluster: None,
                    next_db: AtomicU32::new(0),
                })
            }
            _ => {
                let cluster = Cluster::start(durability)?;
                Ok(Server {
                    admin: cluster.config("postgres"),
                    cluster: Some(cluster),
                    next_db: AtomicU32::new(0),
                })
            }
        }
    }

    /// Whether this is a throw-away cluster (not `DATABASE_URL`).
    pub fn is_throw_away(&self) -> bool {
        self.cluster.is_some()
    }

    /// The throw-away cluster, `None` with `DATABASE_URL`.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// Connection settings of the server's administrative connection.
    pub fn admin_config(&self) -> &postgres::Config {
        &self.admin
    }

    /// Connects with the administrative settings.
    pub fn connect_admin(&self) -> postgres::Client {
        self.admin
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to the test server: {}", describe(&e)))
    }

    /// Creates a fresh, empty database whose name starts with `prefix`. On a
    /// `DATABASE_URL` server it is dropped again when the returned value is
    /// dropped; a throw-away cluster is removed whole at the end.
    pub fn create_database(&'static self, prefix: &str) -> TestDb {
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            self.next_db.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = self.connect_admin();
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {}", describe(&e)));
        let mut config = self.admin.clone();
        config.dbname(&name);
        TestDb {
            server: self,
            name,
            config,
        }
    }
}

/// A database created for one test (see [`Server::create_database`]).
pub struct TestDb {
    server: &'static Server,
    name: String,
    config: postgres::Config,
}

impl TestDb {
    /// Connection settings of this database.
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// A new connection to this database.
    pub fn connect(&self) -> postgres::Client {
        self.config
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to {}: {}", self.name, describe(&e)))
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.server.is_throw_away() {
            return;
        }
        if let Ok(mut admin) = self.server.admin.connect(postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Connection settings for an example or benchmark program: `DATABASE_URL`
/// when it is set, otherwise a new database in a throw-away cluster with
/// PostgreSQL's default (durable) settings ([`Durability::Production`]), which
/// lives as long as the process and is removed when it ends (see the
/// [crate documentation](crate#cleanup)).
/// Prints which one it uses to standard error.
pub fn example_database(name: &str) -> postgres::Config {
    static SERVER: OnceLock<Server> = OnceLock::new();
    let server = SERVER
        .get_or_init(|| Server::from_env(Durability::Production).unwrap_or_else(|e| panic!("{e}")));
    match &server.cluster {
        None => eprintln!("using DATABASE_URL"),
        Some(cluster) => eprintln!(
            "DATABASE_URL is not set: started a throw-away PostgreSQL {} cluster \
             with default settings (removed when this program ends)",
            cluster.version()
        ),
    }
    if server.cluster.is_none() {
        // The caller's own database: use it as it is.
        return server.admin.clone();
    }
    let db = server.create_database(name);
    let config = db.config().clone();
    // The database goes away with the cluster.
    std::mem::forget(db);
    config
}

/// `config`'s host, port, user and database as a connection string, for an
/// example or benchmark program that hands its database to a child process
/// of its own (the password is not passed on).
pub fn connection_string(config: &postgres::Config) -> String {
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    format!(
        "host='{host}' port={} user='{}' dbname='{}'",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres"),
    )
}
