//! The dialling facts of every region, as libphonenumber's metadata has
//! them: calling code, national (trunk) prefix, international prefix.
//! Normalising a number with a prefix needs only these; keeping them here
//! lets the daemon leave the metadata (about 6 MB in memory) unloaded
//! until a rule asks for a number's type, validity or country. The test
//! below checks every row against the metadata, so the two cannot drift.

/// (ISO 3166 region, calling code, national prefix, international prefix).
pub const REGIONS: &[(&str, u16, Option<&str>, &str)] = &[
    ("AC", 247, None, "00"),
    ("AD", 376, None, "00"),
    ("AE", 971, Some("0"), "00"),
    ("AF", 93, Some("0"), "00"),
    ("AG", 1, Some("1"), "00"),
    ("AI", 1, Some("1"), "00"),
    ("AL", 355, Some("0"), "00"),
    ("AM", 374, Some("0"), "00"),
    ("AO", 244, None, "00"),
    ("AR", 54, Some("0"), "00"),
    ("AS", 1, Some("1"), "00"),
    ("AT", 43, Some("0"), "00"),
    ("AU", 61, Some("0"), "0011"),
    ("AW", 297, None, "00"),
    ("AX", 358, Some("0"), "00"),
    ("AZ", 994, Some("0"), "00"),
    ("BA", 387, Some("0"), "00"),
    ("BB", 1, Some("1"), "00"),
    ("BD", 880, Some("0"), "00"),
    ("BE", 32, Some("0"), "00"),
    ("BF", 226, None, "00"),
    ("BG", 359, Some("0"), "00"),
    ("BH", 973, None, "00"),
    ("BI", 257, None, "00"),
    ("BJ", 229, None, "00"),
    ("BL", 590, Some("0"), "00"),
    ("BM", 1, Some("1"), "00"),
    ("BN", 673, None, "00"),
    ("BO", 591, Some("0"), "00"),
    ("BQ", 599, None, "00"),
    ("BR", 55, Some("0"), "00"),
    ("BS", 1, Some("1"), "00"),
    ("BT", 975, None, "00"),
    ("BW", 267, None, "00"),
    ("BY", 375, Some("8"), "00"),
    ("BZ", 501, None, "00"),
    ("CA", 1, Some("1"), "00"),
    ("CC", 61, Some("0"), "0011"),
    ("CD", 243, Some("0"), "00"),
    ("CF", 236, None, "00"),
    ("CG", 242, None, "00"),
    ("CH", 41, Some("0"), "00"),
    ("CI", 225, None, "00"),
    ("CK", 682, None, "00"),
    ("CL", 56, None, "00"),
    ("CM", 237, None, "00"),
    ("CN", 86, Some("0"), "00"),
    ("CO", 57, Some("0"), "00"),
    ("CR", 506, None, "00"),
    ("CU", 53, Some("0"), "00"),
    ("CV", 238, None, "00"),
    ("CW", 599, None, "00"),
    ("CX", 61, Some("0"), "0011"),
    ("CY", 357, None, "00"),
    ("CZ", 420, None, "00"),
    ("DE", 49, Some("0"), "00"),
    ("DJ", 253, None, "00"),
    ("DK", 45, None, "00"),
    ("DM", 1, Some("1"), "00"),
    ("DO", 1, Some("1"), "00"),
    ("DZ", 213, Some("0"), "00"),
    ("EC", 593, Some("0"), "00"),
    ("EE", 372, None, "00"),
    ("EG", 20, Some("0"), "00"),
    ("EH", 212, Some("0"), "00"),
    ("ER", 291, Some("0"), "00"),
    ("ES", 34, None, "00"),
    ("ET", 251, Some("0"), "00"),
    ("FI", 358, Some("0"), "00"),
    ("FJ", 679, None, "00"),
    ("FK", 500, None, "00"),
    ("FM", 691, None, "00"),
    ("FO", 298, None, "00"),
    ("FR", 33, Some("0"), "00"),
    ("GA", 241, None, "00"),
    ("GB", 44, Some("0"), "00"),
    ("GD", 1, Some("1"), "00"),
    ("GE", 995, Some("0"), "00"),
    ("GF", 594, Some("0"), "00"),
    ("GG", 44, Some("0"), "00"),
    ("GH", 233, Some("0"), "00"),
    ("GI", 350, None, "00"),
    ("GL", 299, None, "00"),
    ("GM", 220, None, "00"),
    ("GN", 224, None, "00"),
    ("GP", 590, Some("0"), "00"),
    ("GQ", 240, None, "00"),
    ("GR", 30, None, "00"),
    ("GT", 502, None, "00"),
    ("GU", 1, Some("1"), "00"),
    ("GW", 245, None, "00"),
    ("GY", 592, None, "00"),
    ("HK", 852, None, "00"),
    ("HN", 504, None, "00"),
    ("HR", 385, Some("0"), "00"),
    ("HT", 509, None, "00"),
    ("HU", 36, Some("06"), "00"),
    ("ID", 62, Some("0"), "00"),
    ("IE", 353, Some("0"), "00"),
    ("IL", 972, Some("0"), "00"),
    ("IM", 44, Some("0"), "00"),
    ("IN", 91, Some("0"), "00"),
    ("IO", 246, None, "00"),
    ("IQ", 964, Some("0"), "00"),
    ("IR", 98, Some("0"), "00"),
    ("IS", 354, None, "00"),
    ("IT", 39, None, "00"),
    ("JE", 44, Some("0"), "00"),
    ("JM", 1, Some("1"), "00"),
    ("JO", 962, Some("0"), "00"),
    ("JP", 81, Some("0"), "00"),
    ("KE", 254, Some("0"), "00"),
    ("KG", 996, Some("0"), "00"),
    ("KH", 855, Some("0"), "00"),
    ("KI", 686, Some("0"), "00"),
    ("KM", 269, None, "00"),
    ("KN", 1, Some("1"), "00"),
    ("KP", 850, Some("0"), "00"),
    ("KR", 82, Some("0"), "00"),
    ("KW", 965, None, "00"),
    ("KY", 1, Some("1"), "00"),
    ("KZ", 7, Some("8"), "00"),
    ("LA", 856, Some("0"), "00"),
    ("LB", 961, Some("0"), "00"),
    ("LC", 1, Some("1"), "00"),
    ("LI", 423, Some("0"), "00"),
    ("LK", 94, Some("0"), "00"),
    ("LR", 231, Some("0"), "00"),
    ("LS", 266, None, "00"),
    ("LT", 370, Some("0"), "00"),
    ("LU", 352, None, "00"),
    ("LV", 371, None, "00"),
    ("LY", 218, Some("0"), "00"),
    ("MA", 212, Some("0"), "00"),
    ("MC", 377, Some("0"), "00"),
    ("MD", 373, Some("0"), "00"),
    ("ME", 382, Some("0"), "00"),
    ("MF", 590, Some("0"), "00"),
    ("MG", 261, Some("0"), "00"),
    ("MH", 692, Some("1"), "00"),
    ("MK", 389, Some("0"), "00"),
    ("ML", 223, None, "00"),
    ("MM", 95, Some("0"), "00"),
    ("MN", 976, Some("0"), "00"),
    ("MO", 853, None, "00"),
    ("MP", 1, Some("1"), "00"),
    ("MQ", 596, Some("0"), "00"),
    ("MR", 222, None, "00"),
    ("MS", 1, Some("1"), "00"),
    ("MT", 356, None, "00"),
    ("MU", 230, None, "020"),
    ("MV", 960, None, "00"),
    ("MW", 265, Some("0"), "00"),
    ("MX", 52, None, "00"),
    ("MY", 60, Some("0"), "00"),
    ("MZ", 258, None, "00"),
    ("NA", 264, Some("0"), "00"),
    ("NC", 687, None, "00"),
    ("NE", 227, None, "00"),
    ("NF", 672, None, "00"),
    ("NG", 234, Some("0"), "00"),
    ("NI", 505, None, "00"),
    ("NL", 31, Some("0"), "00"),
    ("NO", 47, None, "00"),
    ("NP", 977, Some("0"), "00"),
    ("NR", 674, None, "00"),
    ("NU", 683, None, "00"),
    ("NZ", 64, Some("0"), "00"),
    ("OM", 968, None, "00"),
    ("PA", 507, None, "00"),
    ("PE", 51, Some("0"), "00"),
    ("PF", 689, None, "00"),
    ("PG", 675, None, "00"),
    ("PH", 63, Some("0"), "00"),
    ("PK", 92, Some("0"), "00"),
    ("PL", 48, None, "00"),
    ("PM", 508, Some("0"), "00"),
    ("PR", 1, Some("1"), "00"),
    ("PS", 970, Some("0"), "00"),
    ("PT", 351, None, "00"),
    ("PW", 680, None, "00"),
    ("PY", 595, Some("0"), "00"),
    ("QA", 974, None, "00"),
    ("RE", 262, Some("0"), "00"),
    ("RO", 40, Some("0"), "00"),
    ("RS", 381, Some("0"), "00"),
    ("RU", 7, Some("8"), "00"),
    ("RW", 250, Some("0"), "00"),
    ("SA", 966, Some("0"), "00"),
    ("SB", 677, None, "00"),
    ("SC", 248, None, "00"),
    ("SD", 249, Some("0"), "00"),
    ("SE", 46, Some("0"), "00"),
    ("SG", 65, None, "00"),
    ("SH", 290, None, "00"),
    ("SI", 386, Some("0"), "00"),
    ("SJ", 47, None, "00"),
    ("SK", 421, Some("0"), "00"),
    ("SL", 232, Some("0"), "00"),
    ("SM", 378, None, "00"),
    ("SN", 221, None, "00"),
    ("SO", 252, Some("0"), "00"),
    ("SR", 597, None, "00"),
    ("SS", 211, Some("0"), "00"),
    ("ST", 239, None, "00"),
    ("SV", 503, None, "00"),
    ("SX", 1, Some("1"), "00"),
    ("SY", 963, Some("0"), "00"),
    ("SZ", 268, None, "00"),
    ("TA", 290, None, "00"),
    ("TC", 1, Some("1"), "00"),
    ("TD", 235, None, "00"),
    ("TG", 228, None, "00"),
    ("TH", 66, Some("0"), "00"),
    ("TJ", 992, None, "00"),
    ("TK", 690, None, "00"),
    ("TL", 670, None, "00"),
    ("TM", 993, Some("8"), "00"),
    ("TN", 216, None, "00"),
    ("TO", 676, None, "00"),
    ("TR", 90, Some("0"), "00"),
    ("TT", 1, Some("1"), "00"),
    ("TV", 688, None, "00"),
    ("TW", 886, Some("0"), "00"),
    ("TZ", 255, Some("0"), "00"),
    ("UA", 380, Some("0"), "00"),
    ("UG", 256, Some("0"), "00"),
    ("US", 1, Some("1"), "00"),
    ("UY", 598, Some("0"), "00"),
    ("UZ", 998, None, "00"),
    ("VA", 39, None, "00"),
    ("VC", 1, Some("1"), "00"),
    ("VE", 58, Some("0"), "00"),
    ("VG", 1, Some("1"), "00"),
    ("VI", 1, Some("1"), "00"),
    ("VN", 84, Some("0"), "00"),
    ("VU", 678, None, "00"),
    ("WF", 681, None, "00"),
    ("WS", 685, None, "00"),
    ("XK", 383, Some("0"), "00"),
    ("YE", 967, Some("0"), "00"),
    ("YT", 262, Some("0"), "00"),
    ("ZA", 27, Some("0"), "00"),
    ("ZM", 260, Some("0"), "00"),
    ("ZW", 263, Some("0"), "00"),
];

/// The row of `region` (upper-case ISO 3166 code).
pub fn region(region: &str) -> Option<(u16, Option<&'static str>, &'static str)> {
    REGIONS
        .binary_search_by(|(id, ..)| (*id).cmp(region))
        .ok()
        .map(|i| (REGIONS[i].1, REGIONS[i].2, REGIONS[i].3))
}

/// The region of a calling code: the only one, or the main one where
/// several share it (libphonenumber's `mainCountryForCode`).
pub fn main_region(code: u16) -> Option<&'static str> {
    let mut of_code = REGIONS.iter().filter(|r| r.1 == code).map(|r| r.0);
    let first = of_code.next()?;
    match of_code.next() {
        None => Some(first),
        Some(_) => MAIN.iter().find(|(c, _)| *c == code).map(|(_, r)| *r),
    }
}

/// The main region of each calling code that several regions share.
const MAIN: &[(u16, &str)] = &[
    (1, "US"),
    (7, "RU"),
    (39, "IT"),
    (44, "GB"),
    (47, "NO"),
    (61, "AU"),
    (212, "MA"),
    (262, "RE"),
    (290, "SH"),
    (358, "FI"),
    (590, "GP"),
    (599, "CW"),
];

/// The calling code an E.164 number (`+` and digits) starts with, and the
/// rest. Calling codes are prefix-free (ITU-T E.164), so the first of one,
/// two or three digits that is a code is the one.
pub fn split_calling_code(e164: &str) -> Option<(u16, &str)> {
    let digits = e164.strip_prefix('+')?;
    (1..=3).find_map(|n| {
        let code: u16 = digits.get(..n)?.parse().ok()?;
        let rest = &digits[n..];
        (!rest.is_empty() && REGIONS.iter().any(|r| r.1 == code)).then_some((code, rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::metadata::DATABASE;

    #[test]
    fn every_row_is_what_the_metadata_says() {
        let mut from_metadata = 0;
        for m in DATABASE.iter().filter(|m| m.id().len() == 2) {
            // The same reading of the metadata that `Home` used to make.
            let intl = m
                .preferred_international_prefix()
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or("00");
            assert_eq!(
                region(m.id()),
                Some((m.country_code(), m.national_prefix(), intl)),
                "{}",
                m.id()
            );
            from_metadata += 1;
        }
        assert_eq!(from_metadata, REGIONS.len());
        for m in DATABASE.iter().filter(|m| m.id().len() == 2) {
            if m.is_main_country_for_code()
                || REGIONS.iter().filter(|r| r.1 == m.country_code()).count() == 1
            {
                assert_eq!(main_region(m.country_code()), Some(m.id()), "{}", m.id());
            }
        }
        assert!(REGIONS.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        assert_eq!(
            split_calling_code("+442079460000"),
            Some((44, "2079460000"))
        );
        assert_eq!(split_calling_code("+12125550100"), Some((1, "2125550100")));
        assert_eq!(split_calling_code("+3726001234"), Some((372, "6001234")));
        assert_eq!(split_calling_code("0301234567"), None);
    }
}
