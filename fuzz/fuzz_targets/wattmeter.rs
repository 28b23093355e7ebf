//! External wattmeter series (CSV: Grid'5000 kwollect exports, plain `node,time,watts`):
//! `ea_energy::wattmeter::read`, and `integrate` over what it read.
//!
//! Asserts, for a file it accepts:
//! - every sample has a node (without a domain), a finite time and a finite, non-negative power;
//!   samples are sorted by node and time with no node and time twice;
//! - the energy integrated over each node's samples, over the whole series, half of it and a
//!   window around each sample, is finite and non-negative, with a coverage in [0, 1].
#![no_main]

use ea_energy::wattmeter::{integrate, read};
use ea_fuzz::{clock_cet, clock_utc};
use libfuzzer_sys::fuzz_target;

fn check(samples: &[(f64, f64)], t0: f64, t1: f64, node: &str) {
    let (e, covered) = integrate(samples, t0, t1);
    assert!(
        e.is_finite() && e >= 0.0,
        "node {node}: {e} J over [{t0}, {t1}]"
    );
    assert!(
        (0.0..=1.0 + 1e-9).contains(&covered),
        "node {node}: coverage {covered} over [{t0}, {t1}]"
    );
}

fuzz_target!(|data: &[u8]| {
    let clock = clock_utc();
    for metric in [None, Some("wattmetre_power_watt")] {
        let Ok(series) = read(data, &clock, metric) else {
            continue;
        };
        let s = &series.samples;
        for x in s {
            assert!(!x.node.is_empty() && !x.node.contains('.'), "{x:?}");
            assert!(x.t.is_finite(), "a sample at t = {}: {x:?}", x.t);
            assert!(x.watts.is_finite() && x.watts >= 0.0, "{x:?}");
        }
        for w in s.windows(2) {
            let order = w[0].node.cmp(&w[1].node).then(w[0].t.total_cmp(&w[1].t));
            assert!(
                order.is_lt(),
                "samples out of order or twice: {:?}, {:?}",
                w[0],
                w[1]
            );
        }
        for node in s.chunk_by(|a, b| a.node == b.node) {
            let points: Vec<(f64, f64)> = node.iter().map(|x| (x.t, x.watts)).collect();
            let name = &node[0].node;
            let (first, last) = (points[0].0, points[points.len() - 1].0);
            check(&points, first, last, name);
            check(&points, first, first + (last - first) / 2.0, name);
            for &(t, _) in points.iter().take(32) {
                check(&points, t - 30.0, t + 30.0, name);
            }
        }
    }
    let _ = read(data, &clock_cet(), None);
});
