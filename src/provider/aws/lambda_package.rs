//! The deployment package of a Lambda function: its source directory zipped in memory,
//! deterministically, so the same source always gives the same SHA-256.
//!
//! The source is a directory ([`package_source`]) or a bundle of files built into nova
//! ([`package_bundle`], `crate::assets`); both give the same zip for the same files. The
//! engine packages the health-check bundle at plan time to compute `code_sha256`; the
//! Lambda provider packages the source again at apply time and refuses to upload a zip
//! whose hash differs (the source changed between plan and apply).
//!
//! Determinism: files are sorted by their `/`-separated path inside the zip, every entry
//! gets the timestamp 1980-01-01 00:00:00 and permissions `0644`, no directory entries are
//! written, and caches (`__pycache__/`, `.mypy_cache/`, `.ruff_cache/`, `.pytest_cache/`,
//! `*.pyc`, `*.pyo`) are left out.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::assets::Bundle;
use crate::provider::ProviderError;

/// The input field the source directory comes from (named in errors).
const FIELD: &str = "source_dir";

/// Directory names never packaged.
const SKIPPED_DIRS: &[&str] = &["__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"];
/// File name endings never packaged.
const SKIPPED_SUFFIXES: &[&str] = &[".pyc", ".pyo"];

/// A zipped function package and the hex SHA-256 of the zip bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub zip: Vec<u8>,
    pub sha256_hex: String,
}

impl Package {
    /// The hash as Lambda reports it in `CodeSha256`: base64 of the raw digest.
    pub fn sha256_base64(&self) -> String {
        hex_to_base64(&self.sha256_hex).unwrap_or_default()
    }
}

/// Zips every file under `dir` (relative paths are resolved against the current directory,
/// which is the repository root when nova runs) and hashes the zip.
pub fn package_source(dir: &Path) -> Result<Package, ProviderError> {
    let root = absolute(dir)?;
    let meta = fs::metadata(&root).map_err(|e| io_error(&root, "cannot read", &e))?;
    if !meta.is_dir() {
        return Err(ProviderError::invalid(
            FIELD,
            format!("{} is not a directory", root.display()),
        ));
    }
    let mut files = Vec::new();
    collect_files(&root, "", &mut files)?;
    if files.is_empty() {
        return Err(ProviderError::invalid(
            FIELD,
            format!("{} holds no files to package", root.display()),
        ));
    }
    files.sort();
    let mut contents = Vec::new();
    for file in files {
        let path = root.join(&file);
        let bytes = fs::read(&path).map_err(|e| io_error(&path, "cannot read", &e))?;
        contents.push((file, bytes));
    }
    package_files(&root.display().to_string(), &contents)
}

/// Zips a bundle built into nova: the same zip as [`package_source`] of a directory that
/// holds exactly these files.
pub fn package_bundle(bundle: &Bundle) -> Result<Package, ProviderError> {
    let files: Vec<(String, Vec<u8>)> = bundle
        .files
        .iter()
        .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
        .collect();
    package_files(&format!("the built-in bundle `{}`", bundle.name), &files)
}

/// Zips `(zip path, contents)` pairs, in order of their paths; `what` names the source in
/// errors.
fn package_files(what: &str, files: &[(String, Vec<u8>)]) -> Result<Package, ProviderError> {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let zip = write_zip(what, &sorted)?;
    let sha256_hex = to_hex(&Sha256::digest(&zip));
    Ok(Package { zip, sha256_hex })
}

/// Converts a hex digest to the base64 form Lambda uses; `None` when it is not hex.
pub fn hex_to_base64(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn absolute(dir: &Path) -> Result<PathBuf, ProviderError> {
    if dir.is_absolute() {
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| {
        ProviderError::invalid(FIELD, format!("cannot read the current directory: {e}"))
    })?;
    Ok(cwd.join(dir))
}

fn io_error(path: &Path, what: &str, err: &std::io::Error) -> ProviderError {
    ProviderError::invalid(FIELD, format!("{what} {}: {err}", path.display()))
}

fn skipped(name: &str, is_dir: bool) -> bool {
    if is_dir {
        SKIPPED_DIRS.contains(&name)
    } else {
        SKIPPED_SUFFIXES.iter().any(|s| name.ends_with(s))
    }
}

/// Appends the zip paths (`a/b.py`) of the files under `dir` to `out`; `prefix` is the
/// zip path of `dir` itself (empty for the root).
fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), ProviderError> {
    let entries = fs::read_dir(dir).map_err(|e| io_error(dir, "cannot list", &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, "cannot list", &e))?;
        let path = entry.path();
        let name = entry.file_name().into_string().map_err(|raw| {
            ProviderError::invalid(
                FIELD,
                format!("file name {raw:?} in {} is not UTF-8", dir.display()),
            )
        })?;
        // Follows symlinks: a link is packaged as the file or directory it points to.
        let meta = fs::metadata(&path).map_err(|e| io_error(&path, "cannot read", &e))?;
        if skipped(&name, meta.is_dir()) {
            continue;
        }
        let zip_path = format!("{prefix}{name}");
        if meta.is_dir() {
            collect_files(&path, &format!("{zip_path}/"), out)?;
        } else if meta.is_file() {
            out.push(zip_path);
        }
    }
    Ok(())
}

fn write_zip(what: &str, files: &[&(String, Vec<u8>)]) -> Result<Vec<u8>, ProviderError> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let zip_error =
        |e: zip::result::ZipError| ProviderError::Other(format!("building the zip of {what}: {e}"));
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (file, bytes) in files {
        writer
            .start_file(file.as_str(), options)
            .map_err(zip_error)?;
        writer.write_all(bytes).map_err(|e| {
            ProviderError::invalid(FIELD, format!("cannot zip {file} of {what}: {e}"))
        })?;
    }
    let cursor = writer.finish().map_err(zip_error)?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_to_base64_matches_lambda_form() {
        // sha256("") in both forms.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            hex_to_base64(hex).as_deref(),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        assert_eq!(hex_to_base64("zz"), None);
        assert_eq!(hex_to_base64("abc"), None);
    }

    #[test]
    fn the_built_in_health_check_zips_like_its_source_directory_and_its_hash_is_stable() {
        let bundle = crate::assets::HEALTH_CHECK;
        let built_in = package_bundle(&bundle).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(bundle.source);
        assert_eq!(package_source(&dir).unwrap(), built_in);
        assert_eq!(package_bundle(&bundle).unwrap(), built_in, "deterministic");
        assert_eq!(built_in.sha256_hex.len(), 64);
    }

    #[test]
    fn skips_caches() {
        assert!(skipped("__pycache__", true));
        assert!(skipped("x.pyc", false));
        assert!(!skipped("handler.py", false));
        assert!(!skipped("lib", true));
    }
}
