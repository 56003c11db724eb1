//! The receipt's QR code, as SVG and PNG. Error correction M (15%): a
//! receipt code fits about version 9–11, which prints at 2 cm with modules
//! near the 0.34 mm minimum of ICAO's seals; the code is all Base45, which is
//! QR's alphanumeric set, so the QR is in alphanumeric mode.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of blank margin each side (the QR standard's quiet zone).
const QUIET: usize = 4;
/// The printed width the images are made for.
const PRINT_MM: f64 = 20.0;

fn qr(code: &str) -> QrCode {
    // A code longer than a QR holds was refused before it was signed (a receipt is a few hundred chars).
    QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M).expect("a receipt code fits a QR")
}

/// An SVG 20 mm wide (the viewBox counts modules, so it scales sharply).
pub fn svg(code: &str) -> String {
    let qr = qr(code);
    let image = qr.render::<qrcode::render::svg::Color>().module_dimensions(1, 1).quiet_zone(true).build();
    let side = qr.width() + 2 * QUIET;
    // The renderer sizes the image in pixels; a print size in mm is what a receipt printer needs.
    image.replacen(
        &format!(r#"width="{side}" height="{side}""#),
        &format!(r#"width="{PRINT_MM}mm" height="{PRINT_MM}mm""#),
        1,
    )
}

/// A black-and-white PNG, `scale` pixels a module, whose resolution (pHYs)
/// makes it print 20 mm wide.
pub fn png(code: &str, scale: usize) -> Vec<u8> {
    let qr = qr(code);
    let width = qr.width();
    let side = (width + 2 * QUIET) * scale;
    let colors = qr.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * scale..(my + 1) * scale {
                pixels[y * side + mx * scale..y * side + (mx + 1) * scale].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let per_metre = (side as f64 / (PRINT_MM / 1000.0)).round() as u32;
        encoder.set_pixel_dims(Some(png::PixelDimensions { xppu: per_metre, yppu: per_metre, unit: png::Unit::Meter }));
        let mut writer = encoder.write_header().expect("writing to a Vec cannot fail");
        writer.write_image_data(&pixels).expect("the buffer has the image's size");
    }
    out
}

/// The QR version (size class) a code takes, for tests and docs.
pub fn version(code: &str) -> i16 {
    match qr(code).version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_is_20_mm_and_the_png_a_png() {
        let code = format!("BW1:{}", "6BFOXN*TS0BI$ZDFRH".repeat(12));
        let s = svg(&code);
        assert!(s.contains(r#"width="20mm""#), "{}", &s[..200]);
        let p = png(&code, 8);
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
    }
}
