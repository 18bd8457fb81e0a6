//! Whether a user may reach and run a file, worked out from the mode bits and
//! owners of every directory on the way (following symbolic links the way the
//! kernel does), so that a `Permission denied` can name the directory or file
//! to blame.
//!
//! Only the classic Unix permission bits are considered: ACLs, mount options
//! (`noexec`) and security modules are not, so a `None` from [`first_denied`]
//! does not promise that running the file will work.

use std::collections::VecDeque;
use std::ffi::{CStr, CString, OsString};
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// The credentials a path is checked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The user's name, for messages.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups of the process that will run the file.
    pub groups: Vec<u32>,
}

impl Identity {
    /// The credentials of this process.
    pub fn current() -> Identity {
        // SAFETY: plain system calls; getgroups writes at most `len` entries.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let mut groups = vec![0 as libc::gid_t; 256];
        let n = unsafe { libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr()) };
        groups.truncate(n.max(0) as usize);
        Identity {
            name: user_name(uid).unwrap_or_else(|| format!("uid {uid}")),
            uid,
            gid,
            groups,
        }
    }
}

/// What the user lacks on [`Denied::path`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Search (`x`) permission on a directory, to look up a name in it.
    Search,
    /// Read and execute (`r-x`) permission on the file itself.
    ReadExecute,
}

/// The first directory or file on the way to a file that a user may not use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Denied {
    /// The directory the user may not search, or the file it may not read and
    /// execute (symbolic links resolved: the real directory or file).
    pub path: PathBuf,
    pub need: Need,
    pub mode: u32,
    pub owner: u32,
    pub group: u32,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.need {
            Need::Search => "search (enter) the directory",
            Need::ReadExecute => "read and execute",
        };
        write!(
            f,
            "may not {what} {} (mode {}, owner {}, group {})",
            self.path.display(),
            mode_string(self.mode),
            user_name(self.owner).unwrap_or_else(|| self.owner.to_string()),
            group_name(self.group).unwrap_or_else(|| self.group.to_string()),
        )
    }
}

/// The first directory on the way to `file` that the user `uid` (primary group
/// `gid`, supplementary `groups`) may not search, or `file` itself when the
/// user may not read and execute it; `None` when the mode bits allow it all,
/// or when the way cannot be followed (a missing name: the caller's error
/// says so better).
///
/// A relative `file` is taken from the current directory. Symbolic links are
/// followed as the kernel follows them: the link's own directory must be
/// searchable, then the way to its target is checked in turn.
pub(crate) fn first_denied(file: &Path, uid: u32, gid: u32, groups: &[u32]) -> Option<Denied> {
    let file = std::path::absolute(file).ok()?;
    let mut todo: VecDeque<Part> = parts(&file).collect();
    let mut at = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        let name = match part {
            Part::Root => {
                at = PathBuf::from("/");
                continue;
            }
            Part::Parent => None,
            Part::Name(name) => Some(name),
        };
        // Looking a name (`..` included) up in a directory needs search
        // permission on the directory.
        let dir = fs::metadata(&at).ok()?;
        if !allows(&dir, uid, gid, groups, X) {
            return Some(denied(at, Need::Search, &dir));
        }
        let Some(name) = name else {
            at.pop();
            continue;
        };
        let next = at.join(&name);
        let meta = fs::symlink_metadata(&next).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = fs::read_link(&next).ok()?;
            // A relative target is looked up from the link's directory (`at`);
            // an absolute one starts with `Part::Root`.
            for part in parts(&target).collect::<Vec<_>>().into_iter().rev() {
                todo.push_front(part);
            }
        } else {
            at = next;
        }
    }
    let meta = fs::metadata(&at).ok()?;
    if !allows(&meta, uid, gid, groups, R | X) {
        return Some(denied(at, Need::ReadExecute, &meta));
    }
    None
}

const R: u32 = 4;
const X: u32 = 1;

enum Part {
    Root,
    Parent,
    Name(OsString),
}

fn parts(path: &Path) -> impl Iterator<Item = Part> + '_ {
    path.components().filter_map(|c| match c {
        Component::RootDir | Component::Prefix(_) => Some(Part::Root),
        Component::CurDir => None,
        Component::ParentDir => Some(Part::Parent),
        Component::Normal(name) => Some(Part::Name(name.to_owned())),
    })
}

fn denied(path: PathBuf, need: Need, meta: &fs::Metadata) -> Denied {
    Denied {
        path,
        need,
        mode: meta.mode(),
        owner: meta.uid(),
        group: meta.gid(),
    }
}

/// Whether the permission bits of `meta` grant `want` (a mask of `R`, `X`).
fn allows(meta: &fs::Metadata, uid: u32, gid: u32, groups: &[u32], want: u32) -> bool {
    let mode = meta.mode();
    if uid == 0 {
        // Root may do anything but execute a file no one may execute.
        return want & X == 0 || meta.is_dir() || mode & 0o111 != 0;
    }
    // Exactly one class applies: the owner's bits for the owner even when the
    // group or others have more.
    let bits = if meta.uid() == uid {
        mode >> 6
    } else if meta.gid() == gid || groups.contains(&meta.gid()) {
        mode >> 3
    } else {
        mode
    };
    bits & want == want
}

/// `ls -l` style: `drwx------`.
fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        _ => '-',
    };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// The user database's name of `uid`.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: getpwuid_r writes into `pw` and `buf` (of the given length) only.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    Some(
        unsafe { CStr::from_ptr(pw.pw_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// The group database's name of `gid`.
fn group_name(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: getgrgid_r writes into `gr` and `buf` (of the given length) only.
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut out = std::ptr::null_mut();
    let rc = unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    Some(
        unsafe { CStr::from_ptr(gr.gr_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// The user database's entry of `name`: `(uid, primary gid)`.
pub(crate) fn user_by_name(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: getpwnam_r writes into `pw` and `buf` (of the given length) only.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out = std::ptr::null_mut();
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    if rc != 0 || out.is_null() {
        return None;
    }
    Some((pw.pw_uid, pw.pw_gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// A scratch directory tree, removed at the end (modes restored first so
    /// that a non-root user can remove it).
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Tree {
            let root = std::env::temp_dir().join(format!(
                "pg-bulk-ingest-testkit-access-{}-{name}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(&root).unwrap();
            fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
            Tree(root)
        }

        fn dir(&self, rel: &str, mode: u32) -> PathBuf {
            let path = self.0.join(rel);
            fs::create_dir_all(&path).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            path
        }

        fn file(&self, rel: &str, mode: u32) -> PathBuf {
            let path = self.0.join(rel);
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            path
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::process::Command::new("chmod")
                .args(["-R", "u+rwx"])
                .arg(&self.0)
                .status();
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The owner of the tree (this process) and another user and group, who
    /// get the "others" bits.
    fn me() -> (u32, u32) {
        unsafe { (libc::geteuid(), libc::getegid()) }
    }
    const STRANGER: u32 = 0x7fff_fff0;
    const STRANGE_GROUP: u32 = 0x7fff_fff1;

    #[test]
    fn a_private_directory_on_the_way_is_named() {
        let t = Tree::new("private");
        let locked = t.dir("locked", 0o700);
        t.dir("locked/bin", 0o755);
        let initdb = t.file("locked/bin/initdb", 0o755);

        let denied = first_denied(&initdb, STRANGER, STRANGE_GROUP, &[]).unwrap();
        assert_eq!(denied.path, locked);
        assert_eq!(denied.need, Need::Search);
        assert_eq!(denied.mode & 0o7777, 0o700);
        let text = denied.to_string();
        assert!(text.contains(&*locked.to_string_lossy()), "{text}");
        assert!(text.contains("drwx------"), "{text}");

        // The owner passes.
        let (uid, gid) = me();
        assert_eq!(first_denied(&initdb, uid, gid, &[]), None);
    }

    #[test]
    fn group_bits_apply_to_the_primary_and_supplementary_groups() {
        let t = Tree::new("group");
        t.dir("shared", 0o750);
        t.dir("shared/bin", 0o755);
        let initdb = t.file("shared/bin/initdb", 0o755);
        let (_, gid) = me();
        assert_eq!(first_denied(&initdb, STRANGER, gid, &[]), None);
        assert_eq!(first_denied(&initdb, STRANGER, STRANGE_GROUP, &[gid]), None);
        assert_eq!(
            first_denied(&initdb, STRANGER, STRANGE_GROUP, &[]).map(|d| d.path),
            Some(t.0.join("shared"))
        );
    }

    #[test]
    fn the_owner_gets_the_owner_bits_only() {
        let t = Tree::new("owner");
        let odd = t.dir("odd", 0o755);
        let initdb = t.file("odd/initdb", 0o755);
        // Group and others may enter, the owner may not.
        fs::set_permissions(&odd, fs::Permissions::from_mode(0o055)).unwrap();
        let (uid, gid) = me();
        if uid != 0 {
            assert_eq!(
                first_denied(&initdb, uid, gid, &[]).map(|d| d.path),
                Some(odd)
            );
        }
        assert_eq!(first_denied(&initdb, STRANGER, gid, &[]), None);
    }

    #[test]
    fn the_file_itself_must_be_readable_and_executable() {
        let t = Tree::new("file");
        t.dir("bin", 0o755);
        let exec_only = t.file("bin/initdb", 0o711);
        let denied = first_denied(&exec_only, STRANGER, STRANGE_GROUP, &[]).unwrap();
        assert_eq!(
            (denied.path, denied.need),
            (exec_only.clone(), Need::ReadExecute)
        );
        let plain = t.file("bin/postgres", 0o644);
        assert_eq!(
            first_denied(&plain, STRANGER, STRANGE_GROUP, &[]).map(|d| d.path),
            Some(plain.clone())
        );
        // Root may read anything but needs an `x` bit somewhere to execute.
        assert!(first_denied(&plain, 0, 0, &[]).is_some());
        assert_eq!(first_denied(&exec_only, 0, 0, &[]), None);
    }

    #[test]
    fn symbolic_links_are_followed_like_the_kernel_does() {
        let t = Tree::new("links");
        let locked = t.dir("locked", 0o700);
        t.dir("locked/bin", 0o755);
        t.file("locked/bin/initdb", 0o755);
        t.dir("open", 0o755);
        t.dir("open/bin", 0o755);
        t.file("open/bin/initdb", 0o755);

        // An open link to a private target: the target's way is blamed.
        symlink(locked.join("bin"), t.0.join("open/to-locked")).unwrap();
        assert_eq!(
            first_denied(
                &t.0.join("open/to-locked/initdb"),
                STRANGER,
                STRANGE_GROUP,
                &[]
            )
            .map(|d| d.path),
            Some(locked.clone())
        );
        // A link inside a private directory to an open target: the link's own
        // directory must be searched to read the link.
        symlink("../open/bin", locked.join("to-open")).unwrap();
        assert_eq!(
            first_denied(
                &t.0.join("locked/to-open/initdb"),
                STRANGER,
                STRANGE_GROUP,
                &[]
            )
            .map(|d| d.path),
            Some(locked.clone())
        );
        // A relative link with `..` through open directories is fine.
        symlink("../open/bin", t.0.join("open/rel")).unwrap();
        assert_eq!(
            first_denied(&t.0.join("open/rel/initdb"), STRANGER, STRANGE_GROUP, &[]),
            None
        );
        // A link loop gives up rather than spinning.
        symlink("loop", t.0.join("open/loop")).unwrap();
        assert_eq!(
            first_denied(&t.0.join("open/loop/x"), STRANGER, STRANGE_GROUP, &[]),
            None
        );
    }

    #[test]
    fn a_missing_name_is_not_a_permission_problem() {
        let t = Tree::new("missing");
        assert_eq!(
            first_denied(&t.0.join("nothing/initdb"), STRANGER, STRANGE_GROUP, &[]),
            None
        );
    }

    #[test]
    fn mode_strings_read_like_ls() {
        assert_eq!(mode_string(libc::S_IFDIR | 0o700), "drwx------");
        assert_eq!(mode_string(libc::S_IFREG | 0o755), "-rwxr-xr-x");
    }
}
