//! Announcements: a WAV file read once (when the rules compile, never on
//! a call), made 8 kHz mono with a band-limited sinc resampler, and
//! played frame by frame.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
    WindowFunction,
};

use super::rtp::FRAME;

/// G.711's sampling rate.
pub const RATE: u32 = 8000;
/// The longest announcement unless the config says otherwise (PhoneBlock
/// takes up to 30 s).
pub const MAX_DEFAULT: Duration = Duration::from_secs(30);
/// A WAV file larger than this is not read: 30 s of 48 kHz stereo is 5.8 MB.
const MAX_FILE: u64 = 64 << 20;

/// The config's name for the announcement shipped in the binary.
pub const BUILTIN: &str = "default";
/// "Dieser Anschluss nimmt keine Werbeanrufe an …" and the same in
/// English: espeak-ng, made by `scripts/announcement`, as µ-law.
const BUILTIN_ULAW: &[u8] = include_bytes!("../../../../assets/announcement.ul");

/// Why an announcement cannot be used; says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum AnnouncementError {
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: crate::guard::file::ReadError,
    },
    #[error("{}: not a WAV file we can read: {source}", path.display())]
    Wav { path: PathBuf, source: hound::Error },
    #[error(
        "{}: {what}; use 16-bit PCM WAV, e.g. `sox IN -b 16 -e signed-integer OUT.wav`",
        path.display()
    )]
    Format { path: PathBuf, what: String },
    #[error("{}: no samples", path.display())]
    Empty { path: PathBuf },
    #[error("{}: resampling failed: {why}", path.display())]
    Resample { path: PathBuf, why: String },
}

/// Audio to play: 8 kHz mono 16-bit samples, cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct Announcement {
    samples: Arc<[i16]>,
    /// Where it came from (`default` or the file), for logs.
    name: Arc<str>,
}

impl std::fmt::Debug for Announcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Announcement({}, {:?})", self.name, self.duration())
    }
}

impl Announcement {
    /// Reads a WAV file (8 to 48 kHz, mono or stereo, 16-bit PCM). What
    /// is longer than `max` is cut off, with a warning.
    pub fn load(path: &Path, max: Duration) -> Result<Announcement, AnnouncementError> {
        // Read through the guard (no FIFO, bounded in size and time), then
        // decoded from memory.
        let owned = path.to_owned();
        let bytes = crate::guard::file::within(move || {
            use std::io::Read;
            let (file, meta) = crate::guard::file::open_regular(&owned, MAX_FILE)?;
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            file.take(MAX_FILE).read_to_end(&mut bytes)?;
            Ok(bytes)
        })
        .map_err(|source| AnnouncementError::Open {
            path: path.to_owned(),
            source,
        })?;
        Announcement::read(std::io::Cursor::new(bytes), path, max)
    }

    /// The announcement shipped in the binary (German, then English).
    pub fn builtin() -> Announcement {
        Announcement::from_ulaw(BUILTIN, BUILTIN_ULAW)
    }

    /// Made from 8 kHz G.711 µ-law (the voices built in).
    pub fn from_ulaw(name: &str, ulaw: &[u8]) -> Announcement {
        let samples = ulaw
            .iter()
            .map(|&u| super::g711::ulaw_to_linear(u))
            .collect();
        Announcement::from_samples(name, samples)
    }

    /// [`Announcement::builtin`] for `default`, else the file.
    pub fn named(name: &Path, max: Duration) -> Result<Announcement, AnnouncementError> {
        if name == Path::new(BUILTIN) {
            let mut a = Announcement::builtin();
            a.cut(max);
            Ok(a)
        } else {
            Announcement::load(name, max)
        }
    }

    fn read<R: std::io::Read>(
        r: R,
        path: &Path,
        max: Duration,
    ) -> Result<Announcement, AnnouncementError> {
        let reader = hound::WavReader::new(r).map_err(|source| AnnouncementError::Wav {
            path: path.to_owned(),
            source,
        })?;
        let spec = reader.spec();
        let format = |what: String| AnnouncementError::Format {
            path: path.to_owned(),
            what,
        };
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            return Err(format(format!(
                "{}-bit {:?} samples",
                spec.bits_per_sample, spec.sample_format
            )));
        }
        if !(1..=2).contains(&spec.channels) {
            return Err(format(format!("{} channels", spec.channels)));
        }
        if !(RATE..=48_000).contains(&spec.sample_rate) {
            return Err(format(format!("{} Hz", spec.sample_rate)));
        }
        let channels = usize::from(spec.channels);
        // Only what will be played is read: `max`, plus a little for the
        // resampler's edge.
        let keep = (max.as_secs_f64() * f64::from(spec.sample_rate)) as usize + 64;
        let mut interleaved = Vec::new();
        for s in reader.into_samples::<i16>().take(keep * channels) {
            match s {
                Ok(s) => interleaved.push(s),
                // A file cut short (its header promises more): what is
                // there plays, as media players do.
                Err(e) if !interleaved.is_empty() => {
                    tracing::warn!(
                        "announcement {}: {e}; playing what was read",
                        path.display()
                    );
                    break;
                }
                Err(source) => {
                    return Err(AnnouncementError::Wav {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        }
        let total = keep.min(interleaved.len() / channels);
        let mono: Vec<f32> = interleaved
            .chunks_exact(channels)
            .map(|f| f.iter().map(|&s| f32::from(s)).sum::<f32>() / channels as f32)
            .collect();
        if mono.is_empty() {
            return Err(AnnouncementError::Empty {
                path: path.to_owned(),
            });
        }
        let samples =
            resample(&mono, spec.sample_rate).map_err(|why| AnnouncementError::Resample {
                path: path.to_owned(),
                why,
            })?;
        let mut a = Announcement {
            samples: samples.into(),
            name: path.display().to_string().into(),
        };
        if total >= keep {
            tracing::warn!(
                "announcement {}: longer than {} s; only that much is played (max_announcement)",
                path.display(),
                max.as_secs()
            );
        }
        a.cut(max);
        Ok(a)
    }

    /// Made from 8 kHz mono samples (a library user's own audio).
    pub fn from_samples(name: &str, samples: Vec<i16>) -> Announcement {
        Announcement {
            samples: samples.into(),
            name: name.into(),
        }
    }

    fn cut(&mut self, max: Duration) {
        let n = (max.as_secs_f64() * f64::from(RATE)) as usize;
        if self.samples.len() > n {
            self.samples = self.samples[..n].into();
        }
    }

    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(RATE))
    }

    /// How many 20 ms frames it takes; the last is padded with silence.
    pub fn frames(&self) -> usize {
        self.samples.len().div_ceil(FRAME)
    }

    /// Frame `k` encoded by `encode` into `out` (160 bytes).
    pub fn encode_frame(&self, k: usize, encode: fn(i16) -> u8, out: &mut [u8; FRAME]) {
        let start = (k * FRAME).min(self.samples.len());
        let end = (start + FRAME).min(self.samples.len());
        let frame = &self.samples[start..end];
        for (i, o) in out.iter_mut().enumerate() {
            *o = encode(frame.get(i).copied().unwrap_or(0));
        }
    }
}

/// To 8 kHz with a windowed-sinc resampler (band-limited to below 4 kHz,
/// so nothing above folds back into the speech band).
fn resample(mono: &[f32], rate: u32) -> Result<Vec<i16>, String> {
    let to_i16 = |x: f32| x.round().clamp(-32768.0, 32767.0) as i16;
    if rate == RATE {
        return Ok(mono.iter().copied().map(to_i16).collect());
    }
    let params = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2)
        .oversampling_factor(128)
        .interpolation(SincInterpolationType::Linear);
    let ratio = f64::from(RATE) / f64::from(rate);
    let mut r = Async::<f32>::new_sinc(ratio, 1.0, &params, 1024, 1, FixedAsync::Input)
        .map_err(|e| e.to_string())?;
    let input = InterleavedSlice::new(mono, 1, mono.len()).map_err(|e| e.to_string())?;
    let mut out = vec![0.0f32; r.process_all_needed_output_len(mono.len())];
    let frames = out.len();
    let mut output = InterleavedSlice::new_mut(&mut out, 1, frames).map_err(|e| e.to_string())?;
    let (_, written) = r
        .process_all_into_buffer(&input, &mut output, mono.len(), None)
        .map_err(|e| e.to_string())?;
    Ok(out[..written].iter().copied().map(to_i16).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        buf.into_inner()
    }

    fn tone(rate: u32, hz: f64, secs: f64) -> Vec<i16> {
        (0..(f64::from(rate) * secs) as usize)
            .map(|i| {
                (8000.0 * (i as f64 * hz * std::f64::consts::TAU / f64::from(rate)).sin()) as i16
            })
            .collect()
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    }

    #[test]
    fn any_common_rate_and_stereo_become_8khz_mono() {
        for rate in [8000, 16_000, 44_100, 48_000] {
            for channels in [1, 2] {
                let t = tone(rate, 440.0, 1.0);
                let interleaved: Vec<i16> = t
                    .iter()
                    .flat_map(|&s| std::iter::repeat_n(s, channels.into()))
                    .collect();
                let a = Announcement::read(
                    &wav(rate, channels, &interleaved)[..],
                    Path::new("t"),
                    MAX_DEFAULT,
                )
                .unwrap();
                let n = a.samples().len();
                assert!(
                    (7990..=8010).contains(&n),
                    "{rate} Hz x{channels}: {n} samples"
                );
                // A 440 Hz tone keeps its level (8000 peak: RMS ~5657).
                let r = rms(&a.samples()[400..7600]);
                assert!((5400.0..5900.0).contains(&r), "{rate} Hz: rms {r}");
            }
        }
    }

    #[test]
    fn a_tone_above_4khz_is_filtered_not_folded() {
        // 6 kHz at 48 kHz: sample dropping would fold it to 2 kHz at full level.
        let a = Announcement::read(
            &wav(48_000, 1, &tone(48_000, 6000.0, 1.0))[..],
            Path::new("t"),
            MAX_DEFAULT,
        )
        .unwrap();
        let r = rms(&a.samples()[400..7600]);
        assert!(r < 60.0, "rms {r}");
    }

    #[test]
    fn bad_files_say_what_to_do() {
        let e = |bytes: &[u8]| {
            Announcement::read(bytes, Path::new("x.wav"), MAX_DEFAULT)
                .unwrap_err()
                .to_string()
        };
        assert!(e(b"RIFF....").contains("x.wav: not a WAV file"));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 8,
            sample_format: hound::SampleFormat::Int,
        };
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
        w.write_sample(1i8).unwrap();
        w.finalize().unwrap();
        assert!(e(buf.get_ref()).contains("8-bit Int samples; use 16-bit PCM WAV"));
        assert!(e(&wav(96_000, 1, &[1; 10])).contains("96000 Hz"));
        assert!(e(&wav(8000, 1, &[])).contains("no samples"));
        // Cut short: the header promises 8000 samples, 2000 are there.
        let whole = wav(8000, 1, &[1000; 8000]);
        let cut =
            Announcement::read(&whole[..44 + 4000], Path::new("cut.wav"), MAX_DEFAULT).unwrap();
        assert_eq!(cut.samples().len(), 2000);
        let missing = Announcement::load(Path::new("/nonexistent/a.wav"), MAX_DEFAULT).unwrap_err();
        assert!(missing.to_string().starts_with("/nonexistent/a.wav: "));
    }

    #[test]
    fn long_files_are_cut_and_the_builtin_one_plays() {
        let a = Announcement::read(
            &wav(8000, 1, &tone(8000, 300.0, 3.0))[..],
            Path::new("t"),
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(a.samples().len(), 16_000);
        assert_eq!(a.frames(), 100);
        let b = Announcement::builtin();
        assert!(
            (Duration::from_secs(3)..Duration::from_secs(15)).contains(&b.duration()),
            "{b:?}"
        );
        assert!(rms(b.samples()) > 500.0);
        let mut frame = [0; FRAME];
        b.encode_frame(b.frames() - 1, super::super::g711::alaw, &mut frame);
        assert_eq!(
            frame[FRAME - 1],
            super::super::g711::alaw(0),
            "the last frame is padded with silence"
        );
    }
}
