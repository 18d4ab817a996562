//! The embedded default's files (the SQLite database, the generated signing key) are for the
//! user running it alone: password hashes, refresh-token hashes and a private key live there.
//! DATA_DIR is created 0700 and each file 0600. A file found readable by others (an older
//! version left it so, or an operator's copy) is tightened, and the log says so. An existing
//! directory is only reported, never changed: DATA_DIR may name a directory that others share
//! on purpose (`.`, a mounted volume).
//!
//! Elsewhere than on Unix there are no such bits: the directory and files are created plain.

use std::{fs, io, path::Path};

/// Group and other bits: none of them may be set.
#[cfg(unix)]
const OTHERS: u32 = 0o077;

/// Creates `dir` (and its missing parents) owner-only, or warns if it exists open to others.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    if !dir.exists() {
        builder.create(dir)?;
    }
    #[cfg(unix)]
    if let Some(mode) = open_to_others(dir)? {
        tracing::warn!(
            path = %dir.display(),
            mode = format!("{mode:o}"),
            "DATA_DIR is open to other users; the files in it are not (0600), but `chmod 700` it"
        );
    }
    Ok(())
}

/// Makes sure `file` exists and is owner-only, creating it empty (SQLite takes an empty file
/// as a new database) rather than letting a library create it under the process's umask.
pub fn create_private_file(file: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file)?;
    restrict(file)
}

/// Takes group and other permissions off `file`, if it exists; says so when it had any.
pub fn restrict(file: &Path) -> io::Result<()> {
    #[cfg(unix)]
    if let Some(mode) = open_to_others(file)? {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(file, fs::Permissions::from_mode(mode & !OTHERS))?;
        tracing::warn!(
            path = %file.display(),
            was = format!("{mode:o}"),
            now = format!("{:o}", mode & !OTHERS),
            "tightened the permissions of a file other users could read"
        );
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// The permission bits of `path` when it exists and grants group or others anything.
#[cfg(unix)]
fn open_to_others(path: &Path) -> io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    match fs::metadata(path) {
        Ok(metadata) => Ok(Some(metadata.permissions().mode() & 0o777).filter(|mode| mode & OTHERS != 0)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_directory_and_file_are_the_owners_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data/nested");
        create_private_dir(&dir).unwrap();
        assert_eq!((mode(&root.path().join("data")), mode(&dir)), (0o700, 0o700));
        let file = dir.join("chat-suite.db");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(fs::metadata(&file).unwrap().len(), 0);
    }

    #[test]
    fn a_file_open_to_others_is_tightened_and_keeps_its_contents() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("chat-suite.db");
        fs::write(&file, b"kept").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o664)).unwrap();
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(fs::read(&file).unwrap(), b"kept");
        restrict(&root.path().join("absent")).unwrap();
    }

    #[test]
    fn an_existing_directory_is_left_as_it_is() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(root.path()).unwrap();
        assert_eq!(mode(root.path()), 0o755);
    }
}
