//! Splitting one node's time between the jobs on it, by share and time overlap.
//!
//! Along the node's timeline the set of jobs present changes at each start and end. Within a
//! stretch where jobs with shares s₁…sₖ are present, job i is charged sᵢ per second of the
//! node (report policy; sᵢ / Σs if Σs > 1, which only inconsistent shares produce), or sᵢ / Σs
//! (spread policy: the node is always fully charged to whoever is on it). A job's charge over
//! its interval, in share-seconds, then multiplies both its node-level power (energy) and the
//! node's embodied rate. Prefix integrals make it O(n log n) per node.

use super::UnallocatedPolicy;

/// One job on the node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Occupant {
    pub start_us: i64,
    pub end_us: i64,
    pub share: f64,
    /// The job's measurement of the node's shared power (node meter minus devices), W; used to
    /// value the time no job holds.
    pub node_power_w: Option<f64>,
}

/// One occupant's result.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Charge {
    /// Seconds × share charged to it.
    pub share_seconds: f64,
    /// Whether shares summed above 1 during its interval.
    pub oversubscribed: bool,
    /// Whether another job was on the node during its interval.
    pub co_tenants: bool,
}

/// Buffers reused from one node to the next, so that sweeping a million pairs does not
/// allocate per node.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub occupants: Vec<Occupant>,
    /// (time, is_start, occupant) packed by [`event`] into one integer that sorts in the
    /// tuple's order.
    events: Vec<u128>,
    /// The same events packed into 64 bits where the node's times and occupants allow (see
    /// [`push_events`]): a sort of these is about twice as quick.
    packed: Vec<u64>,
    g_prefix: Vec<f64>,
    over_prefix: Vec<f64>,
    crowd_prefix: Vec<f64>,
    start_at: Vec<usize>,
    end_at: Vec<usize>,
}

const EPS: f64 = 1e-9;

/// Charges each of `scratch.occupants` (one node's jobs) into `out` (same order) and returns
/// the node energy during jobs that no job was charged (report policy, shares below 1), J.
///
/// # Panics
/// If `out` is shorter than the occupants.
pub(crate) fn sweep_into(
    policy: UnallocatedPolicy,
    scratch: &mut Scratch,
    out: &mut [Charge],
) -> f64 {
    if scratch.occupants.len() == 1 {
        // The common case (a node to one job at a time), without the machinery.
        return sweep_alone(policy, scratch.occupants[0], out);
    }
    if !push_events(scratch, out) {
        return 0.0;
    }
    let unallocated = integrate_events(policy, scratch);
    read_charges(scratch, out);
    unallocated
}

/// The node's charge rate per second to a job when the shares present sum to `s`: the report
/// policy scales down only shares above 1, the spread policy always charges the whole node.
#[inline]
fn charge_rate(policy: UnallocatedPolicy, s: f64) -> f64 {
    match policy {
        UnallocatedPolicy::Report => {
            if s > 1.0 + EPS {
                1.0 / s
            } else {
                1.0
            }
        }
        UnallocatedPolicy::Spread => {
            if s > EPS {
                1.0 / s
            } else {
                0.0
            }
        }
    }
}

/// [`sweep_into`] for a node with one job on it.
#[inline]
fn sweep_alone(policy: UnallocatedPolicy, o: Occupant, out: &mut [Charge]) -> f64 {
    let d = ((o.end_us - o.start_us) as f64 / 1e6).max(0.0);
    out[0] = Charge {
        share_seconds: o.share * charge_rate(policy, o.share) * d,
        oversubscribed: o.share > 1.0 + EPS,
        co_tenants: false,
    };
    match (policy, o.node_power_w) {
        (UnallocatedPolicy::Report, Some(p)) if o.share < 1.0 => (1.0 - o.share) * p * d,
        _ => 0.0,
    }
}

/// (time, is_start, occupant) as one integer whose order is the tuple's: the time with its
/// sign bit flipped (so that negative times sort first), then the flag, then the index. The
/// keys are distinct (an occupant has one start and one end), so an unstable sort of them
/// gives the one order a sort of the tuples would.
#[inline]
fn event(t: i64, is_start: bool, i: u32) -> u128 {
    (u128::from((t as u64) ^ (1 << 63)) << 64) | (u128::from(is_start) << 32) | u128::from(i)
}

/// The fields of an [`event`].
#[inline]
fn unpack(e: u128) -> (i64, bool, u32) {
    (
        ((e >> 64) as u64 ^ (1 << 63)) as i64,
        (e >> 32) & 1 == 1,
        e as u32,
    )
}

/// Fills `scratch.events`, sorted, with each occupant's start and end: (time, is_start,
/// occupant). Ends sort before starts at the same instant so that back-to-back jobs are not
/// counted as overlapping. An occupant with no time on the node (start == end, or clipped out
/// of the period) holds nothing and is left out, charged nothing: its end would sort before
/// its start and leave the sweep with a job that never arrived. False when no event is left.
///
/// The events are sorted as 64-bit keys (time from the earliest, the flag, the index) where
/// the node's span of time and its number of occupants fit in 64 bits, which they do for a
/// month of microseconds and millions of occupants; the order is the same either way.
#[inline]
fn push_events(scratch: &mut Scratch, out: &mut [Charge]) -> bool {
    let Scratch {
        occupants,
        events,
        packed,
        ..
    } = scratch;
    events.clear();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (i, o) in occupants.iter().enumerate() {
        if o.end_us > o.start_us {
            (lo, hi) = (lo.min(o.start_us), hi.max(o.end_us));
        } else {
            out[i] = Charge::default();
        }
    }
    if lo > hi {
        return false;
    }
    let n = occupants.len() as u64;
    // Bits for an index below n, then one for the flag; the rest holds the time.
    let index_bits = 64 - n.leading_zeros();
    let time_bits = 63 - index_bits;
    let span = hi.abs_diff(lo);
    if index_bits < 32 && span >> time_bits == 0 {
        packed.clear();
        for (i, o) in occupants.iter().enumerate() {
            if o.end_us > o.start_us {
                let at = |t: i64| (t.abs_diff(lo) << (index_bits + 1)) | i as u64;
                packed.push(at(o.start_us) | (1 << index_bits));
                packed.push(at(o.end_us));
            }
        }
        packed.sort_unstable();
        let index_mask = (1u64 << index_bits) - 1;
        events.extend(packed.iter().map(|&k| {
            let t = lo.wrapping_add((k >> (index_bits + 1)) as i64);
            event(t, (k >> index_bits) & 1 == 1, (k & index_mask) as u32)
        }));
    } else {
        for (i, o) in occupants.iter().enumerate() {
            if o.end_us > o.start_us {
                events.push(event(o.start_us, true, i as u32));
                events.push(event(o.end_us, false, i as u32));
            }
        }
        events.sort_unstable();
    }
    true
}

/// What is on the node between two events.
#[derive(Default)]
struct Present {
    sum_share: f64,
    /// The sum of the present jobs' node power, over `with_power` of them.
    sum_power: f64,
    with_power: usize,
    active: usize,
}

impl Present {
    /// Adds the occupant (at its start) or takes it away (at its end).
    #[inline]
    fn apply(&mut self, o: &Occupant, is_start: bool) {
        let sign = if is_start { 1.0 } else { -1.0 };
        self.sum_share += sign * o.share;
        if let Some(p) = o.node_power_w {
            self.sum_power += sign * p;
            if is_start {
                self.with_power += 1
            } else {
                self.with_power -= 1
            }
        }
        if is_start {
            self.active += 1;
        } else {
            self.active -= 1;
        }
    }

    /// Over a stretch of `dt` seconds: adds to the prefix sums (charge rate, oversubscribed
    /// time, shared time) and returns the node energy no job is charged, J.
    #[inline]
    fn stretch(&self, policy: UnallocatedPolicy, dt: f64, sums: &mut [f64; 3]) -> f64 {
        if dt <= 0.0 || self.active == 0 {
            return 0.0;
        }
        let s = if self.sum_share.abs() < EPS {
            0.0
        } else {
            self.sum_share
        };
        sums[0] += dt * charge_rate(policy, s);
        if s > 1.0 + EPS {
            sums[1] += dt;
        }
        if self.active > 1 {
            sums[2] += dt;
        }
        if policy == UnallocatedPolicy::Report && s < 1.0 && self.with_power > 0 {
            return (1.0 - s) * (self.sum_power / self.with_power as f64) * dt;
        }
        0.0
    }
}

/// Walks the sorted events once, building the prefix integrals (charge rate, oversubscribed
/// time, shared time) at each distinct instant and noting where each occupant starts and
/// ends in them. Returns the node energy during jobs that no job was charged, J.
#[inline]
fn integrate_events(policy: UnallocatedPolicy, scratch: &mut Scratch) -> f64 {
    let n = scratch.occupants.len();
    let Scratch {
        occupants,
        events,
        g_prefix,
        over_prefix,
        crowd_prefix,
        start_at,
        end_at,
        ..
    } = scratch;
    for v in [&mut *g_prefix, &mut *over_prefix, &mut *crowd_prefix] {
        v.clear();
        v.push(0.0);
    }
    start_at.clear();
    start_at.resize(n, 0);
    end_at.clear();
    end_at.resize(n, 0);
    let mut present = Present::default();
    let mut unallocated = 0.0;
    let mut sums = [0.0f64; 3];
    let mut prev_t = unpack(events[0]).0;
    let mut k = 0;
    while k < events.len() {
        let t = unpack(events[k]).0;
        unallocated += present.stretch(policy, (t - prev_t) as f64 / 1e6, &mut sums);
        let index = g_prefix.len();
        while k < events.len() && unpack(events[k]).0 == t {
            let (_, is_start, i) = unpack(events[k]);
            present.apply(&occupants[i as usize], is_start);
            if is_start {
                start_at[i as usize] = index;
            } else {
                end_at[i as usize] = index;
            }
            k += 1;
        }
        g_prefix.push(sums[0]);
        over_prefix.push(sums[1]);
        crowd_prefix.push(sums[2]);
        prev_t = t;
    }
    unallocated
}

/// Each occupant's charge, from the prefix integrals between its start and its end.
#[inline]
fn read_charges(scratch: &Scratch, out: &mut [Charge]) {
    let (g, over, crowd) = (
        &scratch.g_prefix,
        &scratch.over_prefix,
        &scratch.crowd_prefix,
    );
    for (i, o) in scratch.occupants.iter().enumerate() {
        if o.end_us <= o.start_us {
            continue;
        }
        let (a, b) = (scratch.start_at[i], scratch.end_at[i]);
        out[i] = Charge {
            share_seconds: o.share * (g[b] - g[a]),
            oversubscribed: over[b] - over[a] > 0.0,
            co_tenants: crowd[b] - crowd[a] > 0.0,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_events_sort_as_their_tuples() {
        let mut tuples = vec![
            (-5, true, 3),
            (-5, false, 7),
            (0, true, 0),
            (0, false, 1),
            (i64::MIN, true, 2),
            (i64::MAX, false, u32::MAX),
            (1_800_000_000_000_000, true, 4),
            (1_800_000_000_000_000, false, 9),
            (7, true, 1),
        ];
        let mut packed: Vec<u128> = tuples.iter().map(|&(t, s, i)| event(t, s, i)).collect();
        tuples.sort_unstable();
        packed.sort_unstable();
        let back: Vec<_> = packed.into_iter().map(unpack).collect();
        assert_eq!(back, tuples);
    }

    #[test]
    fn packed_and_wide_events_come_out_in_one_order() {
        // Ties of time, of time and flag, empty occupants, negative times; then a span too
        // wide to pack, which takes the 128-bit keys.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for wide in [false, true] {
            let occupants: Vec<Occupant> = (0..300)
                .map(|_| {
                    let s = next(40) as i64 * 1_000_000 - 5_000_000;
                    let e = if wide && next(10) == 0 {
                        i64::MAX
                    } else {
                        s + next(20) as i64 * 1_000_000
                    };
                    Occupant {
                        start_us: s,
                        end_us: e,
                        share: 0.1,
                        node_power_w: None,
                    }
                })
                .collect();
            let mut scratch = Scratch {
                occupants: occupants.clone(),
                ..Default::default()
            };
            let mut out = vec![Charge::default(); occupants.len()];
            assert!(push_events(&mut scratch, &mut out));
            let mut tuples: Vec<(i64, bool, u32)> = occupants
                .iter()
                .enumerate()
                .filter(|(_, o)| o.end_us > o.start_us)
                .flat_map(|(i, o)| [(o.start_us, true, i as u32), (o.end_us, false, i as u32)])
                .collect();
            tuples.sort_unstable();
            let got: Vec<_> = scratch.events.iter().map(|&e| unpack(e)).collect();
            assert_eq!(got, tuples, "wide {wide}");
            assert_eq!(scratch.packed.is_empty(), wide);
        }
    }

    #[test]
    fn the_charge_rate_scales_down_only_what_the_policy_says() {
        use UnallocatedPolicy::{Report, Spread};
        assert_eq!(charge_rate(Report, 0.5), 1.0);
        assert_eq!(charge_rate(Report, 2.0), 0.5);
        assert_eq!(charge_rate(Spread, 0.5), 2.0);
        assert_eq!(charge_rate(Spread, 4.0), 0.25);
        assert_eq!(charge_rate(Spread, 0.0), 0.0);
    }

    /// Test view of one node's sweep.
    struct Sweep {
        share_seconds: Vec<f64>,
        oversubscribed: Vec<bool>,
        co_tenants: Vec<bool>,
        unallocated_energy_j: f64,
    }

    fn sweep(occupants: &[Occupant], policy: UnallocatedPolicy) -> Sweep {
        let mut scratch = Scratch {
            occupants: occupants.to_vec(),
            ..Default::default()
        };
        let mut out = vec![Charge::default(); occupants.len()];
        let unallocated_energy_j = sweep_into(policy, &mut scratch, &mut out);
        Sweep {
            share_seconds: out.iter().map(|c| c.share_seconds).collect(),
            oversubscribed: out.iter().map(|c| c.oversubscribed).collect(),
            co_tenants: out.iter().map(|c| c.co_tenants).collect(),
            unallocated_energy_j,
        }
    }

    fn occ(start_s: i64, end_s: i64, share: f64, p: Option<f64>) -> Occupant {
        Occupant {
            start_us: start_s * 1_000_000,
            end_us: end_s * 1_000_000,
            share,
            node_power_w: p,
        }
    }

    #[test]
    fn alone_on_the_node() {
        let s = sweep(&[occ(0, 100, 1.0, Some(500.0))], UnallocatedPolicy::Report);
        assert_eq!(s.share_seconds, [100.0]);
        assert_eq!(s.unallocated_energy_j, 0.0);
        let half = sweep(&[occ(0, 100, 0.5, Some(500.0))], UnallocatedPolicy::Report);
        assert_eq!(half.share_seconds, [50.0]);
        assert_eq!(half.unallocated_energy_j, 25_000.0);
        let spread = sweep(&[occ(0, 100, 0.5, Some(500.0))], UnallocatedPolicy::Spread);
        assert_eq!(spread.share_seconds, [100.0]);
        assert_eq!(spread.unallocated_energy_j, 0.0);
    }

    #[test]
    fn partial_overlap_report_and_spread() {
        // A: 0–100 s at 0.5; B: 50–150 s at 0.25. Report: each pays its share all along.
        let jobs = [
            occ(0, 100, 0.5, Some(400.0)),
            occ(50, 150, 0.25, Some(400.0)),
        ];
        let r = sweep(&jobs, UnallocatedPolicy::Report);
        assert_eq!(r.share_seconds, [50.0, 25.0]);
        assert_eq!(r.co_tenants, [true, true]);
        // Unallocated: 0–50 at 0.5 free, 50–100 at 0.25 free, 100–150 at 0.75 free; × 400 W.
        assert!((r.unallocated_energy_j - 400.0 * (25.0 + 12.5 + 37.5)).abs() < 1e-9);
        // Spread: 0–50 A alone (50 s), 50–100 A 2/3 and B 1/3, 100–150 B alone.
        let s = sweep(&jobs, UnallocatedPolicy::Spread);
        assert!((s.share_seconds[0] - (50.0 + 50.0 * 2.0 / 3.0)).abs() < 1e-9);
        assert!((s.share_seconds[1] - (50.0 / 3.0 + 50.0)).abs() < 1e-9);
        assert_eq!(s.unallocated_energy_j, 0.0);
    }

    #[test]
    fn zero_length_jobs_on_a_shared_node_hold_nothing() {
        // A job that held the node for no time (start == end), alone at the start of the
        // node's timeline, at another's start, at another's end and inside another's run; and
        // a node where every job is empty. None may disturb the others or the sweep.
        let jobs = [
            occ(0, 0, 0.5, Some(400.0)),
            occ(0, 100, 0.5, Some(400.0)),
            occ(50, 50, 0.25, Some(400.0)),
            occ(100, 100, 0.5, None),
            occ(100, 200, 0.25, Some(400.0)),
        ];
        for policy in [UnallocatedPolicy::Report, UnallocatedPolicy::Spread] {
            let s = sweep(&jobs, policy);
            for empty in [0, 2, 3] {
                assert_eq!(s.share_seconds[empty], 0.0, "{policy:?} {empty}");
                assert!(!s.co_tenants[empty] && !s.oversubscribed[empty]);
            }
            // The two real jobs are back to back: each alone on the node.
            assert_eq!(s.co_tenants, [false; 5]);
            let full = |share: f64| match policy {
                UnallocatedPolicy::Report => share,
                UnallocatedPolicy::Spread => 1.0,
            };
            assert!(
                (s.share_seconds[1] - 100.0 * full(0.5)).abs() < 1e-9,
                "{policy:?}"
            );
            assert!(
                (s.share_seconds[4] - 100.0 * full(0.25)).abs() < 1e-9,
                "{policy:?}"
            );
            let without_empty = sweep(&[jobs[1], jobs[4]], policy);
            assert_eq!(
                s.unallocated_energy_j, without_empty.unallocated_energy_j,
                "{policy:?}"
            );
        }
        let only_empty = sweep(
            &[occ(10, 10, 1.0, Some(100.0)), occ(10, 10, 0.5, None)],
            UnallocatedPolicy::Report,
        );
        assert_eq!(only_empty.share_seconds, [0.0, 0.0]);
        assert_eq!(only_empty.unallocated_energy_j, 0.0);
    }

    #[test]
    fn back_to_back_jobs_do_not_overlap_and_excess_shares_are_normalised() {
        let r = sweep(
            &[occ(0, 10, 1.0, None), occ(10, 20, 1.0, None)],
            UnallocatedPolicy::Report,
        );
        assert_eq!(r.share_seconds, [10.0, 10.0]);
        assert_eq!(r.co_tenants, [false, false]);
        assert_eq!(r.oversubscribed, [false, false]);
        let over = sweep(
            &[occ(0, 10, 1.0, None), occ(0, 10, 1.0, None)],
            UnallocatedPolicy::Report,
        );
        assert_eq!(over.share_seconds, [5.0, 5.0]);
        assert_eq!(over.oversubscribed, [true, true]);
    }
}
