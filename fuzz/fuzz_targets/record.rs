//! The job-node record, every schema version (docs/record-format.md): the full reader
//! `ea_record::spool::decode_record`, the store's lean reader
//! `ea_ingest::records::parse_record` (which cuts the series out before parsing), and the
//! base64 of the power series.
//!
//! Asserts:
//! - neither reader panics on any bytes; a row (lean, or made from a decoded record by `to_row`)
//!   has no negative or NaN energy, and neither have the meters it gives the impact engine;
//! - a decoded record, upgraded to schema 3 and written by `encode_record`, decodes to the same
//!   record (floats within 2 ulp, series bit for bit) when its meter ids are unique (schema 3
//!   keys series by meter id); written by `encode_record_schema_2`, it decodes to the same
//!   record whatever its ids;
//! - on the bytes the writers produce, the lean reader gives exactly the row `to_row` makes from
//!   the full reader's record;
//! - the record's spool file name reads back as its job and node;
//! - base64 of any bytes decodes to them.
#![no_main]

use ea_fuzz::same_float;
use ea_ingest::records::{NodeRecordRow, parse_record, to_row};
use ea_record::record::{JobNodeRecord, SCHEMA_VERSION};
use ea_record::spool::{
    check_name, decode_record, encode_record, encode_record_schema_2, file_name, parse_file_name,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::HashSet;

fn check_row(row: &NodeRecordRow, what: &str) {
    let bad = |e: f64| e.is_nan() || e < 0.0;
    for e in row.energy_j.iter().flatten() {
        assert!(!bad(*e), "{what}: energy {e} J in {row:?}");
    }
    for e in [row.gpu_others_j, row.gpu_unknown_j].into_iter().flatten() {
        assert!(!bad(e), "{what}: GPU energy {e} J in {row:?}");
    }
    for m in row.meters() {
        assert!(
            !bad(m.energy_j),
            "{what}: meter energy {} J in {row:?}",
            m.energy_j
        );
    }
}

/// JSON values equal but for floats within 2 ulp (see [`same_float`]).
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            _ if x.is_u64() || x.is_i64() || y.is_u64() || y.is_i64() => x == y,
            (Some(x), Some(y)) => same_float(x, y),
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

/// `a` and `b` are the same record: every field (floats within 2 ulp), and each meter's series
/// (which serde skips) with its points bit for bit (a -1 or a NaN point is a point).
fn assert_same(a: &JobNodeRecord, b: &JobNodeRecord, what: &str) {
    let (va, vb) = (
        serde_json::to_value(a).unwrap(),
        serde_json::to_value(b).unwrap(),
    );
    assert!(close(&va, &vb), "{what}: the record changed:\n{va}\n{vb}");
    assert_eq!(a.meters.len(), b.meters.len(), "{what}");
    for (ma, mb) in a.meters.iter().zip(&b.meters) {
        match (&ma.series, &mb.series) {
            (None, None) => {}
            (Some(sa), Some(sb)) => {
                assert_eq!(sa.start, sb.start, "{what}: meter {}", ma.id);
                assert!(same_float(sa.step_s, sb.step_s), "{what}: meter {}", ma.id);
                let bits = |w: &[f32]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&sa.watts), bits(&sb.watts), "{what}: meter {}", ma.id);
            }
            (x, y) => panic!("{what}: meter {}'s series {x:?} became {y:?}", ma.id),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let coded = ea_record::base64::encode(data);
    assert_eq!(
        ea_record::base64::decode(&coded).as_deref(),
        Ok(data),
        "base64 of the input does not decode to it"
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ea_record::base64::decode(text);
    }

    if let Ok(row) = parse_record(data, "fuzz") {
        check_row(&row, "lean reader on the input");
    }
    let Ok(decoded) = decode_record(data) else {
        return;
    };
    let _ = decoded.node_energy_j();
    let _ = decoded.duration_s();
    check_row(&to_row(&decoded, "fuzz"), "to_row of the decoded input");

    let name = file_name(decoded.job_id, &decoded.node, "json");
    assert_eq!(
        parse_file_name(&name),
        Some((decoded.job_id, decoded.node.clone(), "json")),
        "`{name}`"
    );
    assert!(
        check_name(&name, decoded.job_id, &decoded.node).is_ok(),
        "`{name}`"
    );

    let mut r = decoded;
    r.schema_version = r.schema_version.max(SCHEMA_VERSION);
    let mut ids = HashSet::new();
    let unique_ids = r.meters.iter().all(|m| ids.insert(m.id.as_str()));

    // Schema 3, as the plugin writes it.
    let v3 = encode_record(&r).expect("a decoded record encodes");
    let back3 = decode_record(&v3).unwrap_or_else(|e| {
        panic!(
            "encode_record's bytes do not decode: {e}\n{}",
            String::from_utf8_lossy(&v3)
        )
    });
    if unique_ids {
        assert_same(&r, &back3, "schema 3");
    }
    let lean3 = parse_record(&v3, "fuzz").unwrap_or_else(|e| {
        panic!(
            "the lean reader refuses encode_record's bytes: {e}\n{}",
            String::from_utf8_lossy(&v3)
        )
    });
    assert_eq!(
        lean3,
        to_row(&back3, "fuzz"),
        "lean and full readers, schema 3"
    );
    check_row(&lean3, "lean reader, schema 3");

    // Schema 2, as plugins before schema 3 wrote it.
    let v2 = encode_record_schema_2(&r);
    let mut back2 = decode_record(&v2).unwrap_or_else(|e| {
        panic!(
            "encode_record_schema_2's bytes do not decode: {e}\n{}",
            String::from_utf8_lossy(&v2)
        )
    });
    assert_eq!(back2.schema_version, 2);
    back2.schema_version = r.schema_version;
    assert_same(&r, &back2, "schema 2");
    back2.schema_version = 2;
    let lean2 = parse_record(&v2, "fuzz").unwrap_or_else(|e| {
        panic!(
            "the lean reader refuses encode_record_schema_2's bytes: {e}\n{}",
            String::from_utf8_lossy(&v2)
        )
    });
    assert_eq!(
        lean2,
        to_row(&back2, "fuzz"),
        "lean and full readers, schema 2"
    );
});
