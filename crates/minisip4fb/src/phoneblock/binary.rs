//! PhoneBlock's binary list (`/blocklist?format=binary`): its spam ranges
//! and its global whitelist, which the JSON list does not carry.
//!
//! The file, as PhoneBlock documents it (`BlocklistBinaryFormat`): a
//! 16-byte little-endian header (magic `PBBL`, u16 version 1, u16 bitmap
//! of the prefix lengths present, u32 exact count, u32 prefix count), then
//! the exact records, then the prefix (range) records, 8 bytes each, each
//! section sorted as unsigned integers. A record packs up to 15 digits as
//! a base-11 key (digit d as d + 1, the rest 0) in bits 63..8; bit 0 says
//! spam (1) or allowed (0). The longest match decides: an exact record,
//! then the longest prefix. No votes: the server applies the thresholds
//! asked for (`minDirect`, `minRange`).
//!
//! Read from the network and from disk, so every record is checked before
//! a lookup trusts the file's order: a file that is not exactly this is
//! refused whole and the copy in use is kept.

use std::fmt;

/// The longest file taken: 2 million records (PhoneBlock's own cap on its
/// answer is 256 KiB by default; ranges are never cut from it).
pub const MAX_BYTES: usize = 16 + 8 * 2_000_000;

const MAGIC: &[u8; 4] = b"PBBL";
const VERSION: u16 = 1;
const HEADER: usize = 16;
/// Digit slots of a key: 15 digits of E.164 and a terminator.
const SLOTS: u32 = 16;
const MAX_DIGITS: u32 = 15;
const BLACK: u64 = 1;
/// Bits 7..1 are reserved (zero).
const RESERVED: u64 = 0xFE;

/// 11^i for i in 0..=16.
const POW11: [u64; 17] = {
    let mut t = [1u64; 17];
    let mut i = 1;
    while i < 17 {
        t[i] = t[i - 1] * 11;
        i += 1;
    }
    t
};

/// Why a binary list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("{0} bytes: shorter than its 16-byte header")]
    Short(usize),
    #[error("larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("not PhoneBlock's binary list (magic {0:02x?}, want \"PBBL\")")]
    Magic([u8; 4]),
    #[error("version {0} (this build reads version 1)")]
    Version(u16),
    #[error("the header counts {exact} + {prefix} records, the file holds {bytes} bytes of them")]
    Length {
        exact: u32,
        prefix: u32,
        bytes: usize,
    },
    #[error("{section} record {index} is not a number of 1 to 15 digits")]
    Record { section: &'static str, index: usize },
    #[error("{section} record {index} is out of order (the file must be sorted)")]
    Order { section: &'static str, index: usize },
    #[error("prefix record {index} has {len} digits, a length the header's bitmap does not name")]
    Bitmap { index: usize, len: u32 },
}

/// A checked binary list, looked up in place.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Binary {
    exact: Vec<u64>,
    prefix: Vec<u64>,
    /// Bit L: prefixes of L digits are present.
    lengths: u16,
}

impl fmt::Debug for Binary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binary")
            .field("exact", &self.exact.len())
            .field("prefix", &self.prefix.len())
            .field("lengths", &format_args!("{:#06x}", self.lengths))
            .finish()
    }
}

/// What a list says of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Listed exactly: spam or allowed.
    Exact { spam: bool },
    /// In a range: its first `len` digits are `prefix` (as a number).
    Range { spam: bool, prefix: u64, len: u32 },
}

impl Verdict {
    pub fn spam(self) -> bool {
        match self {
            Verdict::Exact { spam } | Verdict::Range { spam, .. } => spam,
        }
    }
}

impl Binary {
    /// Reads and checks a whole file.
    pub fn parse(bytes: &[u8]) -> Result<Binary, BinaryError> {
        if bytes.len() > MAX_BYTES {
            return Err(BinaryError::TooLarge);
        }
        if bytes.len() < HEADER {
            return Err(BinaryError::Short(bytes.len()));
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if &magic != MAGIC {
            return Err(BinaryError::Magic(magic));
        }
        let version = u16_at(4);
        if version != VERSION {
            return Err(BinaryError::Version(version));
        }
        let lengths = u16_at(6);
        let (exact, prefix) = (u32_at(8), u32_at(12));
        let body = &bytes[HEADER..];
        if (exact as u64 + prefix as u64) * 8 != body.len() as u64 {
            return Err(BinaryError::Length {
                exact,
                prefix,
                bytes: body.len(),
            });
        }
        let records = |from: usize, n: usize, section: &'static str| {
            let mut out = Vec::with_capacity(n);
            for index in 0..n {
                let at = from + index * 8;
                let r = u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
                let len = key_len(r >> 8);
                if r & RESERVED != 0 || len.is_none() {
                    return Err(BinaryError::Record { section, index });
                }
                // Strictly ascending without the payload bit: a binary search finds each once.
                if out.last().is_some_and(|&p: &u64| p >> 8 >= r >> 8) {
                    return Err(BinaryError::Order { section, index });
                }
                out.push(r);
            }
            Ok(out)
        };
        let exact_records = records(0, exact as usize, "exact")?;
        let prefix_records = records(exact as usize * 8, prefix as usize, "prefix")?;
        for (index, r) in prefix_records.iter().enumerate() {
            let len = key_len(r >> 8).unwrap_or(0);
            if lengths & (1 << len) == 0 {
                return Err(BinaryError::Bitmap { index, len });
            }
        }
        // Lengths no record has cost a search each: not kept.
        let lengths = prefix_records
            .iter()
            .fold(0, |b, r| b | 1 << key_len(r >> 8).unwrap_or(0));
        Ok(Binary {
            exact: exact_records,
            prefix: prefix_records,
            lengths,
        })
    }

    /// The spam ranges, as (prefix, its length in digits).
    pub fn spam_ranges(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.ranges().filter(|r| r.2).map(|(p, len, _)| (p, len))
    }

    /// Every range: (prefix, its length in digits, spam).
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u32, bool)> + '_ {
        self.prefix.iter().map(|r| {
            let (prefix, len) = digits_of(r >> 8);
            (prefix, len, r & BLACK != 0)
        })
    }

    /// The verdict for an E.164 number (its digits as a number, as
    /// [`super::parse_phone`] reads it): the exact record, else the
    /// longest prefix; `None` when the list does not know it. No
    /// allocation; a binary search per prefix length present.
    pub fn lookup(&self, phone: u64) -> Option<Verdict> {
        let (key, n) = key_of(phone)?;
        if let Some(r) = find(&self.exact, key) {
            return Some(Verdict::Exact {
                spam: r & BLACK != 0,
            });
        }
        let mut lengths = self.lengths & ((1u32 << n) as u16).wrapping_sub(1);
        while lengths != 0 {
            let len = 15 - lengths.leading_zeros();
            lengths &= !(1 << len);
            let cut = key - key % POW11[(SLOTS - len) as usize];
            if let Some(r) = find(&self.prefix, cut) {
                return Some(Verdict::Range {
                    spam: r & BLACK != 0,
                    prefix: phone / 10u64.pow(n - len),
                    len,
                });
            }
        }
        None
    }
}

/// The record with `key`, by binary search on the key bits.
fn find(sorted: &[u64], key: u64) -> Option<u64> {
    sorted
        .binary_search_by(|r| (r >> 8).cmp(&key))
        .ok()
        .map(|i| sorted[i])
}

/// The base-11 key of an E.164 number and its count of digits; `None`
/// for 0 or more than 15 digits.
fn key_of(phone: u64) -> Option<(u64, u32)> {
    if phone == 0 {
        return None;
    }
    let n = phone.ilog10() + 1;
    if n > MAX_DIGITS {
        return None;
    }
    // Digit i (from the left) sits in slot i, worth 11^(15 - i).
    let mut key = 0;
    let mut rest = phone;
    for i in (0..n).rev() {
        key += (rest % 10 + 1) * POW11[(SLOTS - 1 - i) as usize];
        rest /= 10;
    }
    Some((key, n))
}

/// The digits a key holds: 1 to 15, each a digit, then only terminators.
fn key_len(key: u64) -> Option<u32> {
    if key >= POW11[16] {
        return None;
    }
    let mut len = 0;
    let mut ended = false;
    for slot in 0..SLOTS {
        let symbol = key / POW11[(SLOTS - 1 - slot) as usize] % 11;
        match (symbol, ended) {
            (0, _) => ended = true,
            (_, true) => return None,
            _ => len += 1,
        }
    }
    (1..=MAX_DIGITS).contains(&len).then_some(len)
}

/// A key's digits as a number, and how many.
fn digits_of(key: u64) -> (u64, u32) {
    let len = key_len(key).unwrap_or(0);
    let mut n = 0;
    for slot in 0..len {
        n = n * 10 + (key / POW11[(SLOTS - 1 - slot) as usize] % 11 - 1);
    }
    (n, len)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A file as PhoneBlock writes it, from digit strings (made here from
    /// the format's description, not from our reader).
    pub(crate) fn file(exact: &[(&str, bool)], prefix: &[(&str, bool)]) -> Vec<u8> {
        let record = |digits: &str, black: bool| {
            let mut k = 0u64;
            for i in 0..16 {
                let s = digits
                    .as_bytes()
                    .get(i)
                    .map_or(0, |d| u64::from(d - b'0') + 1);
                k = k * 11 + s;
            }
            k << 8 | u64::from(black)
        };
        let sorted = |v: &[(&str, bool)]| {
            let mut r: Vec<u64> = v.iter().map(|(d, b)| record(d, *b)).collect();
            r.sort_unstable();
            r
        };
        let (e, p) = (sorted(exact), sorted(prefix));
        let bitmap = prefix.iter().fold(0u16, |b, (d, _)| b | 1 << d.len());
        let mut out = b"PBBL".to_vec();
        out.extend(1u16.to_le_bytes());
        out.extend(bitmap.to_le_bytes());
        out.extend((e.len() as u32).to_le_bytes());
        out.extend((p.len() as u32).to_le_bytes());
        for r in e.iter().chain(&p) {
            out.extend(r.to_le_bytes());
        }
        out
    }

    #[test]
    fn exact_then_the_longest_range() {
        let f = file(
            &[("4915712345670", false), ("4930111", true)],
            &[
                ("491571234567", true),
                ("4915712345", true),
                ("49301", false),
            ],
        );
        let b = Binary::parse(&f).unwrap();
        assert_eq!((b.exact.len(), b.prefix.len()), (2, 3));
        // In the /10 range.
        assert_eq!(
            b.lookup(4915712345678),
            Some(Verdict::Range {
                spam: true,
                prefix: 491571234567,
                len: 12
            })
        );
        // Only in the /100 one.
        assert_eq!(
            b.lookup(4915712345599),
            Some(Verdict::Range {
                spam: true,
                prefix: 4915712345,
                len: 10
            })
        );
        // An exact white entry inside a spam range.
        assert_eq!(
            b.lookup(4915712345670),
            Some(Verdict::Exact { spam: false })
        );
        assert_eq!(b.lookup(4930111), Some(Verdict::Exact { spam: true }));
        assert_eq!(b.lookup(493011234).map(Verdict::spam), Some(false));
        assert_eq!(b.lookup(4989123456), None);
        // A number no longer than a prefix is not in it.
        assert_eq!(b.lookup(4915712345), None);
        assert_eq!(b.spam_ranges().count(), 2);
        assert!(b.spam_ranges().any(|r| r == (491571234567, 12)));
    }

    #[test]
    fn a_hostile_file_is_refused() {
        let good = file(&[("4930111", true)], &[("4915712345", true)]);
        assert!(Binary::parse(&good).is_ok());
        let with = |at: usize, b: u8| {
            let mut f = good.clone();
            f[at] = b;
            Binary::parse(&f)
        };
        assert!(matches!(with(0, b'X'), Err(BinaryError::Magic(_))));
        assert_eq!(with(4, 2), Err(BinaryError::Version(2)));
        assert!(matches!(with(8, 5), Err(BinaryError::Length { .. })));
        assert!(matches!(
            Binary::parse(&good[..good.len() - 3]),
            Err(BinaryError::Length { .. })
        ));
        assert_eq!(Binary::parse(&good[..10]), Err(BinaryError::Short(10)));
        // A reserved bit.
        assert!(matches!(with(16, 0x02), Err(BinaryError::Record { .. })));
        // The bitmap does not name the range's length.
        assert!(matches!(with(7, 0), Err(BinaryError::Bitmap { .. })));
        // Out of order.
        let unsorted = {
            let mut f = file(&[("4930111", true), ("4930222", true)], &[]);
            let (a, b) = f[16..].split_at_mut(8);
            a.swap_with_slice(b);
            f
        };
        assert!(matches!(
            Binary::parse(&unsorted),
            Err(BinaryError::Order { index: 1, .. })
        ));
        // A digit after the terminator.
        let gap = {
            let mut f = file(&[("4930111", true)], &[]);
            let r = u64::from_le_bytes(f[16..24].try_into().unwrap()) >> 8;
            let broken = (r + 5) << 8 | 1;
            f[16..24].copy_from_slice(&broken.to_le_bytes());
            f
        };
        assert!(matches!(
            Binary::parse(&gap),
            Err(BinaryError::Record { .. })
        ));
        assert_eq!(
            Binary::parse(&vec![0; MAX_BYTES + 1]),
            Err(BinaryError::TooLarge)
        );
    }

    #[test]
    fn keys_read_back() {
        for phone in [1, 49, 4930123456, 999_999_999_999_999] {
            let (k, n) = key_of(phone).unwrap();
            assert_eq!(digits_of(k), (phone, n));
        }
        assert_eq!(key_of(0), None);
        assert_eq!(key_of(1_000_000_000_000_000), None);
    }
}
