//! The avatar's shapes, built once in *face units*.
//!
//! Face units: the origin is the mouth centre at rest, one unit is `min(W, H)`, y grows
//! downwards. The renderer maps them to pixels with a single transform per body part, so the
//! paths are independent of the frame size and are never rebuilt while rendering. Features with
//! a left and a right copy (eyes, brows, locks) are built for the right-hand side of the image
//! and mirrored.

use avatar_link::lipsync::MouthShape;
use tiny_skia::{Path, PathBuilder, Rect};

use super::Expression;

/// Right eye centre (the left one is mirrored).
pub const EYE_X: f32 = 0.095;
pub const EYE_Y: f32 = -0.135;
/// Eye-local pivot of the blink scale: lids close towards the lower part of the eye.
pub const BLINK_PIVOT_Y: f32 = 0.03;
/// Right brow centre at rest.
pub const BROW_X: f32 = 0.1;
pub const BROW_Y: f32 = -0.226;
/// Right cheek blush centre and radii.
pub const BLUSH_X: f32 = 0.148;
pub const BLUSH_Y: f32 = -0.05;
pub const BLUSH_RX: f32 = 0.045;
pub const BLUSH_RY: f32 = 0.022;
/// Where the raised hand of the `wave` motion sits (body units), and how far down it hides.
pub const HAND_X: f32 = 0.34;
pub const HAND_Y: f32 = 0.0;
pub const HAND_HIDDEN_DY: f32 = 0.45;
/// Shoulder point the waving arm starts from.
pub const SHOULDER: (f32, f32) = (0.3, 0.3);

/// Width and height of each open mouth (face units), chosen so that even `Wide` plus the
/// largest head offset stays inside `MOUTH_REGION`.
pub fn open_mouth_size(shape: MouthShape) -> Option<(f32, f32)> {
    match shape {
        MouthShape::Closed => None,
        MouthShape::Small => Some((0.05, 0.026)),
        MouthShape::Medium => Some((0.066, 0.05)),
        MouthShape::Wide => Some((0.08, 0.085)),
    }
}

/// All prebuilt paths.
pub struct Parts {
    pub hair_back: Path,
    pub neck: Path,
    pub chin_shadow: Path,
    pub body: Path,
    /// Just the shoulder line of `body`, for its outline (stroking the whole closed shape
    /// would also stroke the parts far below the frame).
    pub shoulders: Path,
    pub collar: Path,
    pub neckline: Path,
    pub ribbon: Path,
    pub head: Path,
    /// Unit circle, scaled into the blush ellipses.
    pub unit_disc: Path,
    pub eye_white: Path,
    pub iris: Path,
    pub pupil: Path,
    pub upper_lash: Path,
    pub lower_lash: Path,
    pub highlight_big: Path,
    pub highlight_small: Path,
    /// Closed-lid line of a blink (a gentle downward curve).
    pub lid_closed: Path,
    /// `^`-shaped closed eye of the happy expression.
    pub eye_happy: Path,
    pub brow: Path,
    pub nose: Path,
    /// Open mouths for Small, Medium, Wide (index = shape − 1).
    pub mouth_open: [Path; 3],
    pub mouth_closed_neutral: Path,
    pub mouth_closed_happy: Path,
    pub mouth_closed_surprised: Path,
    pub mouth_closed_sad: Path,
    pub mouth_closed_angry: Path,
    pub side_lock: Path,
    pub fringe: Path,
    pub hair_shine: Path,
    pub ahoge: Path,
    pub arm: Path,
    pub hand: Path,
    pub badge_plate: Path,
    pub badge_text: Path,
}

impl Parts {
    pub fn new() -> Self {
        Self {
            hair_back: hair_back(),
            neck: rect(-0.05, 0.02, 0.1, 0.2),
            chin_shadow: oval(0.0, 0.105, 0.055, 0.03),
            body: body(),
            shoulders: build(|p| {
                p.move_to(-0.44, 0.9);
                p.line_to(-0.43, 0.6);
                p.cubic_to(-0.42, 0.4, -0.4, 0.3, -0.36, 0.27);
                p.cubic_to(-0.3, 0.2, -0.1, 0.2, -0.06, 0.16);
                p.move_to(0.44, 0.9);
                p.line_to(0.43, 0.6);
                p.cubic_to(0.42, 0.4, 0.4, 0.3, 0.36, 0.27);
                p.cubic_to(0.3, 0.2, 0.1, 0.2, 0.06, 0.16);
            }),
            collar: collar(),
            neckline: build(|p| {
                p.move_to(-0.062, 0.165);
                p.line_to(0.0, 0.245);
                p.line_to(0.062, 0.165);
                p.close();
            }),
            ribbon: ribbon(),
            head: head(),
            unit_disc: oval(0.0, 0.0, 1.0, 1.0),
            eye_white: oval(0.0, 0.0, 0.056, 0.062),
            iris: oval(0.0, 0.006, 0.043, 0.052),
            pupil: oval(0.0, 0.012, 0.019, 0.027),
            upper_lash: upper_lash(),
            lower_lash: build(|p| {
                p.move_to(-0.028, 0.064);
                p.quad_to(0.0, 0.071, 0.034, 0.06);
            }),
            highlight_big: oval(0.016, -0.022, 0.014, 0.014),
            highlight_small: oval(-0.014, 0.026, 0.007, 0.007),
            lid_closed: build(|p| {
                p.move_to(-0.058, 0.0);
                p.quad_to(0.0, 0.032, 0.066, -0.006);
            }),
            eye_happy: build(|p| {
                p.move_to(-0.052, 0.012);
                p.quad_to(0.004, -0.06, 0.058, 0.012);
            }),
            brow: build(|p| {
                // A crescent, thick in the middle and tapering to both ends.
                p.move_to(-0.045, 0.004);
                p.quad_to(0.0, -0.02, 0.048, 0.002);
                p.quad_to(0.0, -0.006, -0.045, 0.012);
                p.close();
            }),
            nose: build(|p| {
                p.move_to(0.006, -0.062);
                p.quad_to(0.013, -0.052, 0.003, -0.046);
            }),
            mouth_open: [
                open_mouth(MouthShape::Small),
                open_mouth(MouthShape::Medium),
                open_mouth(MouthShape::Wide),
            ],
            mouth_closed_neutral: build(|p| {
                p.move_to(-0.03, -0.004);
                p.quad_to(0.0, 0.016, 0.03, -0.004);
            }),
            mouth_closed_happy: build(|p| {
                p.move_to(-0.042, -0.012);
                p.cubic_to(-0.026, 0.03, 0.026, 0.03, 0.042, -0.012);
            }),
            mouth_closed_surprised: oval(0.0, 0.002, 0.012, 0.014),
            mouth_closed_sad: build(|p| {
                p.move_to(-0.03, 0.008);
                p.quad_to(0.0, -0.014, 0.03, 0.008);
            }),
            mouth_closed_angry: build(|p| {
                p.move_to(-0.034, 0.008);
                p.line_to(-0.018, -0.001);
                p.line_to(0.018, -0.001);
                p.line_to(0.034, 0.008);
            }),
            side_lock: build(|p| {
                p.move_to(0.2, -0.26);
                p.cubic_to(0.262, -0.16, 0.272, -0.03, 0.262, 0.08);
                p.quad_to(0.252, 0.125, 0.232, 0.15);
                p.cubic_to(0.232, 0.04, 0.222, -0.08, 0.168, -0.2);
                p.close();
            }),
            fringe: fringe(),
            hair_shine: build(|p| {
                p.move_to(-0.16, -0.325);
                p.quad_to(0.0, -0.385, 0.16, -0.325);
            }),
            ahoge: build(|p| {
                p.move_to(0.0, -0.4);
                p.cubic_to(-0.005, -0.49, 0.08, -0.52, 0.095, -0.465);
            }),
            arm: build(|p| {
                p.move_to(SHOULDER.0, SHOULDER.1);
                p.quad_to(HAND_X + 0.03, 0.16, HAND_X, HAND_Y + 0.06);
            }),
            hand: hand(),
            badge_plate: rounded_rect(0.0, 0.0, 0.105, 0.062, 0.014),
            badge_text: badge_text(),
        }
    }

    /// The closed-mouth line for an expression.
    pub fn mouth_closed(&self, expression: Expression) -> &Path {
        match expression {
            Expression::Neutral => &self.mouth_closed_neutral,
            Expression::Happy => &self.mouth_closed_happy,
            Expression::Surprised => &self.mouth_closed_surprised,
            Expression::Sad => &self.mouth_closed_sad,
            Expression::Angry => &self.mouth_closed_angry,
        }
    }
}

/// Finishes a path from constant geometry. Only fails for an empty or non-finite path, which
/// would be a bug in the constants above (the unit tests build every part).
fn build(f: impl FnOnce(&mut PathBuilder)) -> Path {
    let mut pb = PathBuilder::new();
    f(&mut pb);
    pb.finish().expect("avatar part geometry is a valid path")
}

fn oval(cx: f32, cy: f32, rx: f32, ry: f32) -> Path {
    let rect = Rect::from_ltrb(cx - rx, cy - ry, cx + rx, cy + ry).expect("valid oval bounds");
    PathBuilder::from_oval(rect).expect("valid oval")
}

fn rect(x: f32, y: f32, w: f32, h: f32) -> Path {
    PathBuilder::from_rect(Rect::from_xywh(x, y, w, h).expect("valid rect"))
}

fn rounded_rect(x: f32, y: f32, w: f32, h: f32, r: f32) -> Path {
    build(|p| {
        p.move_to(x + r, y);
        p.line_to(x + w - r, y);
        p.quad_to(x + w, y, x + w, y + r);
        p.line_to(x + w, y + h - r);
        p.quad_to(x + w, y + h, x + w - r, y + h);
        p.line_to(x + r, y + h);
        p.quad_to(x, y + h, x, y + h - r);
        p.line_to(x, y + r);
        p.quad_to(x, y, x + r, y);
        p.close();
    })
}

fn head() -> Path {
    build(|p| {
        p.move_to(-0.235, -0.13);
        p.cubic_to(-0.235, -0.29, -0.13, -0.375, 0.0, -0.375);
        p.cubic_to(0.13, -0.375, 0.235, -0.29, 0.235, -0.13);
        p.cubic_to(0.235, -0.04, 0.2, 0.03, 0.11, 0.075);
        p.quad_to(0.045, 0.105, 0.0, 0.107);
        p.quad_to(-0.045, 0.105, -0.11, 0.075);
        p.cubic_to(-0.2, 0.03, -0.235, -0.04, -0.235, -0.13);
        p.close();
    })
}

fn hair_back() -> Path {
    build(|p| {
        p.move_to(-0.275, -0.12);
        p.cubic_to(-0.29, -0.36, -0.16, -0.435, 0.0, -0.435);
        p.cubic_to(0.16, -0.435, 0.29, -0.36, 0.275, -0.12);
        p.cubic_to(0.27, 0.05, 0.3, 0.2, 0.31, 0.31);
        p.quad_to(0.24, 0.34, 0.16, 0.29);
        p.line_to(-0.16, 0.29);
        p.quad_to(-0.24, 0.34, -0.31, 0.31);
        p.cubic_to(-0.3, 0.2, -0.27, 0.05, -0.275, -0.12);
        p.close();
    })
}

fn body() -> Path {
    build(|p| {
        p.move_to(-0.06, 0.16);
        p.cubic_to(-0.1, 0.2, -0.3, 0.2, -0.36, 0.27);
        p.cubic_to(-0.4, 0.3, -0.42, 0.4, -0.43, 0.6);
        // Far below the frame, so tall narrow frames are still filled to the bottom edge.
        p.line_to(-0.45, 3.0);
        p.line_to(0.45, 3.0);
        p.line_to(0.43, 0.6);
        p.cubic_to(0.42, 0.4, 0.4, 0.3, 0.36, 0.27);
        p.cubic_to(0.3, 0.2, 0.1, 0.2, 0.06, 0.16);
        p.close();
    })
}

fn collar() -> Path {
    build(|p| {
        // A sailor-style band around the V neckline, widening over the shoulders.
        p.move_to(-0.085, 0.16);
        p.quad_to(-0.2, 0.2, -0.24, 0.22);
        p.line_to(-0.12, 0.27);
        p.line_to(0.0, 0.32);
        p.line_to(0.12, 0.27);
        p.line_to(0.24, 0.22);
        p.quad_to(0.2, 0.2, 0.085, 0.16);
        p.line_to(0.0, 0.26);
        p.close();
    })
}

fn ribbon() -> Path {
    build(|p| {
        p.move_to(0.0, 0.3);
        p.line_to(-0.07, 0.265);
        p.quad_to(-0.08, 0.3, -0.07, 0.335);
        p.close();
        p.move_to(0.0, 0.3);
        p.line_to(0.07, 0.265);
        p.quad_to(0.08, 0.3, 0.07, 0.335);
        p.close();
        p.push_circle(0.0, 0.3, 0.017);
    })
}

fn upper_lash() -> Path {
    build(|p| {
        // Thick upper lash line with a small flick at the outer (right) corner.
        p.move_to(-0.06, -0.025);
        p.cubic_to(-0.045, -0.08, 0.045, -0.09, 0.068, -0.035);
        p.line_to(0.08, -0.047);
        p.line_to(0.073, -0.018);
        p.cubic_to(0.045, -0.07, -0.04, -0.062, -0.06, -0.025);
        p.close();
    })
}

fn fringe() -> Path {
    build(|p| {
        p.move_to(-0.248, -0.11);
        p.cubic_to(-0.255, -0.33, -0.14, -0.408, 0.0, -0.408);
        p.cubic_to(0.14, -0.408, 0.255, -0.33, 0.248, -0.11);
        // Bangs from right to left: each strand is a soft curve down to a tip and back up
        // to a notch. Tips stay above the brows (y ≈ −0.23) except at the temples.
        let strands: [(f32, f32, f32, f32); 6] = [
            // (tip x, tip y, notch x, notch y)
            (0.2, -0.2, 0.16, -0.285),
            (0.125, -0.245, 0.09, -0.305),
            (0.05, -0.25, 0.015, -0.315),
            (-0.035, -0.25, -0.07, -0.305),
            (-0.115, -0.245, -0.155, -0.29),
            (-0.2, -0.2, -0.228, -0.19),
        ];
        let mut x_prev = 0.248;
        for (tx, ty, nx, ny) in strands {
            p.quad_to((x_prev + tx) / 2.0 + 0.01, ty + 0.01, tx, ty);
            p.quad_to(tx - 0.01, (ty + ny) / 2.0, nx, ny);
            x_prev = nx;
        }
        p.close();
    })
}

/// Open mouth: a gently arched top lip and a rounder bottom, exactly `w`×`h` tall/wide.
fn open_mouth(shape: MouthShape) -> Path {
    let (w, h) = open_mouth_size(shape).expect("open shape");
    let corner_y = -0.25 * h;
    // Cubic control heights solved so the curves' midpoints reach ∓h/2:
    // y(½) = ¼·corner + ¾·control.
    let top_c = (-0.5 * h - 0.25 * corner_y) / 0.75;
    let bottom_c = (0.5 * h - 0.25 * corner_y) / 0.75;
    build(|p| {
        p.move_to(-w / 2.0, corner_y);
        p.cubic_to(-w / 4.0, top_c, w / 4.0, top_c, w / 2.0, corner_y);
        p.cubic_to(w * 0.36, bottom_c, -w * 0.36, bottom_c, -w / 2.0, corner_y);
        p.close();
    })
}

fn hand() -> Path {
    build(|p| {
        // Palm with four short fingers and a thumb, drawn in hand-local units around the
        // palm centre; the wrist is at (0, 0.05).
        p.push_oval(Rect::from_ltrb(-0.04, -0.035, 0.04, 0.05).expect("palm"));
        for (i, x) in [-0.03_f32, -0.01, 0.01, 0.03].into_iter().enumerate() {
            let top = if i == 0 || i == 3 { -0.07 } else { -0.085 };
            p.push_oval(Rect::from_ltrb(x - 0.011, top, x + 0.011, -0.01).expect("finger"));
        }
        p.push_oval(Rect::from_ltrb(-0.07, -0.01, -0.03, 0.025).expect("thumb"));
    })
}

/// "AI" in a 5-row block font, one square per lit cell, inside the badge plate.
fn badge_text() -> Path {
    const GLYPHS: [&str; 5] = [" #  ###", "# #  # ", "###  # ", "# #  # ", "# # ###"];
    const CELL: f32 = 0.0082;
    // Centre the 7×5 cell block on the 0.105×0.062 plate.
    let x0 = (0.105 - 7.0 * CELL) / 2.0;
    let y0 = (0.062 - 5.0 * CELL) / 2.0;
    build(|p| {
        for (row, line) in GLYPHS.iter().enumerate() {
            for (col, c) in line.chars().enumerate() {
                if c == '#' {
                    let rect =
                        Rect::from_xywh(x0 + col as f32 * CELL, y0 + row as f32 * CELL, CELL, CELL)
                            .expect("glyph cell");
                    p.push_rect(rect);
                }
            }
        }
    })
}
