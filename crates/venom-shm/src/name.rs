//! The rules for shared-memory object names.

/// The longest name accepted, in bytes, without the leading `/`.
///
/// Linux keeps POSIX shared-memory objects as files in `/dev/shm`; the name handed to
/// `shm_open`, leading `/` included, may have at most `NAME_MAX` (255) bytes.
pub const MAX_NAME_LEN: usize = 254;

/// Which rule a shared-memory name breaks.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing left after the optional leading `/`.
    #[error("name is empty")]
    Empty,
    /// A `/` after the optional leading one: objects live in one flat directory.
    #[error("name contains '/' after its first byte")]
    Slash,
    /// A NUL byte, which would cut the name short at the system call.
    #[error("name contains a NUL byte")]
    Nul,
    /// `.` or `..`, which name directories, not objects.
    #[error("name is '.' or '..'")]
    Dot,
    /// Longer than [`MAX_NAME_LEN`] bytes.
    #[error("name is {len} bytes, at most {max} allowed")]
    TooLong {
        /// The name's length without the leading `/`.
        len: usize,
        /// [`MAX_NAME_LEN`].
        max: usize,
    },
}

/// Checks `name` and returns it in canonical form, with exactly one leading `/`.
///
/// A name may be given with or without its leading `/`; `"cam"` and `"/cam"` are the same
/// object.
///
/// # Errors
/// The [`NameError`] of the first rule the name breaks.
///
/// # Examples
/// ```
/// use venom_shm::{NameError, validate_name};
/// assert_eq!(validate_name("cam").unwrap(), "/cam");
/// assert_eq!(validate_name("/cam").unwrap(), "/cam");
/// assert_eq!(validate_name("a/b"), Err(NameError::Slash));
/// assert_eq!(validate_name(""), Err(NameError::Empty));
/// ```
pub fn validate_name(name: &str) -> Result<String, NameError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() {
        return Err(NameError::Empty);
    }
    if bare.contains('\0') {
        return Err(NameError::Nul);
    }
    if bare.contains('/') {
        return Err(NameError::Slash);
    }
    if bare == "." || bare == ".." {
        return Err(NameError::Dot);
    }
    if bare.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            len: bare.len(),
            max: MAX_NAME_LEN,
        });
    }
    Ok(format!("/{bare}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_its_reason() {
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name("/"), Err(NameError::Empty));
        assert_eq!(validate_name("//x"), Err(NameError::Slash));
        assert_eq!(validate_name("a/b"), Err(NameError::Slash));
        assert_eq!(validate_name("a\0b"), Err(NameError::Nul));
        assert_eq!(validate_name("."), Err(NameError::Dot));
        assert_eq!(validate_name("/.."), Err(NameError::Dot));
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            validate_name(&long),
            Err(NameError::TooLong {
                len: MAX_NAME_LEN + 1,
                max: MAX_NAME_LEN
            })
        );
    }

    #[test]
    fn accepted_names_are_canonical() {
        assert_eq!(validate_name("a").unwrap(), "/a");
        assert_eq!(validate_name("/a.b-c_d").unwrap(), "/a.b-c_d");
        assert_eq!(validate_name("...").unwrap(), "/...");
        let longest = "y".repeat(MAX_NAME_LEN);
        assert_eq!(validate_name(&longest).unwrap(), format!("/{longest}"));
    }
}
