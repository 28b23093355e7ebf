//! The one place that calls libmunge. Each call gets a context of its own: a `munge_ctx_t` is
//! not safe to share between threads, and creating one is a small allocation.
#![allow(unsafe_code)]

use munge_sys as sys;
use std::ffi::{CStr, CString, c_char, c_int, c_void};

/// A libmunge context, destroyed on drop.
pub(crate) struct Ctx(sys::munge_ctx_t);

/// A libmunge failure: its error number and the context's message.
pub(crate) struct Failure {
    pub code: u32,
    pub message: String,
}

impl Ctx {
    /// A context with the given socket (else munged's default) and time-to-live (else the
    /// daemon's default, 300 s).
    pub(crate) fn new(socket: Option<&CStr>, ttl_s: Option<c_int>) -> Result<Ctx, Failure> {
        // SAFETY: munge_ctx_create takes no arguments and returns NULL or a context we own.
        let raw = unsafe { sys::munge_ctx_create() };
        if raw.is_null() {
            return Err(Failure {
                code: sys::EMUNGE_NO_MEMORY,
                message: "munge_ctx_create: out of memory".into(),
            });
        }
        let ctx = Ctx(raw);
        if let Some(socket) = socket {
            // SAFETY: MUNGE_OPT_SOCKET takes one `char *`; the string outlives the call and
            // libmunge copies it.
            let e = unsafe {
                sys::munge_ctx_set(ctx.0, sys::MUNGE_OPT_SOCKET as c_int, socket.as_ptr())
            };
            ctx.check(e)?;
        }
        if let Some(ttl) = ttl_s {
            // SAFETY: MUNGE_OPT_TTL takes one `int`.
            let e = unsafe { sys::munge_ctx_set(ctx.0, sys::MUNGE_OPT_TTL as c_int, ttl) };
            ctx.check(e)?;
        }
        Ok(ctx)
    }

    fn check(&self, e: sys::munge_err_t) -> Result<(), Failure> {
        if e == sys::EMUNGE_SUCCESS {
            Ok(())
        } else {
            Err(self.failure(e))
        }
    }

    /// The context's message for error `e`, else libmunge's generic one.
    fn failure(&self, e: sys::munge_err_t) -> Failure {
        // SAFETY: the context is live; the result is NULL or a string owned by the context,
        // copied before the context can change.
        let own = unsafe { sys::munge_ctx_strerror(self.0) };
        let text = if own.is_null() {
            // SAFETY: munge_strerror returns a static string for any value.
            unsafe { sys::munge_strerror(e) }
        } else {
            own
        };
        let message = if text.is_null() {
            format!("munge error {e}")
        } else {
            // SAFETY: non-NULL strings from libmunge are NUL-terminated.
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        };
        Failure { code: e, message }
    }

    /// `munge_encode`: a credential of the calling process's uid and gid carrying `payload`.
    pub(crate) fn encode(&self, payload: &[u8]) -> Result<String, Failure> {
        let len = c_int::try_from(payload.len()).map_err(|_| Failure {
            code: sys::EMUNGE_BAD_LENGTH,
            message: "payload longer than a C int".into(),
        })?;
        let mut cred: *mut c_char = std::ptr::null_mut();
        // SAFETY: `cred` is a valid out-pointer; `payload` is readable for `len` bytes for the
        // duration of the call.
        let e =
            unsafe { sys::munge_encode(&mut cred, self.0, payload.as_ptr().cast::<c_void>(), len) };
        let text = if cred.is_null() {
            None
        } else {
            // SAFETY: on success libmunge returns a NUL-terminated string allocated with
            // malloc, which we copy and then free exactly once.
            let s = unsafe { CStr::from_ptr(cred) }
                .to_string_lossy()
                .into_owned();
            // SAFETY: as above; `cred` is not used after this.
            unsafe { libc::free(cred.cast::<c_void>()) };
            Some(s)
        };
        self.check(e)?;
        text.ok_or_else(|| self.failure(sys::EMUNGE_SNAFU))
    }

    /// `munge_decode`: the error number (0 on success), and the uid, gid and payload where
    /// libmunge gave them (it does for an expired, rewound or replayed credential too).
    pub(crate) fn decode(&self, cred: &CString) -> (Result<(), Failure>, u32, u32, Vec<u8>) {
        let mut buf: *mut c_void = std::ptr::null_mut();
        let mut len: c_int = 0;
        let (mut uid, mut gid): (sys::uid_t, sys::gid_t) = (u32::MAX, u32::MAX);
        // SAFETY: `cred` is NUL-terminated; every out-pointer is valid for the call.
        let e = unsafe {
            sys::munge_decode(
                cred.as_ptr(),
                self.0,
                &mut buf,
                &mut len,
                &mut uid,
                &mut gid,
            )
        };
        let payload = if buf.is_null() {
            Vec::new()
        } else {
            let n = usize::try_from(len).unwrap_or(0);
            // SAFETY: libmunge allocated `len` bytes at `buf` with malloc; we copy them and
            // free the buffer exactly once.
            let v = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), n) }.to_vec();
            // SAFETY: as above; `buf` is not used after this.
            unsafe { libc::free(buf) };
            v
        };
        (self.check(e), uid, gid, payload)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: the context was created by munge_ctx_create and is destroyed once.
        unsafe { sys::munge_ctx_destroy(self.0) }
    }
}
