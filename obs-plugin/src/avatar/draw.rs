//! Rasterising an [`AvatarFrameState`] with tiny-skia.

use avatar_link::lipsync::MouthShape;
use tiny_skia::{
    Color, FillRule, GradientStop, LineCap, LinearGradient, Mask, Paint, Path, Pixmap, Point,
    RadialGradient, SpreadMode, Stroke, Transform,
};

use super::palette::{self as pal, Rgba};
use super::parts::{self, Parts};
use super::{AvatarFrameState, Expression, MOUTH_CENTER, MOUTH_INTERIOR_RGB};

/// Output size and options of the renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderConfig {
    pub width: u32,
    pub height: u32,
    /// Draw the "AI" badge (Douyin and others require virtual anchors to be labelled).
    pub show_label: bool,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            width: 512,
            height: 512,
            show_label: true,
        }
    }
}

/// Draws the avatar into a reusable RGBA buffer.
///
/// The pixmap and the clip mask are allocated once per size and reused, and all shapes are
/// prebuilt (`Parts`); per frame only tiny-skia's small internal path copies are allocated.
pub struct AvatarRenderer {
    config: RenderConfig,
    pixmap: Pixmap,
    /// Clip for teeth and tongue (they must not spill over the lips).
    mask: Mask,
    parts: Parts,
    paints: Paints,
}

impl AvatarRenderer {
    /// Creates a renderer; sizes are clamped to at least 1×1.
    pub fn new(config: RenderConfig) -> Self {
        let config = RenderConfig {
            width: config.width.max(1),
            height: config.height.max(1),
            ..config
        };
        let (w, h) = (config.width, config.height);
        Self {
            config,
            pixmap: Pixmap::new(w, h).expect("non-zero pixmap size"),
            mask: Mask::new(w, h).expect("non-zero mask size"),
            parts: Parts::new(),
            paints: Paints::new(),
        }
    }

    pub fn config(&self) -> RenderConfig {
        self.config
    }

    pub fn width(&self) -> u32 {
        self.config.width
    }

    pub fn height(&self) -> u32 {
        self.config.height
    }

    /// Renders one frame and returns it as straight-alpha RGBA, `width * 4` bytes per row.
    pub fn render(&mut self, state: &AvatarFrameState) -> &[u8] {
        self.pixmap.fill(Color::TRANSPARENT);
        let (w, h) = (self.config.width as f32, self.config.height as f32);
        let unit = w.min(h);
        let base =
            Transform::from_row(unit, 0.0, 0.0, unit, MOUTH_CENTER.0 * w, MOUTH_CENTER.1 * h);
        let body = base.pre_translate(0.0, state.body_offset);
        let head = base.pre_translate(state.head_offset.0, state.head_offset.1);

        // Back to front: long hair behind the body, body, face, then the fringe and brows.
        fill(
            &mut self.pixmap,
            &self.parts.hair_back,
            &solid(pal::HAIR_DARK),
            head,
        );
        self.draw_body(body, state);
        self.draw_face(head, state);
        self.draw_hair_front(head, state.expression);
        if self.config.show_label {
            // Screen space, top-left corner: the badge must not move with the avatar.
            let ts = Transform::from_row(unit, 0.0, 0.0, unit, 0.03 * unit, 0.03 * unit);
            fill(
                &mut self.pixmap,
                &self.parts.badge_plate,
                &solid(pal::BADGE_PLATE),
                ts,
            );
            fill(
                &mut self.pixmap,
                &self.parts.badge_text,
                &solid(pal::BADGE_TEXT),
                ts,
            );
        }
        // The pixmap is cleared at the start of every frame, so it can be converted to straight
        // alpha in place instead of being copied.
        demultiply_in_place(self.pixmap.data_mut());
        self.pixmap.data()
    }

    fn draw_body(&mut self, ts: Transform, state: &AvatarFrameState) {
        let p = &self.parts;
        fill(&mut self.pixmap, &p.neck, &solid(pal::SKIN_SHADOW), ts);
        fill(&mut self.pixmap, &p.body, &solid(pal::SHIRT), ts);
        stroke(
            &mut self.pixmap,
            &p.shoulders,
            &solid(pal::SHIRT_LINE),
            0.005,
            ts,
        );
        fill(&mut self.pixmap, &p.collar, &solid(pal::COLLAR), ts);
        fill(&mut self.pixmap, &p.neckline, &solid(pal::SKIN_SHADOW), ts);
        fill(&mut self.pixmap, &p.ribbon, &solid(pal::RIBBON), ts);
        if let Some(wave) = state.wave {
            // The hand rises from below the frame and rotates around its wrist.
            let dy = (1.0 - wave.raise) * parts::HAND_HIDDEN_DY;
            let arm_ts = ts.pre_translate(0.0, dy);
            stroke(
                &mut self.pixmap,
                &p.arm,
                &solid(pal::SHIRT_LINE),
                0.078,
                arm_ts,
            );
            stroke(&mut self.pixmap, &p.arm, &solid(pal::SHIRT), 0.07, arm_ts);
            let hand_ts = arm_ts
                .pre_translate(parts::HAND_X, parts::HAND_Y)
                .pre_concat(Transform::from_rotate_at(wave.angle_deg, 0.0, 0.05));
            fill(&mut self.pixmap, &p.hand, &solid(pal::SKIN), hand_ts);
            stroke(
                &mut self.pixmap,
                &p.hand,
                &solid(pal::SKIN_LINE),
                0.004,
                hand_ts,
            );
        }
    }

    fn draw_face(&mut self, ts: Transform, state: &AvatarFrameState) {
        let p = &self.parts;
        // The shadow the chin casts on the neck, in head space so it follows nods.
        fill(
            &mut self.pixmap,
            &p.chin_shadow,
            &solid(pal::SKIN_SHADOW),
            ts,
        );
        fill(&mut self.pixmap, &p.head, &solid(pal::SKIN), ts);
        stroke(&mut self.pixmap, &p.head, &solid(pal::SKIN_LINE), 0.004, ts);

        let blush = if state.expression == Expression::Happy {
            &self.paints.blush_strong
        } else {
            &self.paints.blush
        };
        for side in [1.0, -1.0] {
            let blush_ts = ts
                .pre_translate(side * parts::BLUSH_X, parts::BLUSH_Y)
                .pre_scale(parts::BLUSH_RX, parts::BLUSH_RY);
            fill(&mut self.pixmap, &p.unit_disc, blush, blush_ts);
        }

        for side in [1.0, -1.0] {
            self.draw_eye(ts, side, state);
        }
        stroke(
            &mut self.pixmap,
            &self.parts.nose,
            &solid(pal::NOSE),
            0.005,
            ts,
        );
        self.draw_mouth(ts, state);
    }

    /// One eye; `side` is +1 for the right-hand one and −1 for its mirror image.
    fn draw_eye(&mut self, head: Transform, side: f32, state: &AvatarFrameState) {
        let p = &self.parts;
        let centre = head.pre_translate(side * parts::EYE_X, parts::EYE_Y);
        let mirrored = centre.pre_scale(side, 1.0);
        let line = solid(pal::LASH);
        if state.expression == Expression::Happy {
            stroke(&mut self.pixmap, &p.eye_happy, &line, 0.012, mirrored);
            return;
        }
        let openness = state.eye_open.clamp(0.0, 1.0) * expression_openness(state.expression);
        if openness < 0.2 {
            stroke(&mut self.pixmap, &p.lid_closed, &line, 0.011, mirrored);
            return;
        }
        // Surprise widens the eye and shows more white around a smaller iris.
        let (zoom, iris_scale) = if state.expression == Expression::Surprised {
            (1.1, 0.78)
        } else {
            (1.0, 1.0)
        };
        // Blinking squashes the eye towards its lower part, so the upper lid seems to drop.
        let open = |t: Transform| {
            t.pre_scale(zoom, zoom)
                .pre_translate(0.0, parts::BLINK_PIVOT_Y)
                .pre_scale(1.0, openness)
                .pre_translate(0.0, -parts::BLINK_PIVOT_Y)
        };
        let eye = open(mirrored);
        let iris = eye.pre_scale(iris_scale, iris_scale);
        fill(&mut self.pixmap, &p.eye_white, &solid(pal::EYE_WHITE), eye);
        fill(&mut self.pixmap, &p.iris, &self.paints.iris, iris);
        stroke(
            &mut self.pixmap,
            &p.iris,
            &solid(pal::IRIS_RING),
            0.004,
            iris,
        );
        fill(&mut self.pixmap, &p.pupil, &solid(pal::PUPIL), iris);
        // Highlights are not mirrored: the light comes from the same side for both eyes.
        let unmirrored = open(centre).pre_scale(iris_scale, iris_scale);
        let white = solid(pal::HIGHLIGHT);
        fill(&mut self.pixmap, &p.highlight_big, &white, unmirrored);
        fill(&mut self.pixmap, &p.highlight_small, &white, unmirrored);
        fill(&mut self.pixmap, &p.upper_lash, &line, eye);
        stroke(
            &mut self.pixmap,
            &p.lower_lash,
            &solid(pal::LOWER_LASH),
            0.004,
            eye,
        );

        // Brows are drawn later, over the fringe; see `draw_hair_front`.
    }

    fn draw_mouth(&mut self, ts: Transform, state: &AvatarFrameState) {
        let p = &self.parts;
        let index = match state.mouth {
            MouthShape::Closed => {
                let line = solid(pal::MOUTH_LINE);
                stroke(
                    &mut self.pixmap,
                    p.mouth_closed(state.expression),
                    &line,
                    0.008,
                    ts,
                );
                return;
            }
            MouthShape::Small => 0,
            MouthShape::Medium => 1,
            MouthShape::Wide => 2,
        };
        let mouth = &p.mouth_open[index];
        let [r, g, b] = MOUTH_INTERIOR_RGB;
        fill(&mut self.pixmap, mouth, &solid([r, g, b, 255]), ts);
        if state.mouth >= MouthShape::Medium {
            // Teeth along the upper lip and, when wide open, a tongue at the bottom, both
            // clipped to the mouth opening.
            let (w, h) = parts::open_mouth_size(state.mouth).unwrap_or_default();
            self.mask.clear();
            self.mask.fill_path(mouth, FillRule::Winding, true, ts);
            let teeth = ts.pre_translate(0.0, -h * 0.5).pre_scale(w * 0.5, h * 0.16);
            fill_masked(
                &mut self.pixmap,
                &p.unit_disc,
                &solid(pal::TEETH),
                teeth,
                &self.mask,
            );
            if state.mouth == MouthShape::Wide {
                let tongue = ts.pre_translate(0.0, h * 0.36).pre_scale(w * 0.3, h * 0.2);
                fill_masked(
                    &mut self.pixmap,
                    &p.unit_disc,
                    &solid(pal::TONGUE),
                    tongue,
                    &self.mask,
                );
            }
        }
        stroke(
            &mut self.pixmap,
            mouth,
            &solid(pal::MOUTH_OUTLINE),
            0.005,
            ts,
        );
    }

    fn draw_hair_front(&mut self, ts: Transform, expression: Expression) {
        let p = &self.parts;
        let hair = solid(pal::HAIR);
        for side in [1.0, -1.0] {
            fill(
                &mut self.pixmap,
                &p.side_lock,
                &hair,
                ts.pre_scale(side, 1.0),
            );
        }
        fill(&mut self.pixmap, &p.fringe, &hair, ts);
        stroke(
            &mut self.pixmap,
            &p.hair_shine,
            &solid(pal::HAIR_SHINE),
            0.014,
            ts,
        );
        stroke(&mut self.pixmap, &p.ahoge, &hair, 0.018, ts);

        // Brows sit on top of the fringe, anime style, so expressions stay readable.
        let (raise, angle, arch) = brow_pose(expression);
        for side in [1.0, -1.0] {
            let brow = ts
                .pre_scale(side, 1.0)
                .pre_translate(parts::BROW_X, parts::BROW_Y + raise)
                .pre_rotate(angle)
                .pre_scale(1.0, arch);
            fill(&mut self.pixmap, &p.brow, &solid(pal::BROW), brow);
        }
    }
}

/// How far an expression opens the eyes (multiplied with the blink).
fn expression_openness(expression: Expression) -> f32 {
    match expression {
        Expression::Angry => 0.72,
        Expression::Sad => 0.85,
        _ => 1.0,
    }
}

/// Brow raise (face units, negative = up), rotation (degrees, positive lifts the inner end)
/// and arch (vertical scale) per expression.
fn brow_pose(expression: Expression) -> (f32, f32, f32) {
    match expression {
        Expression::Neutral => (0.0, 0.0, 1.0),
        Expression::Happy => (-0.012, -4.0, 1.4),
        Expression::Surprised => (-0.022, 0.0, 1.5),
        Expression::Sad => (-0.004, 16.0, 1.0),
        Expression::Angry => (0.012, -20.0, 1.1),
    }
}

fn fill(pixmap: &mut Pixmap, path: &Path, paint: &Paint, ts: Transform) {
    pixmap.fill_path(path, paint, FillRule::Winding, ts, None);
}

fn fill_masked(pixmap: &mut Pixmap, path: &Path, paint: &Paint, ts: Transform, mask: &Mask) {
    pixmap.fill_path(path, paint, FillRule::Winding, ts, Some(mask));
}

/// Strokes with round caps; `width` is in face units (the transform scales it to pixels).
fn stroke(pixmap: &mut Pixmap, path: &Path, paint: &Paint, width: f32, ts: Transform) {
    let stroke = Stroke {
        width,
        line_cap: LineCap::Round,
        ..Stroke::default()
    };
    pixmap.stroke_path(path, paint, &stroke, ts, None);
}

/// Paints that are more than a flat colour, built once.
struct Paints {
    iris: Paint<'static>,
    blush: Paint<'static>,
    blush_strong: Paint<'static>,
}

impl Paints {
    fn new() -> Self {
        let iris = LinearGradient::new(
            Point::from_xy(0.0, -0.045),
            Point::from_xy(0.0, 0.058),
            vec![
                GradientStop::new(0.0, color(pal::IRIS_TOP)),
                GradientStop::new(1.0, color(pal::IRIS_BOTTOM)),
            ],
            SpreadMode::Pad,
            Transform::identity(),
        );
        Self {
            iris: shader_paint(iris, pal::IRIS_BOTTOM),
            blush: blush_paint(0.45),
            blush_strong: blush_paint(0.75),
        }
    }
}

/// An anti-aliased flat-colour paint (cheap: no allocation).
fn solid(rgba: Rgba) -> Paint<'static> {
    let mut paint = Paint {
        anti_alias: true,
        ..Paint::default()
    };
    paint.set_color(color(rgba));
    paint
}

/// A soft blush: the unit disc fading from `alpha` in the centre to nothing at the rim.
fn blush_paint(alpha: f32) -> Paint<'static> {
    let [r, g, b, _] = pal::BLUSH;
    let centre = Color::from_rgba8(r, g, b, (alpha * 255.0) as u8);
    let rim = Color::from_rgba8(r, g, b, 0);
    let shader = RadialGradient::new(
        Point::zero(),
        0.0,
        Point::zero(),
        1.0,
        vec![
            GradientStop::new(0.0, centre),
            GradientStop::new(0.5, centre),
            GradientStop::new(1.0, rim),
        ],
        SpreadMode::Pad,
        Transform::identity(),
    );
    shader_paint(shader, pal::BLUSH)
}

/// Wraps a gradient; falls back to a flat colour should tiny-skia reject the gradient.
fn shader_paint(shader: Option<tiny_skia::Shader<'static>>, fallback: Rgba) -> Paint<'static> {
    let mut paint = Paint {
        anti_alias: true,
        ..Paint::default()
    };
    match shader {
        Some(shader) => paint.shader = shader,
        None => paint.set_color(color(fallback)),
    }
    paint
}

fn color([r, g, b, a]: Rgba) -> Color {
    Color::from_rgba8(r, g, b, a)
}

/// Converts tiny-skia's premultiplied pixels into the straight alpha OBS expects for RGBA
/// async frames (otherwise every anti-aliased edge would get a dark fringe).
///
/// Transparent (0,0,0,0) and opaque pixels are identical in both forms, and they are nearly
/// all of the frame, so only the anti-aliased edge pixels need converting.
fn demultiply_in_place(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = px[3];
        if a != 0 && a != 255 {
            let half = u16::from(a) / 2;
            for c in &mut px[..3] {
                // Rounded c * 255 / a; premultiplied channels never exceed alpha.
                *c = ((u16::from(*c) * 255 + half) / u16::from(a)).min(255) as u8;
            }
        }
    }
}
