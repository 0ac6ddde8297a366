//! What travels inside the nova binary, so that an installed nova runs in any directory
//! that holds a `Nova.toml`: the health-check Lambda's source, as named bundles of files
//! (a Lambda function's `source_bundle` names one; `provider::aws::lambda_package` zips it
//! deterministically, so its SHA-256 is the same on every machine and every build of the
//! same source). The web instances' user data is compiled in the same way
//! (`stack::USER_DATA_TEMPLATE`).

/// Files packaged together: (path inside the zip, contents), sorted by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bundle {
    pub name: &'static str,
    /// Where the files live in the repository (for messages and the tests that compare).
    pub source: &'static str,
    pub files: &'static [(&'static str, &'static [u8])],
}

/// The health-check Lambda (`src/stack/health_check/`).
pub const HEALTH_CHECK: Bundle = Bundle {
    name: "health_check",
    source: "src/stack/health_check",
    files: &[(
        "handler.py",
        include_bytes!("stack/health_check/handler.py"),
    )],
};

/// Every bundle, by name.
pub const BUNDLES: &[Bundle] = &[HEALTH_CHECK];

/// The bundle called `name`.
pub fn bundle(name: &str) -> Option<&'static Bundle> {
    BUNDLES.iter().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_source_directory_is_in_the_bundle_unchanged() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(HEALTH_CHECK.source);
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| !n.ends_with(".pyc"))
            .collect();
        on_disk.sort();
        let bundled: Vec<&str> = HEALTH_CHECK.files.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            on_disk, bundled,
            "add new files of {} to the bundle",
            HEALTH_CHECK.source
        );
        for (path, bytes) in HEALTH_CHECK.files {
            assert_eq!(std::fs::read(dir.join(path)).unwrap(), *bytes, "{path}");
        }
        assert_eq!(bundle("health_check"), Some(&HEALTH_CHECK));
        assert_eq!(bundle("nope"), None);
    }
}
