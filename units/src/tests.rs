use super::*;

#[test]
fn three_significant_digits_without_exponent() {
    let cases = [
        (0.0, "0"),
        (1.0, "1.00"),
        (14.55, "14.6"),
        (918.0, "918"),
        (999.6, "1,000"),
        (9.996, "10.0"),
        (1460.0, "1,460"),
        (1_234_567.0, "1,230,000"),
        (0.0012345, "0.00123"),
        (-2.5, "-2.50"),
        (-12_345.0, "-12,300"),
        (1e-7, "<0.000001"),
        (-1e-7, "-<0.000001"),
        (f64::NAN, "-"),
        (f64::INFINITY, "-"),
    ];
    for (x, want) in cases {
        assert_eq!(sig3(x), want, "{x}");
    }
}

#[test]
fn each_figure_in_the_unit_that_fits() {
    // The figures: acct's 1.458e-5 kg and 9.180e-7 kgSb, the report's 5.938e6 kg.
    assert_eq!(GWP.human(1.458e-5), "14.6 mg CO2eq");
    assert_eq!(ADPE.human(9.180e-7), "918 µg Sb eq");
    assert_eq!(GWP.human(5.938e6), "5.94 kt CO2eq");
    assert_eq!(GWP.human(0.999_96), "1.00 kg CO2eq");
    assert_eq!(GWP.human(0.0), "0 kg CO2eq");
    assert_eq!(GWP.human(-3.2e-3), "-3.20 g CO2eq");
    // Tiny: below the smallest unit, still no exponent.
    assert_eq!(GWP.human(1e-14), "<0.000001 mg CO2eq");
    // Huge: above the largest unit, grouped.
    assert_eq!(GWP.short(2.5e12), "2,500 Mt");
    assert_eq!(PE.human(41_320.0), "41.3 GJ");
    assert_eq!(PE.human(0.2897), "290 kJ");
    assert_eq!(ENERGY_J.human(20_543_125.0), "20.5 MJ");
    assert_eq!(ENERGY_J.human(33.0), "33.0 J");
    assert_eq!(ENERGY_WH.human(3.6e6 * 1.234), "1.23 kWh");
    assert_eq!(ENERGY_WH.human(1800.0), "0.500 Wh");
    assert_eq!(POWER.human(3425.0), "3.43 kW");
    assert_eq!(GWP.human(f64::NAN), "-");
    assert_eq!(ADPE.short(f64::NEG_INFINITY), "-");
}

#[test]
fn ranges_share_the_value_unit() {
    assert_eq!(
        GWP.range(5.938e6, 4.734e6, 1.179e7),
        "5.94 kt CO2eq (4.73–11.8 kt)"
    );
    assert_eq!(GWP.range(2.0, 2.0, 2.0), "2.00 kg CO2eq");
    // Negative ends (a residual, a credit): no en dash between minus signs.
    assert_eq!(
        GWP.range(-2.0, -3.0, 1.0),
        "-2.00 kg CO2eq (-3.00 to 1.00 kg)"
    );
    // A zero value with a range takes the unit of the range.
    assert_eq!(GWP.range(0.0, 0.0, 0.004), "0 g CO2eq (0–4.00 g)");
    assert_eq!(GWP.range(f64::NAN, 1.0, 2.0), "-");
    assert_eq!(GWP.bounds(5.938e6, 4.734e6, 1.179e7), "4.73–11.8 kt");
    assert_eq!(GWP.bounds(0.0, 0.0, 0.004), "0–4.00 g");
    assert_eq!(bounds_in(GWP.units[2], -3.0, 1.0), "-3.00 to 1.00 kg");
    assert_eq!(bounds_in(GWP.units[2], f64::NAN, 1.0), "-");
    assert_eq!(GWP.range(1.0, f64::NAN, 2.0), "1.00 kg CO2eq");
    assert!(!GWP.range(1.0, 0.5, f64::INFINITY).contains("inf"));
}

#[test]
fn counts_and_hours_are_grouped() {
    assert_eq!(count(0), "0");
    assert_eq!(count(999), "999");
    assert_eq!(count(1000), "1,000");
    assert_eq!(count(1_234_567), "1,234,567");
    assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
    assert_eq!(hours(5.027e7), "50,270,000");
    assert_eq!(hours(50_271_234.4), "50,271,234");
    assert_eq!(hours(12.34), "12.3");
    assert_eq!(hours(0.5213), "0.521");
    assert_eq!(hours(-150.0), "-150");
    assert_eq!(hours(f64::NAN), "-");
    assert_eq!(percent(0.4234), "42.3 %");
    assert_eq!(percent(f64::NAN), "-");
}

#[test]
fn plain_numbers_read_back_exactly() {
    for x in [
        0.0,
        1.458e-5,
        9.18e-7,
        20_543_125.0,
        5.938e6,
        1e-12,
        1e300,
        -3.5,
    ] {
        let s = plain(x);
        assert_eq!(s.parse::<f64>().unwrap(), x, "{s}");
        assert!(!s.contains(','), "{s}");
    }
    assert_eq!(plain(1.458e-5), "0.00001458");
    assert_eq!(plain(1500.0), "1500");
    assert_eq!(plain(f64::NAN), "");
}

#[test]
fn energy_units_like_sacct() {
    assert_eq!(sacct_scaled(20_543_125.0, None), "20.54M");
    assert_eq!(sacct_scaled(33.0, None), "33");
    assert_eq!(sacct_scaled(1500.0, None), "1.50K");
    assert_eq!(sacct_scaled(20_543_126.0, Some('K')), "20543.13K");
    assert_eq!(sacct_scaled(20_543_125.0, Some('G')), "0.02G");
    assert_eq!(sacct_scaled(f64::NAN, None), "");
    // Whole results without decimals, and 0 as `0`, as sacct 22.05 prints them (its ReqMem
    // of 768M under --units=K is 786432K on the local cluster).
    assert_eq!(sacct_scaled(2000.0, None), "2K");
    assert_eq!(sacct_scaled(0.0, Some('K')), "0");
    assert_eq!(sacct_convert(768.0, 2, Some('K'), 1024.0, true), "786432K");
    assert_eq!(sacct_convert(4000.0, 2, None, 1024.0, true), "4000M");
    assert_eq!(sacct_convert(65_536.0, 2, None, 1024.0, true), "64G");
    assert_eq!(sacct_convert(1_048_576.0, 2, None, 1024.0, true), "1T");
    assert_eq!(sacct_convert(768.0, 2, Some('G'), 1024.0, true), "0.75G");
    assert_eq!(sacct_convert(4000.5, 2, None, 1024.0, true), "4000.50M");
    let parse = |s| EnergyUnits::parse(s).unwrap();
    assert_eq!(parse("J").human(20_543_125.0), "20.5 MJ");
    assert_eq!(parse("Wh").human(20_543_125.0), "5.71 kWh");
    assert_eq!(parse("kWh").human(3.6e4), "0.0100 kWh");
    assert_eq!(parse("MJ").human(3.6e4), "0.0360 MJ");
    assert_eq!(parse("K").human(20_543_126.0), "20543.13K");
    assert_eq!(
        parse("Wh").range(3.6e6, 3.0e6, 7.2e6),
        "1.00 kWh (0.833–2.00 kWh)"
    );
    assert_eq!(parse("Wh").unit_for(3.6e7).symbol, "kWh");
    assert_eq!(parse("M").unit_for(1.0).symbol, "MJ");
    assert_eq!(parse("kWh").unit_for(1.0).symbol, "kWh");
    assert_eq!(parse("J").unit_for(2e9).symbol, "GJ");
    assert!(EnergyUnits::parse("kg").is_none());
    assert!(EnergyUnits::parse("").is_none());
}

#[test]
fn durations_as_slurm_writes_them() {
    assert_eq!(duration(3.5), "3.5 s");
    assert_eq!(duration(59.99), "00:01:00");
    assert_eq!(duration(3725.0), "01:02:05");
    assert_eq!(
        duration(2.0 * 86_400.0 + 3.0 * 3600.0 + 4.0 * 60.0 + 5.0),
        "2-03:04:05"
    );
    assert_eq!(duration(-1.0), "-");
    assert_eq!(duration(f64::NAN), "-");
}

#[test]
fn everyday_equivalents() {
    // 1.066 kg CO2 is 10 km; 3.6 MWh is a year of a household (8766 h).
    assert!((everyday::car_km(1.066) - 10.0).abs() < 1e-9);
    assert!((everyday::household_hours(3600.0 * 3.6e6) - 8766.0).abs() < 1e-6);
    let s = everyday::sentence(1.066, 3.6e6);
    assert!(s.contains("about 10.0 km"), "{s}");
    assert!(s.contains("about 2.44 hours"), "{s}");
    let s = everyday::sentence(1e-3, 3.6e3);
    assert!(s.contains("about 9.38 m;"), "{s}");
    assert!(s.contains("about 0.146 minutes"), "{s}");
    assert!(everyday::sentence(100.0, 3.6e9).contains("days"));
}
