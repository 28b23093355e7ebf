//! A fake OpenIPMI device (`/dev/ipmi0`, the kernel's `ipmi_devintf`) for machines without a
//! BMC (this project's build and CI machines, which have no kernel modules or CUSE either).
//!
//! `libipmi_dev_fake.so` is put in `LD_PRELOAD` of the process under test (the sampler). It
//! interposes `ioctl` and `poll`: on the file descriptor of the fake device (a plain file at
//! the path [`DEVICE_ENV`] names, else `$EA_SYSROOT/dev/ipmi0`; recognised by its
//! `(st_dev, st_ino)`), it answers `IPMICTL_SEND_COMMAND` and `IPMICTL_RECEIVE_MSG_TRUNC` as the
//! kernel does, with DCMI "Get Power Reading" responses built from a [`Script`]; every other
//! descriptor and request goes to the real libc (found with `dlsym(RTLD_NEXT)`). So the
//! sampler's real ioctl code runs unchanged against it.
//!
//! The script is one line, re-read at every request, from the file [`SCRIPT_ENV`] names, else
//! `$EA_SYSROOT/fake-ipmi-dev`, else the watts of `$EA_SYSROOT/fake-ipmi-watts` (the file the
//! fake ipmitool reads), else `$EA_FAKE_IPMI_WATTS`, else 250 W. See [`Script::parse`].

use std::path::PathBuf;
use std::time::Duration;

/// The environment variable naming the fake device's path.
pub const DEVICE_ENV: &str = "EA_FAKE_IPMI_DEVICE";
/// The environment variable naming the script file.
pub const SCRIPT_ENV: &str = "EA_FAKE_IPMI_SCRIPT";

/// How the fake BMC answers the next request.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    /// A good reading of this many watts, `delay` after the request.
    Watts {
        /// The current power (also the minimum, maximum and average).
        watts: u16,
        /// How long the BMC takes.
        delay: Duration,
    },
    /// Power measurement not active (state byte without bit 6), with these watts.
    Inactive(u16),
    /// A response with only this completion code.
    Completion(u8),
    /// A response cut after 5 bytes.
    Short,
    /// No response, ever.
    Hang,
}

impl Script {
    /// Reads one line: `420` (watts), `delay MS 420` (answer after MS ms), `inactive [W]`,
    /// `cc 0xC1` (only that completion code), `short`, `hang`.
    ///
    /// # Errors
    /// A line of another form, with what it was.
    pub fn parse(line: &str) -> Result<Self, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let watts = |w: &str| {
            w.parse::<f64>()
                .map(|v| v.round().clamp(0.0, 65_535.0) as u16)
                .map_err(|_| format!("fake-ipmi: {w:?} is not watts"))
        };
        match words.as_slice() {
            [w] if w.parse::<f64>().is_ok() => Ok(Script::Watts {
                watts: watts(w)?,
                delay: Duration::ZERO,
            }),
            ["delay", ms, w] => Ok(Script::Watts {
                watts: watts(w)?,
                delay: Duration::from_millis(
                    ms.parse()
                        .map_err(|_| format!("fake-ipmi: bad delay {ms:?}"))?,
                ),
            }),
            ["inactive"] => Ok(Script::Inactive(0)),
            ["inactive", w] => Ok(Script::Inactive(watts(w)?)),
            ["cc", code] => u8::from_str_radix(code.trim_start_matches("0x"), 16)
                .map(Script::Completion)
                .map_err(|_| format!("fake-ipmi: bad completion code {code:?}")),
            ["short"] => Ok(Script::Short),
            ["hang"] => Ok(Script::Hang),
            _ => Err(format!("fake-ipmi: cannot read the script {line:?}")),
        }
    }

    /// The script in force: from the files and variables in the crate's doc.
    pub fn current() -> Self {
        let sysroot = std::env::var_os("EA_SYSROOT").map(PathBuf::from);
        let script = std::env::var_os(SCRIPT_ENV)
            .map(PathBuf::from)
            .or_else(|| sysroot.as_ref().map(|s| s.join("fake-ipmi-dev")));
        if let Some(text) = script.and_then(|p| std::fs::read_to_string(p).ok()) {
            return Script::parse(text.trim()).unwrap_or(Script::Completion(0xFF));
        }
        let watts = sysroot
            .and_then(|s| std::fs::read_to_string(s.join("fake-ipmi-watts")).ok())
            .or_else(|| std::env::var("EA_FAKE_IPMI_WATTS").ok())
            .unwrap_or_else(|| "250".into());
        Script::parse(watts.trim()).unwrap_or(Script::Completion(0xFF))
    }

    /// The response's data (completion code first) and its delay; `None`: no response.
    pub fn response(&self) -> Option<(Vec<u8>, Duration)> {
        match *self {
            Script::Watts { watts, delay } => Some((power_reading(watts, true), delay)),
            Script::Inactive(w) => Some((power_reading(w, false), Duration::ZERO)),
            Script::Completion(cc) => Some((vec![cc], Duration::ZERO)),
            Script::Short => Some((power_reading(100, true)[..5].to_vec(), Duration::ZERO)),
            Script::Hang => None,
        }
    }
}

/// The device path in force: [`DEVICE_ENV`], else `$EA_SYSROOT/dev/ipmi0`.
pub fn device_path() -> Option<PathBuf> {
    std::env::var_os(DEVICE_ENV)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("EA_SYSROOT").map(|s| PathBuf::from(s).join("dev/ipmi0")))
}

/// A DCMI Get Power Reading response (DCMI 1.5 table 6-16), written here independently of the
/// meters crate's decoder so that each checks the other: completion code 0, group 0xDC,
/// current/minimum/maximum/average (LSB first), a timestamp, a 1000 ms period, and the state
/// byte (0x40: measurement active).
pub fn power_reading(watts: u16, active: bool) -> Vec<u8> {
    let w = watts.to_le_bytes();
    let mut r = vec![0x00, 0xDC];
    for _ in 0..4 {
        r.extend_from_slice(&w);
    }
    r.extend_from_slice(&1_700_000_000u32.to_le_bytes());
    r.extend_from_slice(&1000u32.to_le_bytes());
    r.push(if active { 0x40 } else { 0x00 });
    r
}

// The C side: the interposed `ioctl` and `poll`. Left out of this crate's own test binary, where
// it would replace libc's for the test harness.
#[cfg(not(test))]
mod ffi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts() {
        assert_eq!(
            Script::parse("420").unwrap(),
            Script::Watts {
                watts: 420,
                delay: Duration::ZERO
            }
        );
        assert_eq!(
            Script::parse("delay 800 300.4").unwrap(),
            Script::Watts {
                watts: 300,
                delay: Duration::from_millis(800)
            }
        );
        assert_eq!(Script::parse("inactive").unwrap(), Script::Inactive(0));
        assert_eq!(Script::parse("cc 0xC1").unwrap(), Script::Completion(0xC1));
        assert_eq!(Script::parse("hang").unwrap(), Script::Hang);
        assert!(Script::parse("lots").is_err());
        assert_eq!(Script::Hang.response(), None);
    }

    #[test]
    fn responses() {
        let r = power_reading(0x1234, true);
        assert_eq!(r.len(), 19);
        assert_eq!(&r[..4], &[0x00, 0xDC, 0x34, 0x12]);
        assert_eq!(r[18], 0x40);
        assert_eq!(Script::Short.response().unwrap().0.len(), 5);
        assert_eq!(Script::Inactive(5).response().unwrap().0[18], 0);
    }
}
