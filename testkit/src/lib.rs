//! Throw-away PostgreSQL clusters for the tests, examples and benchmarks of
//! pg-bulk-ingest.
//!
//! [`server()`] is what a test calls: it uses `DATABASE_URL` when it is set and
//! otherwise starts one cluster per process from the local PostgreSQL binaries
//! (`PG_BIN`, else `pg_config --bindir`, else `initdb` on `PATH`, else the newest
//! `/usr/lib/postgresql/<major>/bin`). [`Server::create_database`] then gives each
//! test a fresh database of its own.
//!
//! PostgreSQL refuses to run as root. When the harness runs as root it starts
//! `initdb` and `postgres` as the `postgres` OS user (which Debian's package
//! creates), with a data directory it hands to that user.
//!
//! The server is a child of this process and is asked to shut down immediately
//! when the process ends, however it ends (`PR_SET_PDEATHSIG`), so a killed test
//! binary does not leave a server behind. Data directories of clusters whose
//! process is gone are removed by the next cluster that starts.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

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
pub struct Cluster {
    dir: PathBuf,
    child: Child,
    version: String,
}

impl Cluster {
    /// Runs `initdb` into a new temporary directory and starts `postgres` on it.
    pub fn start(durability: Durability) -> io::Result<Cluster> {
        let bin = pg_bin_dir()?;
        remove_stale_dirs();
        let owner = server_user()?;
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed)
        ));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(dir.join("socket"))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        if let Some(owner) = owner {
            std::os::unix::fs::chown(&dir, Some(owner.uid), Some(owner.gid))?;
            std::os::unix::fs::chown(dir.join("socket"), Some(owner.uid), Some(owner.gid))?;
        }

        let log = |name: &str| -> io::Result<fs::File> {
            let file = fs::File::create(dir.join(name))?;
            Ok(file)
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log("initdb.log")?)
            .stderr(log("initdb.log")?);
        as_server_user(&mut initdb, owner);
        let status = initdb.status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "initdb failed ({status}):\n{}",
                fs::read_to_string(dir.join("initdb.log")).unwrap_or_default()
            )));
        }

        let mut postgres = Command::new(bin.join("postgres"));
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
            .stdout(log("server.log")?)
            .stderr(log("server.log")?);
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
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            postgres.pre_exec(|| {
                // Immediate shutdown when the thread that started the server ends.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = spawn_from_long_lived_thread(postgres)?;
        let mut cluster = Cluster {
            dir,
            child,
            version: String::new(),
        };
        cluster.wait_until_ready()?;
        Ok(cluster)
    }

    fn wait_until_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.config("postgres").connect(postgres::NoTls) {
                Ok(mut client) => {
                    let row = client
                        .query_one("SHOW server_version", &[])
                        .map_err(io::Error::other)?;
                    self.version = row.get(0);
                    return Ok(());
                }
                Err(err) => {
                    if let Some(status) = self.child.try_wait()? {
                        return Err(io::Error::other(format!(
                            "postgres exited ({status}):\n{}",
                            fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                        )));
                    }
                    if Instant::now() > deadline {
                        return Err(io::Error::other(format!(
                            "postgres did not accept connections within 60 s: {err}"
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
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast" shutdown.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

static NEXT_CLUSTER: AtomicU32 = AtomicU32::new(0);

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
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = CString::new("postgres").unwrap();
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy the
    // two integers out at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(io::Error::other(
            "running as root, and PostgreSQL refuses to run as root: the `postgres` OS \
             user to run it as does not exist (installing Debian's `postgresql` package \
             creates it), or set DATABASE_URL",
        ));
    }
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some(Owner { uid, gid }))
}

fn as_server_user(command: &mut Command, owner: Option<Owner>) {
    if let Some(owner) = owner {
        command.uid(owner.uid).gid(owner.gid);
        command.env("HOME", "/tmp").env_remove("PGDATA");
    }
}

/// The directory holding `initdb` and `postgres`.
pub fn pg_bin_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("initdb").is_file() {
            Ok(dir)
        } else {
            Err(io::Error::other(format!(
                "PG_BIN={} holds no initdb",
                dir.display()
            )))
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

/// Removes the data directories of clusters whose process no longer exists.
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A server to run tests against: `DATABASE_URL`, or a throw-away cluster.
pub struct Server {
    admin: postgres::Config,
    cluster: Option<Cluster>,
    next_db: AtomicU32,
}

/// The process-wide server: `DATABASE_URL` when set, otherwise one throw-away
/// cluster per process, started on first use.
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

    /// Connection settings of the server's administrative connection.
    pub fn admin_config(&self) -> &postgres::Config {
        &self.admin
    }

    /// Connects with the administrative settings.
    pub fn connect_admin(&self) -> postgres::Client {
        self.admin
            .connect(postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to the test server: {e}"))
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
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
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
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name))
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
/// PostgreSQL's default (durable) settings, which lives as long as the process.
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
