//! The BMC's power read in-process through the kernel's OpenIPMI device (`/dev/ipmi0`, driver
//! `ipmi_devintf` over `ipmi_si`), as ipmitool's `open` interface does: one DCMI "Get Power
//! Reading" request by ioctl, a `poll` for the answer with a timeout, one receive. A reading
//! costs a few system calls instead of a fork and exec of `ipmitool` (see docs/meters.md,
//! Cost).
//!
//! The request and response bytes are encoded and decoded by pure functions
//! ([`power_reading_request`], [`decode_power_reading`]); the ioctls are in `crate::ffi::ipmi`.
//! A BMC that hangs never holds a read beyond its timeout; its late answer (an old msgid) is
//! drained and ignored by the next read, which sends a new request (the driver times out
//! requests by itself).

use crate::ffi::ipmi::{Device, Received};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The device the sampler tries first (see docs/meters.md, Discovery).
pub const DEFAULT_DEVICE: &str = "/dev/ipmi0";
/// NetFn "group extension" (DCMI's requests).
pub const NETFN_GROUP_EXTENSION: u8 = 0x2C;
/// DCMI "Get Power Reading".
pub const CMD_GET_POWER_READING: u8 = 0x02;
/// DCMI's group extension identification, first byte of every DCMI request and response.
pub const DCMI_GROUP: u8 = 0xDC;
/// `IPMI_RESPONSE_RECV_TYPE`.
const RESPONSE_RECV_TYPE: i32 = 1;
/// Bit 6 of the power reading state: "power measurement active".
const STATE_ACTIVE: u8 = 0x40;
/// Completion code, group id, 4 × 2 bytes of watts, 4 of timestamp, 4 of period, 1 of state.
const RESPONSE_LEN: usize = 19;

/// The request data of Get Power Reading: mode 0x01 "system power statistics", no mode
/// attributes, reserved byte.
pub fn power_reading_request() -> [u8; 4] {
    [DCMI_GROUP, 0x01, 0x00, 0x00]
}

/// A decoded DCMI power reading (DCMI 1.5 table 6-16), watts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerReading {
    /// The instantaneous power, what the sampler integrates.
    pub current_w: u16,
    /// The BMC's minimum over its statistics period.
    pub minimum_w: u16,
    /// Its maximum over the period.
    pub maximum_w: u16,
    /// Its average over the period.
    pub average_w: u16,
    /// The BMC's timestamp of the reading (seconds, its own clock).
    pub timestamp: u32,
    /// The statistics period, ms.
    pub period_ms: u32,
}

/// Why a response is not a usable power reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcmiError {
    /// No data at all.
    Empty,
    /// A completion code other than 0.
    Completion(u8),
    /// Fewer bytes than a power reading has.
    Short(usize),
    /// The second byte is not DCMI's group id.
    NotDcmi(u8),
    /// Power measurement is not active (the BMC then reports stale or zero values).
    Inactive {
        /// The state byte.
        state: u8,
    },
}

impl fmt::Display for DcmiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DcmiError::Empty => f.write_str("the BMC answered with no data"),
            DcmiError::Completion(cc) => write!(
                f,
                "the BMC refused DCMI Get Power Reading: completion code 0x{cc:02X} ({})",
                completion_text(*cc)
            ),
            DcmiError::Short(n) => write!(
                f,
                "the BMC's DCMI power reading has {n} bytes, not {RESPONSE_LEN}"
            ),
            DcmiError::NotDcmi(g) => write!(
                f,
                "the BMC's answer is not DCMI (group 0x{g:02X}, not 0x{DCMI_GROUP:02X})"
            ),
            DcmiError::Inactive { state } => write!(
                f,
                "the BMC says DCMI power measurement is not active (state 0x{state:02X})"
            ),
        }
    }
}

impl std::error::Error for DcmiError {}

/// The meaning of the usual completion codes (IPMI 2.0 table 5-2).
fn completion_text(cc: u8) -> &'static str {
    match cc {
        0xC0 => "node busy",
        0xC1 => "invalid command: the BMC may not support DCMI",
        0xC3 => "timeout",
        0xC9 => "parameter out of range",
        0xCC => "invalid data field",
        0xD4 => "insufficient privilege",
        0xD5 => "not supported in the present state",
        0xFF => "unspecified error, or the driver timed the request out",
        _ => "see IPMI 2.0 table 5-2",
    }
}

/// Decodes a Get Power Reading response, completion code first (pure).
///
/// # Errors
/// A completion code, a short response, a group other than DCMI's, or measurement inactive.
pub fn decode_power_reading(resp: &[u8]) -> Result<PowerReading, DcmiError> {
    match resp.first() {
        None => return Err(DcmiError::Empty),
        Some(0) => {}
        Some(&cc) => return Err(DcmiError::Completion(cc)),
    }
    if resp.len() < RESPONSE_LEN {
        return Err(DcmiError::Short(resp.len()));
    }
    if resp[1] != DCMI_GROUP {
        return Err(DcmiError::NotDcmi(resp[1]));
    }
    let state = resp[18];
    if state & STATE_ACTIVE == 0 {
        return Err(DcmiError::Inactive { state });
    }
    let w = |i: usize| u16::from_le_bytes([resp[i], resp[i + 1]]);
    let dw = |i: usize| u32::from_le_bytes([resp[i], resp[i + 1], resp[i + 2], resp[i + 3]]);
    Ok(PowerReading {
        current_w: w(2),
        minimum_w: w(4),
        maximum_w: w(6),
        average_w: w(8),
        timestamp: dw(10),
        period_ms: dw(14),
    })
}

/// Whether a received message is the answer to our request `msgid` (pure): a response, of the
/// same msgid, with the response netfn of DCMI and our command. Anything else (a late answer to
/// a request that timed out, an event) is drained and ignored.
fn is_answer_to(rx: &Received, msgid: i64) -> bool {
    rx.recv_type == RESPONSE_RECV_TYPE
        && rx.msgid == msgid
        && rx.netfn == NETFN_GROUP_EXTENSION | 1
        && rx.cmd == CMD_GET_POWER_READING
}

/// Why the device gave no reading, worded for an admin.
#[derive(Debug)]
pub enum DeviceError {
    /// The device cannot be opened.
    Open(PathBuf, io::Error),
    /// The driver refused the request, or the file is no IPMI device (ENOTTY).
    Send(PathBuf, io::Error),
    /// Waiting for or receiving the answer failed.
    Receive(PathBuf, io::Error),
    /// No answer within the timeout.
    Timeout(PathBuf, Duration),
    /// An answer that is not a usable reading.
    Dcmi(PathBuf, DcmiError),
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::Open(p, e) => match e.raw_os_error() {
                Some(libc::ENOENT | libc::ENXIO | libc::ENODEV) => write!(
                    f,
                    "no {}: load ipmi_devintf and ipmi_si, or set the command (ipmi_command)",
                    p.display()
                ),
                Some(libc::EACCES | libc::EPERM) => write!(
                    f,
                    "{}: permission denied: the sampler must run as root (as the prolog starts it)",
                    p.display()
                ),
                _ => write!(f, "cannot open {}: {e}", p.display()),
            },
            DeviceError::Send(p, e) => match e.raw_os_error() {
                Some(libc::ENOTTY | libc::EINVAL) => write!(
                    f,
                    "{} is not an OpenIPMI device or has no BMC behind it ({e})",
                    p.display()
                ),
                _ => write!(f, "{}: cannot send the DCMI request: {e}", p.display()),
            },
            DeviceError::Receive(p, e) => {
                write!(f, "{}: cannot receive the BMC's answer: {e}", p.display())
            }
            DeviceError::Timeout(p, t) => write!(
                f,
                "{}: the BMC did not answer DCMI Get Power Reading within {:.1} s",
                p.display(),
                t.as_secs_f64()
            ),
            DeviceError::Dcmi(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for DeviceError {}

/// An open OpenIPMI device, reading DCMI power.
#[derive(Debug)]
pub struct DcmiDevice {
    path: PathBuf,
    dev: Device,
    next_msgid: i64,
    /// Messages drained (late answers) so far.
    stale: u64,
    /// A request may still have an answer coming (it timed out, or its read failed after
    /// the send); true before the first read, whose drain also tells a file that is no
    /// device. Only then does a read start by draining: one ioctl a reading fewer otherwise.
    maybe_late: bool,
}

impl DcmiDevice {
    /// Opens the device (no request yet).
    ///
    /// # Errors
    /// [`DeviceError::Open`], whose text says what to do (load the modules, run as root).
    pub fn open(path: &Path) -> Result<Self, DeviceError> {
        let dev = Device::open(path).map_err(|e| DeviceError::Open(path.to_path_buf(), e))?;
        Ok(Self {
            path: path.to_path_buf(),
            dev,
            next_msgid: 1,
            stale: 0,
            maybe_late: true,
        })
    }

    /// The device's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Late answers drained and ignored so far.
    pub fn stale_answers(&self) -> u64 {
        self.stale
    }

    /// One DCMI power reading, waiting at most `timeout` for the BMC.
    ///
    /// # Errors
    /// See [`DeviceError`].
    pub fn read_power(&mut self, timeout: Duration) -> Result<PowerReading, DeviceError> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 64];
        if self.maybe_late {
            self.drain(&mut buf)?;
        }
        self.maybe_late = true;
        let msgid = self.next_msgid;
        self.next_msgid = self.next_msgid.wrapping_add(1);
        self.dev
            .send(
                msgid,
                NETFN_GROUP_EXTENSION,
                CMD_GET_POWER_READING,
                &power_reading_request(),
            )
            .map_err(|e| DeviceError::Send(self.path.clone(), e))?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ready = self
                .dev
                .wait_readable(left)
                .map_err(|e| DeviceError::Receive(self.path.clone(), e))?;
            if !ready {
                return Err(DeviceError::Timeout(self.path.clone(), timeout));
            }
            match self.dev.receive(&mut buf) {
                Ok(rx) if is_answer_to(&rx, msgid) => {
                    self.maybe_late = false;
                    return decode_power_reading(&buf[..rx.len])
                        .map_err(|e| DeviceError::Dcmi(self.path.clone(), e));
                }
                Ok(_) => self.stale += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(DeviceError::Receive(self.path.clone(), e)),
            }
        }
    }

    /// Receives and drops whatever is waiting (answers to requests that timed out).
    fn drain(&mut self, buf: &mut [u8]) -> Result<(), DeviceError> {
        loop {
            match self.dev.receive(buf) {
                Ok(_) => self.stale += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // The first ioctl of a read: a file that is no IPMI device answers ENOTTY here.
                Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => {
                    return Err(DeviceError::Send(self.path.clone(), e));
                }
                Err(e) => return Err(DeviceError::Receive(self.path.clone(), e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a BMC drawing `w` watts answers (built by hand, byte by byte).
    fn response(w: u16, state: u8) -> Vec<u8> {
        let [lo, hi] = w.to_le_bytes();
        vec![
            0x00, 0xDC, lo, hi, 0x10, 0x00, 0x00, 0x02, 0x2C, 0x01, 0x78, 0x56, 0x34, 0x12, 0xE8,
            0x03, 0x00, 0x00, state,
        ]
    }

    #[test]
    fn request_bytes() {
        assert_eq!(power_reading_request(), [0xDC, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn decodes_a_reading() {
        let r = decode_power_reading(&response(0x0203, 0x40)).unwrap();
        assert_eq!(
            r,
            PowerReading {
                current_w: 515,
                minimum_w: 16,
                maximum_w: 512,
                average_w: 300,
                timestamp: 0x1234_5678,
                period_ms: 1000,
            }
        );
        // Other state bits do not matter; a longer answer is fine.
        let mut long = response(7, 0xC0);
        long.push(0xAA);
        assert_eq!(decode_power_reading(&long).unwrap().current_w, 7);
    }

    #[test]
    fn inactive_measurement_is_an_error() {
        let e = decode_power_reading(&response(0, 0x00)).unwrap_err();
        assert_eq!(e, DcmiError::Inactive { state: 0 });
        assert!(e.to_string().contains("not active"), "{e}");
    }

    #[test]
    fn completion_codes_and_short_answers() {
        assert_eq!(decode_power_reading(&[]), Err(DcmiError::Empty));
        let e = decode_power_reading(&[0xC1]).unwrap_err();
        assert_eq!(e, DcmiError::Completion(0xC1));
        assert!(e.to_string().contains("0xC1 (invalid command"), "{e}");
        assert_eq!(
            decode_power_reading(&response(5, 0x40)[..18]),
            Err(DcmiError::Short(18))
        );
        let mut other = response(5, 0x40);
        other[1] = 0x00;
        assert_eq!(decode_power_reading(&other), Err(DcmiError::NotDcmi(0)));
    }

    #[test]
    fn answers_are_matched_by_msgid() {
        let rx = Received {
            recv_type: 1,
            msgid: 7,
            netfn: 0x2D,
            cmd: 0x02,
            len: 19,
            truncated: false,
        };
        assert!(is_answer_to(&rx, 7));
        assert!(!is_answer_to(&rx, 8));
        assert!(!is_answer_to(&Received { recv_type: 2, ..rx }, 7));
        assert!(!is_answer_to(&Received { netfn: 0x07, ..rx }, 7));
    }

    /// The layout of the hand-written structs is the kernel's: on x86-64, `struct ipmi_req` is
    /// 40 bytes and `struct ipmi_recv` 48, so the ioctl numbers are the ones ipmitool uses.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ioctl_numbers_are_the_kernels() {
        use crate::ffi::ipmi::{IpmiRecv, IpmiReq, RECEIVE_MSG_TRUNC, SEND_COMMAND};
        assert_eq!(size_of::<IpmiReq>(), 40);
        assert_eq!(size_of::<IpmiRecv>(), 48);
        assert_eq!(SEND_COMMAND, 0x8028_690D);
        assert_eq!(RECEIVE_MSG_TRUNC, 0xC030_690B);
    }

    #[test]
    fn open_errors_say_what_to_do() {
        let e = DcmiDevice::open(Path::new("/nonexistent/ipmi0")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no /nonexistent/ipmi0: load ipmi_devintf and ipmi_si, or set the command (ipmi_command)"
        );
        let denied = DeviceError::Open(
            PathBuf::from("/dev/ipmi0"),
            io::Error::from_raw_os_error(libc::EACCES),
        );
        assert!(
            denied.to_string().contains("the sampler must run as root"),
            "{denied}"
        );
    }

    /// A plain file is not an IPMI device: the driver's ENOTTY says so (no shim here).
    #[test]
    fn a_plain_file_is_refused() {
        let dir = crate::testutil::TempDir::new("ipmi-dev-plain");
        let p = dir.path().join("ipmi0");
        std::fs::write(&p, "").unwrap();
        let mut d = DcmiDevice::open(&p).unwrap();
        let e = d.read_power(Duration::from_millis(100)).unwrap_err();
        assert!(
            matches!(e, DeviceError::Send(_, ref io) if io.raw_os_error() == Some(libc::ENOTTY)),
            "{e:?}"
        );
        assert!(e.to_string().contains("is not an OpenIPMI device"), "{e}");
    }

    /// A real BMC: the reading is plausible.
    #[test]
    #[ignore = "needs a BMC at /dev/ipmi0"]
    fn real_bmc() {
        let mut d = DcmiDevice::open(Path::new(DEFAULT_DEVICE)).unwrap();
        let r = d.read_power(Duration::from_secs(5)).unwrap();
        assert!(r.current_w > 0 && r.current_w < 20_000, "{r:?}");
    }
}
