//! Stopping a cluster's server and removing its directory, however the
//! process that started it ends (see the crate documentation for the list).

use std::fs;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError, TryLockError, Weak};
use std::time::{Duration, Instant};

/// The environment variable that passes [`WATCHER_SCRIPT`] to `/bin/sh`.
const WATCHER_VAR: &str = "PG_BULK_INGEST_TESTKIT_WATCHER";

/// The watcher, run by `/bin/sh` with the cluster directory as `$1`.
///
/// Its standard input is a pipe whose write end only the process that started
/// the cluster holds (Rust opens pipes close-on-exec, so neither the server
/// nor any other program that process runs inherits it). That process writes
/// `pid N` lines (the postmaster) to it; end of file means that the process
/// has ended, or has dropped the cluster. The watcher then sends SIGQUIT
/// (immediate shutdown) to every recorded postmaster, and to the one named in
/// `postmaster.pid`, that is still running on this cluster's data directory
/// (its working directory: a process that has exited, a zombie or a pid
/// reused by another program does not match), waits for them to end (SIGKILL
/// after 10 s), and removes the directory (retrying for up to 5 s while
/// straggling backends still write into it).
const WATCHER_SCRIPT: &str = r#"
PATH=$PATH:/usr/bin:/bin
dir=$1
pids=
while IFS= read -r line; do
    case $line in
        "pid "*) pids="$pids ${line#pid }" ;;
    esac
done
if [ -f "$dir/data/postmaster.pid" ]; then
    IFS= read -r p < "$dir/data/postmaster.pid" && pids="$pids $p"
fi
running() {
    case $1 in
        ''|*[!0-9]*) return 1 ;;
    esac
    [ "/proc/$1/cwd" -ef "$dir/data" ]
}
signal() {
    for p in $pids; do
        if running "$p"; then kill -s "$1" "$p" 2>/dev/null; fi
    done
}
any_running() {
    for p in $pids; do
        if running "$p"; then return 0; fi
    done
    return 1
}
signal QUIT
n=0
while any_running; do
    n=$((n + 1))
    if [ "$n" -eq 100 ]; then signal KILL; fi
    if [ "$n" -gt 150 ]; then break; fi
    sleep 0.1
done
n=0
while [ -e "$dir" ] || [ -L "$dir" ]; do
    rm -rf -- "$dir" 2>/dev/null
    n=$((n + 1))
    if [ "$n" -gt 50 ]; then exit 1; fi
    if [ -e "$dir" ]; then sleep 0.1; fi
done
"#;

/// The cleanup of one cluster: its directory, its server once started, and
/// the watcher that does the same work when this process is gone.
pub(crate) struct Cleanup {
    dir: PathBuf,
    state: Mutex<State>,
}

struct State {
    server: Option<Child>,
    watcher: Option<Watcher>,
    dir_removed: bool,
}

struct Watcher {
    child: Child,
    /// Kept open for as long as the cluster lives; closing it (or this
    /// process ending) sets the watcher off.
    pipe: Option<ChildStdin>,
}

impl Cleanup {
    /// Starts the watcher of the (already created) cluster directory `dir` and
    /// registers the cleanup for the end of the process.
    pub(crate) fn start(dir: PathBuf) -> io::Result<Arc<Cleanup>> {
        let mut command = Command::new("/bin/sh");
        // The script is passed in the environment, to keep `ps` readable.
        command
            .arg("-c")
            .arg(format!("eval \"${WATCHER_VAR}\""))
            .arg("pg-bulk-ingest-cluster-watcher")
            .arg(&dir)
            .env(WATCHER_VAR, WATCHER_SCRIPT)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                // A session of its own: a Ctrl-C (or hangup) aimed at the
                // terminal's foreground process group does not reach it.
                if libc::setsid() < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        inherit_no_stray_fds(&mut command);
        let mut child = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("start the cluster's cleanup watcher (/bin/sh): {e}"),
            )
        })?;
        let pipe = child.stdin.take();
        let cleanup = Arc::new(Cleanup {
            dir,
            state: Mutex::new(State {
                server: None,
                watcher: Some(Watcher { child, pipe }),
                dir_removed: false,
            }),
        });
        register(&cleanup);
        Ok(cleanup)
    }

    /// Hands the started server over: it is stopped by [`Cleanup::run`], and
    /// the watcher learns its pid.
    pub(crate) fn set_server(&self, server: Child) -> io::Result<()> {
        let pid = server.id();
        let mut state = lock(&self.state);
        state.server = Some(server);
        let pipe = state.watcher.as_mut().and_then(|w| w.pipe.as_mut());
        match pipe {
            Some(pipe) => pipe
                .write_all(format!("pid {pid}\n").as_bytes())
                .map_err(|e| io::Error::other(format!("tell the cleanup watcher the pid: {e}"))),
            None => Ok(()),
        }
    }

    /// `Some(status)` when the server has exited.
    pub(crate) fn server_exited(&self) -> io::Result<Option<std::process::ExitStatus>> {
        match lock(&self.state).server.as_mut() {
            Some(server) => server.try_wait(),
            None => Ok(None),
        }
    }

    /// Stops the server (immediate shutdown: the data is thrown away), waits
    /// for it, removes the directory and lets the watcher go. Idempotent.
    pub(crate) fn run(&self) {
        self.run_locked(lock(&self.state));
    }

    fn run_locked(&self, mut state: MutexGuard<'_, State>) {
        if let Some(mut server) = state.server.take() {
            stop(&mut server);
        }
        if !state.dir_removed {
            remove_dir(&self.dir);
            state.dir_removed = true;
        }
        if let Some(mut watcher) = state.watcher.take() {
            // End of file: the watcher finds nothing left to do and exits.
            drop(watcher.pipe.take());
            wait_for(&mut watcher.child, Duration::from_secs(5));
        }
    }
}

/// Marks every descriptor above standard error close-on-exec in the child, so
/// that it inherits none that code of this process opened without that flag
/// (Rust's own are close-on-exec already). Linux 5.11 and later; older
/// kernels let the child inherit them.
pub(crate) fn inherit_no_stray_fds(command: &mut Command) {
    // SAFETY: a raw system call, async-signal-safe, touching no memory.
    unsafe {
        command.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// SIGQUIT, then SIGKILL after 10 s; waits for the process.
fn stop(server: &mut Child) {
    signal(server.id(), libc::SIGQUIT);
    if !wait_for(server, Duration::from_secs(10)) {
        let _ = server.kill();
        let _ = server.wait();
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory effects.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Whether `child` exited (and was reaped) within `limit`.
fn wait_for(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() >= deadline => return false,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Removes `dir`, retrying briefly in case a straggler still writes into it.
fn remove_dir(dir: &Path) {
    for _ in 0..20 {
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => return,
        }
    }
}

/// The cleanups of clusters that have not been dropped (a cluster in a
/// `static`, like [`crate::server()`]'s, is never dropped).
static LIVE: Mutex<Vec<Weak<Cleanup>>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();
static PROCESS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn register(cleanup: &Arc<Cleanup>) {
    AT_EXIT.call_once(|| {
        PROCESS.store(std::process::id(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: registers a function that neither unwinds nor touches
        // thread-local storage (the main thread's is gone when it runs).
        unsafe {
            libc::atexit(at_exit);
        }
    });
    let mut live = lock(&LIVE);
    live.retain(|c| c.strong_count() > 0);
    live.push(Arc::downgrade(cleanup));
}

/// Runs at `exit()` (returning from `main`, `std::process::exit`, the test
/// harness ending, a panic that unwinds out of `main`): the clusters still
/// alive are cleaned up before the process is gone. Nothing here blocks on a
/// lock another thread might hold: what it cannot take is left to the
/// watcher.
extern "C" fn at_exit() {
    // A child forked without exec runs its copy of this at its exit: the
    // clusters are not its to stop.
    if std::process::id() != PROCESS.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let live = match LIVE.try_lock() {
        Ok(live) => live,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    for cleanup in live.iter().filter_map(Weak::upgrade) {
        match cleanup.state.try_lock() {
            Ok(state) => cleanup.run_locked(state),
            Err(TryLockError::Poisoned(p)) => cleanup.run_locked(p.into_inner()),
            Err(TryLockError::WouldBlock) => {}
        }
    }
}

/// Removes the directories `<temp>/<prefix><pid>-<n>` of clusters whose
/// process no longer exists, after stopping a server still running on one.
pub(crate) fn remove_stale_dirs(prefix: &str) {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            stop_stale_server(&entry.path().join("data"));
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Stops the postmaster of `postmaster.pid` in `data` if it still runs there.
fn stop_stale_server(data: &Path) {
    let Some(pid) = fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next()?.trim().parse::<u32>().ok())
    else {
        return;
    };
    let runs_there = || {
        let cwd = fs::metadata(format!("/proc/{pid}/cwd"));
        let data = fs::metadata(data);
        use std::os::unix::fs::MetadataExt;
        matches!((cwd, data), (Ok(a), Ok(b)) if a.dev() == b.dev() && a.ino() == b.ino())
    };
    if !runs_there() {
        return;
    }
    signal(pid, libc::SIGQUIT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while runs_there() {
        if Instant::now() > deadline {
            signal(pid, libc::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
