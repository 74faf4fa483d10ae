//! Renders a contact sheet of the built-in avatar (every expression × mouth shape, plus a blink
//! and a wave) into a PNG, for eyeballing changes to the drawing code without OBS.
//!
//! `cargo run -p obs-plugin --example avatar_sheet --release -- /tmp/avatar-sheet.png [cell]`

use ai_avatar::avatar::{AvatarFrameState, AvatarRenderer, Expression, RenderConfig, WavePose};
use avatar_link::lipsync::MouthShape;
use tiny_skia::{IntSize, Pixmap};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "avatar-sheet.png".into());
    let cell: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(256);

    let expressions = [
        Expression::Neutral,
        Expression::Happy,
        Expression::Surprised,
        Expression::Sad,
        Expression::Angry,
    ];
    let mut rows: Vec<Vec<AvatarFrameState>> = expressions
        .iter()
        .map(|&expression| {
            MouthShape::ALL
                .iter()
                .map(|&mouth| AvatarFrameState {
                    mouth,
                    expression,
                    ..AvatarFrameState::default()
                })
                .collect()
        })
        .collect();
    rows.push(vec![
        AvatarFrameState {
            eye_open: 0.5,
            ..AvatarFrameState::default()
        },
        AvatarFrameState {
            eye_open: 0.0,
            ..AvatarFrameState::default()
        },
        AvatarFrameState {
            wave: Some(WavePose {
                raise: 1.0,
                angle_deg: 15.0,
            }),
            mouth: MouthShape::Medium,
            expression: Expression::Happy,
            ..AvatarFrameState::default()
        },
        AvatarFrameState {
            head_offset: (0.02, 0.02),
            body_offset: 0.008,
            ..AvatarFrameState::default()
        },
    ]);

    let cols = rows.iter().map(Vec::len).max().unwrap_or(1) as u32;
    let (width, height) = (cols * cell, rows.len() as u32 * cell);
    let mut sheet = vec![0u8; (width * height * 4) as usize];
    let mut renderer = AvatarRenderer::new(RenderConfig {
        width: cell,
        height: cell,
        show_label: true,
    });
    for (r, row) in rows.iter().enumerate() {
        for (c, state) in row.iter().enumerate() {
            let rgba = renderer.render(state);
            for y in 0..cell {
                for x in 0..cell {
                    let src = ((y * cell + x) * 4) as usize;
                    let dst = (((r as u32 * cell + y) * width + c as u32 * cell + x) * 4) as usize;
                    // Composite over a light grey so the transparent background is visible.
                    let a = u32::from(rgba[src + 3]);
                    for k in 0..3 {
                        let v = (u32::from(rgba[src + k]) * a + 200 * (255 - a)) / 255;
                        sheet[dst + k] = v as u8;
                    }
                    sheet[dst + 3] = 255;
                }
            }
        }
    }
    let size = IntSize::from_wh(width, height).expect("non-empty sheet");
    let pixmap = Pixmap::from_vec(sheet, size).expect("sheet buffer matches its size");
    pixmap.save_png(&path).expect("write PNG");
    println!("wrote {path} ({width}x{height})");
}
