//! Member paths of an archive: the one spelling every reader agrees on (`./a//b` is `a/b`),
//! with `..` and absolute names refused, and link targets resolved inside the archive.

use crate::error::Error;

/// Normalises a member name as written in a tar header or in `manifest.json`: `./` prefixes,
/// empty and `.` components and a trailing `/` are dropped. `Ok(None)` is the archive root
/// itself (`./`, which `tar -C dir .` writes first).
pub fn normalize(raw: &str) -> Result<Option<String>, Error> {
    let bad = |problem: &'static str| Error::InvalidMemberPath { path: raw.to_owned(), problem };
    if raw.starts_with('/') {
        return Err(bad("absolute paths are not allowed in an image archive"));
    }
    if raw.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(bad("`..` is not allowed in an image archive")),
            p => parts.push(p),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Like [`normalize`], for a name that must not be the root (a file someone points at).
pub fn normalize_file(raw: &str) -> Result<String, Error> {
    normalize(raw)?
        .ok_or_else(|| Error::InvalidMemberPath { path: raw.to_owned(), problem: "names the archive root, not a file" })
}

/// Where a symbolic link at `member` pointing at `target` leads: relative to the link's
/// directory, `..` allowed as long as the result stays inside the archive.
/// (Legacy `docker save` links a repeated layer as `../<id>/layer.tar`.)
pub fn resolve_symlink(member: &str, target: &str) -> Result<String, Error> {
    let bad = |problem: &'static str| Error::InvalidMemberPath { path: format!("{member} -> {target}"), problem };
    if target.starts_with('/') {
        return Err(bad("a link with an absolute target cannot be followed inside an image archive"));
    }
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(bad("the link points outside the archive"));
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(bad("the link points at the archive root"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_the_spellings_tars_use() {
        assert_eq!(normalize("./manifest.json").unwrap().as_deref(), Some("manifest.json"));
        assert_eq!(normalize("blobs//sha256/./ab/").unwrap().as_deref(), Some("blobs/sha256/ab"));
        assert_eq!(normalize("./").unwrap(), None);
        assert_eq!(normalize(".").unwrap(), None);
    }

    #[test]
    fn refuses_escapes_with_the_rule_broken() {
        let cases = [
            ("../etc/passwd", "`..` is not allowed in an image archive"),
            ("a/../../b", "`..` is not allowed in an image archive"),
            ("/etc/passwd", "absolute paths are not allowed in an image archive"),
        ];
        for (input, want) in cases {
            match normalize(input) {
                Err(Error::InvalidMemberPath { path, problem }) => {
                    assert_eq!(path, input);
                    assert_eq!(problem, want, "{input}");
                }
                other => panic!("{input}: {other:?}"),
            }
        }
        assert!(matches!(normalize_file("./"), Err(Error::InvalidMemberPath { .. })));
    }

    #[test]
    fn symlinks_resolve_relative_to_their_directory() {
        assert_eq!(resolve_symlink("b/layer.tar", "../a/layer.tar").unwrap(), "a/layer.tar");
        assert_eq!(resolve_symlink("b/layer.tar", "other.tar").unwrap(), "b/other.tar");
        assert_eq!(resolve_symlink("top.tar", "./x/y").unwrap(), "x/y");
        for (member, target) in [("b/layer.tar", "../../x"), ("a", "/etc/passwd"), ("a/b", "..")] {
            assert!(
                matches!(resolve_symlink(member, target), Err(Error::InvalidMemberPath { .. })),
                "{member} -> {target}"
            );
        }
    }
}
