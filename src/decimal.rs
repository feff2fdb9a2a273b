//! Fixed-point decimals (`1.234`) for the files a run writes: 100,000+ of them at scale, and
//! `{:.3}` takes core::fmt's exact float path (Dragon4) — a third of writing the JUnit file.

use std::fmt;

/// `value` with `places` decimals (at most 9), rounded half away from zero; negative and
/// non-finite values fall back to `{:.N}`.
#[derive(Clone, Copy, Debug)]
pub struct Fixed {
    pub value: f64,
    pub places: u32,
}

impl Fixed {
    pub fn new(value: f64, places: u32) -> Fixed {
        Fixed { value, places: places.min(9) }
    }
}

impl Fixed {
    /// The digits, written into `buf`; None for what `{:.N}` must render (negative, huge, NaN).
    pub fn digits<'b>(&self, buf: &'b mut [u8; 24]) -> Option<&'b str> {
        let scale = 10u64.pow(self.places);
        let scaled = (self.value * scale as f64).round();
        // Below 2^53 every integer is exact in an f64.
        if !(0.0..9.0e15).contains(&scaled) {
            return None;
        }
        let mut n = scaled as u64;
        // From the right: at most 16 digits and a point.
        let mut at = buf.len();
        let mut digits = 0;
        loop {
            if digits == self.places && self.places > 0 {
                at -= 1;
                buf[at] = b'.';
            }
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            digits += 1;
            if n == 0 && digits > self.places {
                break;
            }
        }
        Some(std::str::from_utf8(&buf[at..]).expect("ASCII digits"))
    }
}

impl fmt::Display for Fixed {
    /// Honours width and alignment (`{:>7}`) like a string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.digits(&mut [0; 24]) {
            Some(digits) => f.pad(digits),
            None => f.pad(&format!("{:.*}", self.places as usize, self.value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fixed;

    #[test]
    fn formats_like_fixed_precision() {
        let cases = [
            (0.0, 3, "0.000"),
            (0.1364, 3, "0.136"),
            (0.1365001, 3, "0.137"),
            (1.9996, 3, "2.000"),
            (12.5, 0, "13"),
            (1234.56789, 4, "1234.5679"),
            (0.00004, 4, "0.0000"),
            (-0.25, 2, "-0.25"),
            (f64::NAN, 3, "NaN"),
            (1e300, 1, &format!("{:.1}", 1e300)),
            (7.0, 1, "7.0"),
            (0.05, 1, "0.1"),
        ];
        for (value, places, want) in cases {
            assert_eq!(Fixed::new(value, places).to_string(), want, "{value} to {places} places");
        }
    }

    #[test]
    fn pads_like_a_string() {
        assert_eq!(format!("[{:>7}]", Fixed::new(12.3456, 2)), "[  12.35]");
        assert_eq!(format!("[{:<6}]", Fixed::new(0.5, 1)), "[0.5   ]");
    }

    #[test]
    fn agrees_with_core_fmt_away_from_ties() {
        let mut x = 0.0f64;
        while x < 50.0 {
            let ours = Fixed::new(x, 3).to_string();
            let core = format!("{x:.3}");
            // Only a value within a rounding error of a tie may come out differently.
            let tie = ((x * 1000.0).fract() - 0.5).abs() < 1e-6;
            assert!(ours == core || tie, "{x}: {ours} vs {core}");
            x += 0.000_731;
        }
    }
}
