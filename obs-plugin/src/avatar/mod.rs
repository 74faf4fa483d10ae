//! The built-in 2D avatar: a procedurally drawn anime-style streamer.
//!
//! Pure Rust (tiny-skia), no OBS needed: [`AvatarRenderer`] turns an [`AvatarFrameState`] into
//! a straight-alpha RGBA frame, and [`Animator`] produces those states (blinks, breathing,
//! expressions, motions) from the audio sample clock.
//!
//! # Geometry contract
//!
//! End-to-end tests look at rendered frames, so where the mouth is drawn is part of the API:
//!
//! * the mouth is centred at [`MOUTH_CENTER`] (fractions of width, height) when at rest;
//! * breathing and motions move the head by at most [`MAX_HEAD_OFFSET`] × `min(W, H)`
//!   (≤ 2 % of the height), so the mouth always stays inside [`MOUTH_REGION`];
//! * the open-mouth interior is painted in [`MOUTH_INTERIOR_RGB`]; a `Closed` mouth leaves
//!   no such pixels in [`MOUTH_REGION`], a `Wide` one fills a large part of it.
//!   [`is_mouth_interior`] / [`count_mouth_interior`] classify pixels the same way the
//!   renderer's own tests do.

mod draw;
mod palette;
mod parts;
mod state;

pub use draw::{AvatarRenderer, RenderConfig};
pub use state::{Animator, AvatarFrameState, Expression, Motion, WavePose};

/// Centre of the mouth at rest, as fractions of (width, height).
pub const MOUTH_CENTER: (f32, f32) = (0.5, 0.62);

/// Largest head displacement from breathing + motions, as a fraction of `min(W, H)`.
pub const MAX_HEAD_OFFSET: f32 = 0.02;

/// Colour of the inside of an open mouth (straight RGB).
pub const MOUTH_INTERIOR_RGB: [u8; 3] = [110, 20, 35];

/// An axis-aligned box in fractions of the frame size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameRegion {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl FrameRegion {
    /// The region in whole pixels of a `width`×`height` frame: `(x0, y0, x1, y1)`, end-exclusive.
    pub fn pixel_bounds(&self, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let px = |f: f32, size: u32| ((f * size as f32).round() as u32).min(size);
        (
            px(self.x0, width),
            px(self.y0, height),
            px(self.x1, width),
            px(self.y1, height),
        )
    }
}

/// Where the mouth is, whatever the pose: x in [0.40 W, 0.60 W], y in [0.55 H, 0.70 H].
pub const MOUTH_REGION: FrameRegion = FrameRegion {
    x0: 0.40,
    y0: 0.55,
    x1: 0.60,
    y1: 0.70,
};

/// True for a (straight-alpha) pixel that belongs to an open mouth's interior.
///
/// The tolerance covers anti-aliasing and the slightly darker outline while excluding every
/// other colour the avatar uses (hair, lashes and the closed-mouth line are far away).
pub fn is_mouth_interior(rgba: [u8; 4]) -> bool {
    let [r, g, b, a] = rgba;
    let [ir, _, _] = MOUTH_INTERIOR_RGB;
    a >= 128 && r.abs_diff(ir) <= 40 && g <= 60 && b <= 75 && r >= g.saturating_add(40)
}

/// Number of mouth-interior pixels inside [`MOUTH_REGION`] of an RGBA frame.
pub fn count_mouth_interior(rgba: &[u8], width: u32, height: u32) -> usize {
    let (x0, y0, x1, y1) = MOUTH_REGION.pixel_bounds(width, height);
    let stride = width as usize * 4;
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (y as usize) * stride + (x as usize) * 4))
        .filter_map(|i| rgba.get(i..i + 4))
        .filter(|px| is_mouth_interior([px[0], px[1], px[2], px[3]]))
        .count()
}

#[cfg(test)]
mod tests;
