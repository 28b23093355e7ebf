//! The test's calls into libc, each behind a safe function (the workspace denies `unsafe`
//! outside FFI modules).
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, RawFd};

/// A copy of `file`'s descriptor without `FD_CLOEXEC`: one a child would inherit. Close it
/// with [`close`].
pub fn dup_inheritable(file: &std::fs::File) -> RawFd {
    // SAFETY: dup of a valid descriptor (borrowed from a live File).
    unsafe { libc::dup(file.as_raw_fd()) }
}

/// Closes a descriptor from [`dup_inheritable`].
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and does not use it again.
    unsafe { libc::close(fd) };
}
