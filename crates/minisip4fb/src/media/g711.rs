//! G.711 (ITU-T G.711, 1988) encoders: 16-bit linear PCM to A-law (PCMA,
//! RTP payload type 8) and µ-law (PCMU, type 0), one byte per sample.
//! The emulator decodes with its own code, so a mistake here shows up as
//! audio that does not match in the tests, not as a mirrored bug.

/// µ-law's bias (G.711 §3: 33 in 14-bit units) and the largest magnitude
/// that still fits after it is added.
const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32_635;

/// One sample to A-law: 13-bit magnitude, 3-bit segment and 4-bit step,
/// even bits inverted (G.711 Table 1a).
pub fn alaw(sample: i16) -> u8 {
    let mut x = i32::from(sample) >> 3;
    let sign = if x >= 0 {
        0x80
    } else {
        x = -x - 1;
        0
    };
    let x = x.min(0xFFF);
    let (segment, step) = if x < 32 {
        (0, x >> 1)
    } else {
        let seg = 31 - (x as u32).leading_zeros() as i32 - 4;
        (seg, (x >> seg) & 0x0F)
    };
    ((sign | (segment << 4) | step) ^ 0x55) as u8
}

/// One sample to µ-law: biased 14-bit magnitude, segment and step, all
/// bits inverted (G.711 Table 2a).
pub fn ulaw(sample: i16) -> u8 {
    let mut x = i32::from(sample);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    let x = x.min(ULAW_CLIP) + ULAW_BIAS;
    let segment = 31 - (x as u32).leading_zeros() as i32 - 7;
    let step = (x >> (segment + 3)) & 0x0F;
    !((sign | (segment << 4) | step) as u8)
}

/// µ-law to one sample, the decoder's side (G.711 Table 2b): for the
/// built-in voice, stored as µ-law.
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let magnitude = ((i32::from(u & 0x0F) << 3) + ULAW_BIAS) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 {
        ULAW_BIAS - magnitude
    } else {
        magnitude - ULAW_BIAS
    }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every µ-law code decodes to a sample that encodes to it again
    /// (the two zeros, 0x7F and 0xFF, both decode to 0).
    #[test]
    fn ulaw_round_trips() {
        for u in 0..=255u8 {
            let back = ulaw(ulaw_to_linear(u));
            assert!(
                back == u || (u == 0x7F && back == 0xFF),
                "{u:#x} -> {back:#x}"
            );
        }
    }

    #[test]
    fn known_codes() {
        // Silence: A-law 0xD5 (positive zero), µ-law 0xFF.
        assert_eq!((alaw(0), ulaw(0)), (0xD5, 0xFF));
        assert_eq!((alaw(-1), ulaw(-1)), (0x55, 0x7F));
        // Full scale.
        assert_eq!((alaw(i16::MAX), alaw(i16::MIN)), (0xAA, 0x2A));
        assert_eq!((ulaw(i16::MAX), ulaw(i16::MIN)), (0x80, 0x00));
    }
}
