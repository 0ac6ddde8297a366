//! Records the commit nova is built from, for `nova --version`: `NOVA_BUILD_COMMIT` when
//! set (a build from a source archive can pass it), else what `git` says about the
//! checkout (the short hash, `-dirty` when tracked files differ), else `unknown` (no git,
//! or not a git checkout: the build never fails for it).

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
    // An edit of the sources makes the build "-dirty" (cargo scans these recursively).
    for path in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={path}");
    }
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
    let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = Command::new("git")
        .args(["diff", "--quiet", "HEAD", "--"])
        .status()
        .map(|s| s.code() == Some(1))
        .unwrap_or(false);
    Some(if dirty { format!("{hash}-dirty") } else { hash })
}

/// The files that change when HEAD moves: HEAD itself, the branch it points at, and the
/// packed refs (worktrees keep HEAD apart from the shared refs; `--git-path` knows where).
fn git_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut add = |name: &str| {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            paths.push(PathBuf::from(path));
        }
    };
    add("HEAD");
    add("packed-refs");
    add("index");
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        add(&branch);
    }
    paths
}
