//! Reading the avatar's mouth back out of OBS's output, for lip-sync checks.
//!
//! The AI Avatar source draws an open mouth's interior in a dark red, inside a fixed box of its
//! frame (the plugin's `MOUTH_REGION` contract: x 40–60 %, y 55–70 %). These helpers measure how
//! much of that box is mouth interior — in a screenshot of the source, or in a recorded program
//! frame once the avatar's place on the canvas is known from its scene-item transform.

use anyhow::Result;
use obws::requests::scene_items::Id as ItemId;

use crate::media::{self, RgbFrame};

/// The mouth box of the avatar frame, as fractions: (x0, y0, x1, y1).
pub const MOUTH_BOX: (f32, f32, f32, f32) = (0.40, 0.55, 0.60, 0.70);

/// Mouth interior: dark red, clearly redder than skin, lips or background. Loose enough to
/// survive H.264 chroma subsampling in recordings.
pub fn is_mouth_interior([r, g, b]: [u8; 3]) -> bool {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    (60..=190).contains(&r) && g < 75 && b < 90 && r > 2 * g
}

/// Share (0..1) of mouth-interior pixels in the mouth box of a `w`×`h` avatar image.
pub fn mouth_openness(pixel: impl Fn(u32, u32) -> [u8; 3], w: u32, h: u32) -> f32 {
    let (x0, y0, x1, y1) = MOUTH_BOX;
    let (x0, x1) = ((x0 * w as f32) as u32, (x1 * w as f32) as u32);
    let (y0, y1) = ((y0 * h as f32) as u32, (y1 * h as f32) as u32);
    let dark: u32 = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .map(|(x, y)| u32::from(is_mouth_interior(pixel(x, y))))
        .sum();
    dark as f32 / ((x1 - x0) * (y1 - y0)).max(1) as f32
}

pub fn frame_mouth_openness(frame: &RgbFrame) -> f32 {
    mouth_openness(|x, y| frame.pixel(x, y), frame.width, frame.height)
}

/// Where a source is drawn on the canvas in `scene`: (x, y, w, h) in canvas pixels. Handles
/// the "scale inner, centred" bounds the sidecar gives the items it creates, and plain items.
pub async fn item_canvas_box(
    client: &obws::Client,
    scene: &str,
    source: &str,
) -> Result<(u32, u32, u32, u32)> {
    let item = client
        .scene_items()
        .id(ItemId {
            scene,
            source,
            search_offset: None,
        })
        .await?;
    let t = client.scene_items().transform(scene, item).await?;
    // With a bounding box OBS keeps scale at 1 and fits the source into the box itself
    // ("scale inner": uniform, centred), so the drawn size comes from the bounds.
    let (w, h, bw, bh) = if t.bounds_type == obws::common::BoundsType::ScaleInner {
        let s = (t.bounds_width / t.source_width).min(t.bounds_height / t.source_height);
        (
            t.source_width * s,
            t.source_height * s,
            t.bounds_width,
            t.bounds_height,
        )
    } else {
        (t.width, t.height, t.width, t.height)
    };
    let x0 = t.position_x + (bw - w) / 2.0;
    let y0 = t.position_y + (bh - h) / 2.0;
    Ok((
        x0.round() as u32,
        y0.round() as u32,
        w.round() as u32,
        h.round() as u32,
    ))
}

/// Audio level (dBFS, floored at −80) of the `1/fps` s of `audio` starting at `t` seconds.
pub fn level_at(audio: &[f32], rate: u32, t: f64, fps: f64) -> f32 {
    let start = ((t * f64::from(rate)) as usize).min(audio.len());
    let end = (start + (f64::from(rate) / fps) as usize).min(audio.len());
    let block = &audio[start..end];
    if block.is_empty() {
        return -80.0;
    }
    media::rms_windows(block, rate, block.len() as f64 / f64::from(rate))
        .first()
        .copied()
        .unwrap_or(-80.0)
        .max(-80.0)
}

/// Pearson correlation of `a[i + lag]` with `b[i]` over their overlap.
pub fn correlation(a: &[f32], b: &[f32], lag: i32) -> f32 {
    let pairs: Vec<(f32, f32)> = (0..b.len())
        .filter_map(|i| {
            let j = i as i64 + i64::from(lag);
            (j >= 0)
                .then(|| a.get(j as usize).map(|x| (*x, b[i])))
                .flatten()
        })
        .collect();
    if pairs.len() < 2 {
        return 0.0;
    }
    let n = pairs.len() as f32;
    let ma = pairs.iter().map(|p| p.0).sum::<f32>() / n;
    let mb = pairs.iter().map(|p| p.1).sum::<f32>() / n;
    let cov: f32 = pairs.iter().map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = pairs.iter().map(|(x, _)| (x - ma).powi(2)).sum();
    let vb: f32 = pairs.iter().map(|(_, y)| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt()).max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_finds_the_lag() {
        let b: Vec<f32> = (0..100).map(|i| ((i / 10) % 2) as f32).collect();
        let a: Vec<f32> = (0..100)
            .map(|i| if i < 3 { 0.0 } else { b[i - 3] })
            .collect();
        let best = (-5..=5)
            .max_by(|x, y| correlation(&a, &b, *x).total_cmp(&correlation(&a, &b, *y)))
            .unwrap();
        assert_eq!(best, 3);
        assert!(correlation(&a, &b, 3) > 0.99);
    }

    #[test]
    fn openness_counts_dark_red_in_the_mouth_box_only() {
        let closed = mouth_openness(|_, _| [230, 190, 170], 100, 100);
        let open = mouth_openness(
            |x, y| {
                if (45..55).contains(&x) && (58..66).contains(&y) {
                    [110, 20, 35]
                } else {
                    [230, 190, 170]
                }
            },
            100,
            100,
        );
        let outside = mouth_openness(
            |_, y| if y < 50 { [110, 20, 35] } else { [0, 0, 0] },
            100,
            100,
        );
        assert_eq!((closed, outside), (0.0, 0.0));
        assert!(open > 0.2, "{open}");
    }
}
