//! A throw-away cluster leaves neither a process nor its directory behind,
//! however the process that started it ends.
//!
//! Each test runs this test binary again as a child process (with
//! [`CHILD`] set, `child_process` as the only test) that starts a cluster,
//! prints its directory and postmaster pid, and then ends in the way under
//! test; the test then checks that the directory is gone and that no process
//! is left that works in it or names it (the postmaster, its backends, the
//! watcher). A process that has exited but is not reaped (a zombie: orphans
//! are reparented to PID 1, which in some containers reaps nothing) counts as
//! gone.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pg_bulk_ingest_testkit::{describe, pg_bin_dir, server, Cluster, Durability};

/// Set in the child processes: how the child is to end.
const CHILD: &str = "PG_BULK_INGEST_TESTKIT_CLEANUP_CHILD";
/// Starts the lines the child reports on.
const MARK: &str = "pg-bulk-ingest-testkit-child:";

/// Not a test of its own: the body of the child processes the tests below
/// start. Without [`CHILD`] (a plain `cargo test`) it returns at once.
#[test]
fn child_process() {
    let Ok(how) = std::env::var(CHILD) else {
        return;
    };
    if how == "start-error" {
        match Cluster::start(Durability::Tests) {
            Ok(cluster) => panic!("a cluster started in {}", cluster.dir().display()),
            Err(e) => println!("{MARK} error={e}"),
        }
        return;
    }
    let cluster = server()
        .cluster()
        .expect("a throw-away cluster (the parent removes DATABASE_URL)");
    println!("{MARK} dir={}", cluster.dir().display());
    println!("{MARK} pid={}", cluster.pid());
    std::io::stdout().flush().unwrap();
    match how.as_str() {
        "exit" => {}
        "panic" => panic!("the child panics, as asked"),
        "abort" => std::process::abort(),
        // Until the parent's signal.
        "wait" => std::thread::sleep(Duration::from_secs(120)),
        other => panic!("{CHILD}={other}?"),
    }
}

/// What a child reported, and how it ended.
struct Child {
    dir: PathBuf,
    pid: u32,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// A `TMPDIR` of one test's own, readable by the `postgres` user, removed when
/// dropped. With a shared one, another cluster starting meanwhile would
/// remove the test's cluster directory as stale, hiding a failure to clean up.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        // Short: the server's socket path must fit in 107 bytes.
        let dir = std::env::temp_dir()
            .canonicalize()
            .unwrap()
            .join(format!("pbi-tk-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(dir)
    }

    /// What is in it.
    fn entries(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the child with `CHILD=how`, `TMPDIR=tmp` and extra `env`, in a process
/// group of its own (like a job in a terminal); once it has reported its
/// cluster (when `wants_cluster`), sends `signal` to that whole group, as
/// Ctrl-C does to the foreground job; waits for it.
fn run_child(
    how: &str,
    tmp: &TempDir,
    env: &[(&str, &Path)],
    wants_cluster: bool,
    signal: Option<i32>,
) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, how)
        .env("TMPDIR", &tmp.0)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for (key, value) in env {
        command.env(key, value);
    }
    // SAFETY: prctl is async-signal-safe. A child still sleeping when this
    // test's thread ends (a failed assertion) is killed.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = lines_tx.send(line);
        }
        all
    });

    let (mut dir, mut pid) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while wants_cluster && (dir.is_none() || pid.is_none()) {
        let line = match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the child reported no cluster:\n{}\n{}",
                    stdout.join().unwrap(),
                    stderr.join().unwrap()
                );
            }
        };
        let Some(report) = line.find(MARK).map(|at| &line[at + MARK.len()..]) else {
            continue;
        };
        if let Some(value) = report.trim().strip_prefix("dir=") {
            dir = Some(PathBuf::from(value));
        } else if let Some(value) = report.trim().strip_prefix("pid=") {
            pid = Some(value.parse().unwrap());
        }
    }
    if let Some(signal) = signal {
        // SAFETY: kill has no memory effects; the child leads its group.
        assert_eq!(unsafe { libc::kill(-(child.id() as i32), signal) }, 0);
    }
    let status = child.wait().unwrap();
    Child {
        dir: dir.unwrap_or_default(),
        pid: pid.unwrap_or(0),
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// What is left of the cluster in `dir` run by postmaster `pid`: the directory,
/// the postmaster, and any running process that works in the directory or
/// names it on its command line (backends, the watcher). Zombies do not count.
fn leftovers(dir: &Path, pid: u32) -> Vec<String> {
    let mut left = Vec::new();
    if fs::symlink_metadata(dir).is_ok() {
        left.push(format!("directory {}", dir.display()));
    }
    if running(pid) {
        left.push(format!("postmaster {pid}"));
    }
    let needle = dir.to_string_lossy().into_owned();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(other) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if other == pid || other == std::process::id() || !running(other) {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let in_dir = fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
        if in_dir || cmdline.contains(&needle) {
            left.push(format!("process {other}: {cmdline}"));
        }
    }
    left
}

/// Whether process `pid` exists and has not exited (is not a zombie).
fn running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => !matches!(
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next()),
            Some('Z' | 'X') | None
        ),
        Err(_) => false,
    }
}

/// Polls [`leftovers`] until there are none and `tmp` is empty, for at most
/// 30 s.
fn assert_cleaned_up(child: &Child, tmp: &TempDir) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut left = leftovers(&child.dir, child.pid);
        left.extend(tmp.entries().iter().map(|e| e.display().to_string()));
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "30 s after the child ended ({}), left behind: {left:#?}\nchild stderr:\n{}",
                child.status, child.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Nothing is left the moment the child has exited.
fn assert_cleaned_up_at_once(child: &Child, tmp: &TempDir) {
    assert_eq!(leftovers(&child.dir, child.pid), Vec::<String>::new());
    assert_eq!(tmp.entries(), Vec::<PathBuf>::new());
}

fn assert_reported(child: &Child, tmp: &TempDir) {
    let name = child.dir.file_name().unwrap_or_default().to_string_lossy();
    assert!(
        child.dir.parent() == Some(&*tmp.0) && name.starts_with("pg-bulk-ingest-cluster-"),
        "{}",
        child.dir.display()
    );
    assert!(child.pid > 0);
}

#[test]
fn a_killed_process_leaves_nothing_behind() {
    let tmp = TempDir::new("kill");
    let child = run_child("wait", &tmp, &[], true, Some(libc::SIGKILL));
    assert_eq!(
        child.status.signal(),
        Some(libc::SIGKILL),
        "{}",
        child.stderr
    );
    assert_reported(&child, &tmp);
    assert_cleaned_up(&child, &tmp);
}

#[test]
fn ctrl_c_leaves_nothing_behind() {
    let tmp = TempDir::new("int");
    let child = run_child("wait", &tmp, &[], true, Some(libc::SIGINT));
    assert_eq!(
        child.status.signal(),
        Some(libc::SIGINT),
        "{}",
        child.stderr
    );
    assert_reported(&child, &tmp);
    assert_cleaned_up(&child, &tmp);
}

#[test]
fn an_aborting_process_leaves_nothing_behind() {
    let tmp = TempDir::new("abort");
    let child = run_child("abort", &tmp, &[], true, None);
    assert_eq!(
        child.status.signal(),
        Some(libc::SIGABRT),
        "{}",
        child.stderr
    );
    assert_reported(&child, &tmp);
    assert_cleaned_up(&child, &tmp);
}

/// A normal exit cleans up before the process is gone.
#[test]
fn a_normal_exit_leaves_nothing_behind_at_once() {
    let tmp = TempDir::new("exit");
    let child = run_child("exit", &tmp, &[], true, None);
    assert!(child.status.success(), "{}\n{}", child.status, child.stderr);
    assert_reported(&child, &tmp);
    assert_cleaned_up_at_once(&child, &tmp);
}

/// A panicking test fails the test binary, which then exits normally.
#[test]
fn a_panic_leaves_nothing_behind_at_once() {
    let tmp = TempDir::new("panic");
    let child = run_child("panic", &tmp, &[], true, None);
    assert_eq!(child.status.code(), Some(101), "{}", child.stderr);
    assert!(
        child.stderr.contains("the child panics, as asked"),
        "{}",
        child.stderr
    );
    assert_reported(&child, &tmp);
    assert_cleaned_up_at_once(&child, &tmp);
}

#[test]
fn dropping_a_cluster_removes_it_at_once() {
    let cluster = Cluster::start(Durability::Tests).unwrap();
    let (dir, pid) = (cluster.dir().to_owned(), cluster.pid());
    assert!(dir.join("data/postmaster.pid").is_file());
    assert!(running(pid));
    drop(cluster);
    assert_eq!(leftovers(&dir, pid), Vec::<String>::new());
}

/// Neither the server nor the watcher inherits a descriptor this process
/// opened without close-on-exec (one end of such a pipe in the server would
/// keep a reader of it from ever seeing end of file).
#[test]
fn stray_descriptors_are_not_inherited() {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let stray = fs::read_link(format!("/proc/self/fd/{}", fds[1])).unwrap();
    let cluster = Cluster::start(Durability::Tests).unwrap();
    let watcher = fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find(|e| {
            fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("pg-bulk-ingest-cluster-watcher")
                    && c.contains(&*cluster.dir().to_string_lossy())
            })
        })
        .expect("the cluster's watcher")
        .file_name();
    for pid in [
        cluster.pid().to_string(),
        watcher.to_string_lossy().into_owned(),
    ] {
        for fd in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
            let target = fs::read_link(fd.path()).unwrap_or_default();
            assert_ne!(target, stray, "process {pid} holds {}", fd.path().display());
        }
    }
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
}

/// Server binaries the server user may not reach give an error that names
/// the directory to blame and says what to do, and nothing is started.
///
/// As root the server user is `postgres`, and the binaries are behind a
/// root-owned directory of mode 0700, which root itself may enter. As any
/// other user the server runs as that user, so the directory is made mode
/// 0000 instead: the same message is expected either way, but for the mode
/// shown and the advice on where root should put the binaries.
#[test]
fn binaries_the_server_user_may_not_reach_are_named() {
    let real_bin = pg_bin_dir().unwrap();
    let tmp = TempDir::new("locked");
    let locked = tmp.0.join("locked");
    fs::create_dir(&locked).unwrap();
    std::os::unix::fs::symlink(&real_bin, locked.join("bin")).unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    let mode = if root { 0o700 } else { 0o000 };
    fs::set_permissions(&locked, fs::Permissions::from_mode(mode)).unwrap();

    let child = run_child(
        "start-error",
        &tmp,
        &[("PG_BIN", &locked.join("bin"))],
        false,
        None,
    );

    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    fs::remove_dir_all(&locked).unwrap();
    assert!(child.status.success(), "{}\n{}", child.status, child.stderr);
    let error = child
        .stdout
        .split_once(&format!("{MARK} error="))
        .map(|(_, e)| e)
        .unwrap_or_else(|| panic!("no error reported:\n{}\n{}", child.stdout, child.stderr));
    let shown_mode = if root { "drwx------" } else { "d---------" };
    for expected in [
        &*format!(
            "may not search (enter) the directory {} (mode {shown_mode}",
            locked.display()
        ),
        "PG_BIN",
        "DATABASE_URL",
    ] {
        assert!(error.contains(expected), "{expected:?} not in:\n{error}");
    }
    if root {
        for expected in [
            "`postgres`",
            "/var/cache/pg-bulk-ingest",
            ".ci/postgres-bin",
        ] {
            assert!(error.contains(expected), "{expected:?} not in:\n{error}");
        }
    }
    // Nothing was started: no cluster directory.
    assert_eq!(tmp.entries(), Vec::<PathBuf>::new());
}

/// A `TMPDIR` the server user may not enter gives an error that names it.
/// As root, the directory (root's, mode 0700) is checked for the `postgres`
/// user; as any other user (directory mode 0000) creating the cluster
/// directory in it fails, and the error names it too.
#[test]
fn a_temp_dir_the_server_user_may_not_enter_is_named() {
    let tmp = TempDir::new("tmpdir");
    let locked = tmp.0.join("locked");
    fs::create_dir(&locked).unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    let mode = if root { 0o700 } else { 0o000 };
    fs::set_permissions(&locked, fs::Permissions::from_mode(mode)).unwrap();

    let child = run_child("start-error", &tmp, &[("TMPDIR", &locked)], false, None);

    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    let left: Vec<_> = fs::read_dir(&locked).unwrap().flatten().collect();
    assert!(child.status.success(), "{}\n{}", child.status, child.stderr);
    let error = child
        .stdout
        .split_once(&format!("{MARK} error="))
        .map(|(_, e)| e)
        .unwrap_or_else(|| panic!("no error reported:\n{}\n{}", child.stdout, child.stderr));
    let expected = if root {
        format!(
            "may not search (enter) the directory {} (mode drwx------",
            locked.display()
        )
    } else {
        format!("create the cluster directory {}/", locked.display())
    };
    assert!(error.contains(&expected), "{expected:?} not in:\n{error}");
    assert!(error.contains("TMPDIR"), "{error}");
    // The cluster directory is gone again.
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn describe_shows_what_the_server_said() {
    let db = server().create_database("describe");
    let mut client = db.connect();
    let err = client
        .batch_execute(&format!("CREATE DATABASE \"{}\"", db.name()))
        .unwrap_err();
    assert_eq!(err.to_string(), "db error");
    assert_eq!(
        describe(&err),
        format!(
            "ERROR: database \"{}\" already exists (SQLSTATE 42P04)",
            db.name()
        )
    );

    client
        .batch_execute("CREATE TABLE t (a int); CREATE VIEW v AS SELECT a FROM t")
        .unwrap();
    let err = client.batch_execute("DROP TABLE t").unwrap_err();
    let text = describe(&err);
    assert!(
        text.starts_with(
            "ERROR: cannot drop table t because other objects depend on it (SQLSTATE 2BP01)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\nDETAIL: view v depends on table t"),
        "{text}"
    );
    assert!(text.contains("\nHINT: Use DROP ... CASCADE"), "{text}");
}

#[test]
fn describe_follows_the_causes_of_other_errors() {
    let Err(err) = postgres::Config::new()
        .host_path("/nonexistent-pg-bulk-ingest-socket-dir")
        .user("postgres")
        .connect(postgres::NoTls)
    else {
        panic!("connected to a server in a directory that does not exist");
    };
    let text = describe(&err);
    assert!(text.starts_with("error connecting to server: "), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
}
