//! Records the commit nova is built from, for `nova --version`: `NOVA_BUILD_COMMIT` when
//! set (a build from a source archive can pass it), else the short hash of the checkout's
//! HEAD (`git rev-parse`), else `unknown` (no git, or not a git checkout: the build never
//! fails for it). The script runs again only when HEAD moves (no "-dirty" marker: finding
//! out would mean watching every file, and `git diff` rewrites the index, which would make
//! every build run it again).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=NOVA_BUILD_COMMIT");
    let commit = std::env::var("NOVA_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=NOVA_BUILD_COMMIT={}", commit.trim());
    for path in git_paths() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
}

/// The files that change when HEAD moves: HEAD itself, the branch it points at, and the
/// packed refs (worktrees keep HEAD apart from the shared refs; `--git-path` knows where).
fn git_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    // A path that does not exist would make cargo run the script on every build.
    let mut add = |name: &str| {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            let path = PathBuf::from(path);
            if path.exists() {
                paths.push(path);
            }
        }
    };
    add("HEAD");
    add("packed-refs");
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        add(&branch);
    }
    paths
}
