//! `energy-assess-forwarder --spool DIR --host NAME --collector URL [--collector URL...]
//! [--keep-delivered-s N]`: started detached by the epilog (see `ea_forward`); exits when the
//! outbox is empty, or at once when another forwarder holds the spool's lock.

use std::process::ExitCode;

fn main() -> ExitCode {
    ea_meters::signals::close_inherited_fds();
    ea_meters::signals::lower_priority();
    match ea_forward::Args::parse(std::env::args().skip(1)) {
        Ok(args) => {
            let signer = ea_forward::MungeSigner;
            ExitCode::from(ea_forward::run(&args, &signer) as u8)
        }
        Err(e) => {
            eprintln!("energy-assess-forwarder: {e}");
            ExitCode::from(2)
        }
    }
}
