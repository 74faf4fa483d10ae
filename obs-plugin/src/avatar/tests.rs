//! Tests of the drawing contract (mouth region, blink, alpha) and the animator's timers.

use super::*;
use avatar_link::lipsync::MouthShape;

const ALL_EXPRESSIONS: [Expression; 5] = [
    Expression::Neutral,
    Expression::Happy,
    Expression::Surprised,
    Expression::Sad,
    Expression::Angry,
];

fn render(width: u32, height: u32, state: AvatarFrameState) -> Vec<u8> {
    AvatarRenderer::new(RenderConfig {
        width,
        height,
        show_label: false,
    })
    .render(&state)
    .to_vec()
}

fn pixel(rgba: &[u8], width: u32, x: u32, y: u32) -> [u8; 4] {
    let i = ((y * width + x) * 4) as usize;
    [rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]]
}

/// Mouth-interior pixels anywhere in the frame that lie outside `MOUTH_REGION`.
fn interior_outside_region(rgba: &[u8], width: u32, height: u32) -> usize {
    let (x0, y0, x1, y1) = MOUTH_REGION.pixel_bounds(width, height);
    (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .filter(|&(x, y)| !(x0..x1).contains(&x) || !(y0..y1).contains(&y))
        .filter(|&(x, y)| is_mouth_interior(pixel(rgba, width, x, y)))
        .count()
}

#[test]
fn closed_mouth_has_no_interior_pixels_and_wide_has_many() {
    for expression in ALL_EXPRESSIONS {
        let closed = render(
            512,
            512,
            AvatarFrameState {
                expression,
                ..Default::default()
            },
        );
        assert_eq!(
            count_mouth_interior(&closed, 512, 512),
            0,
            "{expression:?} closed"
        );
        assert_eq!(
            interior_outside_region(&closed, 512, 512),
            0,
            "{expression:?} closed"
        );

        let counts: Vec<usize> = [MouthShape::Small, MouthShape::Medium, MouthShape::Wide]
            .into_iter()
            .map(|mouth| {
                let frame = render(
                    512,
                    512,
                    AvatarFrameState {
                        mouth,
                        expression,
                        ..Default::default()
                    },
                );
                count_mouth_interior(&frame, 512, 512)
            })
            .collect();
        assert!(
            counts[0] > 50 && counts[0] < counts[1] && counts[1] < counts[2],
            "{expression:?}: {counts:?}"
        );
        // "Large": at 512 px the wide interior covers over a tenth of the 102×77 px region.
        assert!(counts[2] > 800, "{expression:?} wide: {}", counts[2]);
    }
}

#[test]
fn the_mouth_stays_in_its_region_at_the_largest_offsets() {
    let wide = AvatarFrameState {
        mouth: MouthShape::Wide,
        ..Default::default()
    };
    let at_rest = count_mouth_interior(&render(512, 512, wide), 512, 512);
    for dx in [-MAX_HEAD_OFFSET, 0.0, MAX_HEAD_OFFSET] {
        for dy in [-MAX_HEAD_OFFSET, 0.0, MAX_HEAD_OFFSET] {
            let frame = render(
                512,
                512,
                AvatarFrameState {
                    head_offset: (dx, dy),
                    ..wide
                },
            );
            assert_eq!(
                interior_outside_region(&frame, 512, 512),
                0,
                "offset ({dx}, {dy})"
            );
            let moved = count_mouth_interior(&frame, 512, 512);
            assert!(
                moved.abs_diff(at_rest) * 20 < at_rest,
                "offset ({dx}, {dy}): {moved} vs {at_rest}"
            );
        }
    }
}

#[test]
fn the_mouth_is_centred_where_the_contract_says() {
    let frame = render(
        400,
        600,
        AvatarFrameState {
            mouth: MouthShape::Wide,
            ..Default::default()
        },
    );
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
    for y in 0..600 {
        for x in 0..400 {
            if is_mouth_interior(pixel(&frame, 400, x, y)) {
                sx += x as f32;
                sy += y as f32;
                n += 1.0;
            }
        }
    }
    let (cx, cy) = (sx / n / 400.0, sy / n / 600.0);
    assert!((cx - MOUTH_CENTER.0).abs() < 0.01, "centre x {cx}");
    assert!((cy - MOUTH_CENTER.1).abs() < 0.02, "centre y {cy}");
}

/// Pixels of the iris gradient (clearly blue) around the eyes.
fn iris_pixels(rgba: &[u8], size: u32) -> usize {
    let (y0, y1) = ((size as f32 * 0.40) as u32, (size as f32 * 0.56) as u32);
    (y0..y1)
        .flat_map(|y| (0..size).map(move |x| (x, y)))
        .map(|(x, y)| pixel(rgba, size, x, y))
        .filter(|&[r, _, b, a]| a == 255 && b > r.saturating_add(60))
        .count()
}

#[test]
fn blinking_closes_the_eyes() {
    let open = render(256, 256, AvatarFrameState::default());
    let half = render(
        256,
        256,
        AvatarFrameState {
            eye_open: 0.5,
            ..Default::default()
        },
    );
    let closed = render(
        256,
        256,
        AvatarFrameState {
            eye_open: 0.0,
            ..Default::default()
        },
    );
    let (open, half, closed) = (
        iris_pixels(&open, 256),
        iris_pixels(&half, 256),
        iris_pixels(&closed, 256),
    );
    assert!(open > 300, "open eyes show the iris: {open}");
    assert!(half < open && half > 0, "half-closed: {half} vs {open}");
    assert_eq!(closed, 0, "closed eyes hide the iris");
}

#[test]
fn output_is_straight_alpha_with_transparent_corners() {
    let size = 512;
    let plain = render(size, size, AvatarFrameState::default());
    for (x, y) in [(0, 0), (size - 1, 0), (0, size - 1), (size - 1, size - 1)] {
        assert_eq!(pixel(&plain, size, x, y), [0, 0, 0, 0], "corner ({x}, {y})");
    }
    // Fully transparent pixels carry no colour; opaque skin is unaffected.
    assert!(plain
        .chunks_exact(4)
        .all(|p| p[3] != 0 || p == [0, 0, 0, 0]));
    assert_eq!(
        pixel(&plain, size, size / 2, (size as f32 * 0.57) as u32),
        palette::SKIN
    );

    // The translucent badge plate must come out with its own colour, not premultiplied
    // (premultiplied it would read ~(19, 19, 27)).
    let mut renderer = AvatarRenderer::new(RenderConfig {
        width: size,
        height: size,
        show_label: true,
    });
    let labelled = renderer.render(&AvatarFrameState::default());
    let plate = pixel(labelled, size, 19, 31);
    let [r, g, b, a] = palette::BADGE_PLATE;
    assert_eq!(plate[3], a);
    for (got, want) in plate[..3].iter().zip([r, g, b]) {
        assert!(got.abs_diff(want) <= 1, "plate {plate:?}");
    }
    assert_ne!(
        pixel(labelled, size, 0, 0)[3],
        255,
        "the badge keeps a margin"
    );
}

#[test]
fn renders_at_odd_sizes() {
    for (w, h) in [
        (1, 1),
        (63, 64),
        (65, 301),
        (301, 65),
        (203, 301),
        (301, 203),
        (1023, 777),
    ] {
        let mut renderer = AvatarRenderer::new(RenderConfig {
            width: w,
            height: h,
            show_label: true,
        });
        let closed = renderer.render(&AvatarFrameState::default()).to_vec();
        assert_eq!(closed.len(), (w * h * 4) as usize);
        if w.min(h) >= 64 {
            let wide = renderer.render(&AvatarFrameState {
                mouth: MouthShape::Wide,
                ..Default::default()
            });
            assert_eq!(count_mouth_interior(&closed, w, h), 0, "{w}x{h}");
            assert!(count_mouth_interior(wide, w, h) > 0, "{w}x{h}");
            assert_eq!(interior_outside_region(wide, w, h), 0, "{w}x{h}");
        }
    }
    // Zero sizes are clamped instead of failing.
    let mut renderer = AvatarRenderer::new(RenderConfig {
        width: 0,
        height: 0,
        show_label: false,
    });
    assert_eq!(renderer.render(&AvatarFrameState::default()).len(), 4);
}

#[test]
fn every_pose_renders() {
    let mut renderer = AvatarRenderer::new(RenderConfig {
        width: 128,
        height: 128,
        show_label: true,
    });
    let mut animator = Animator::new(3);
    for motion in [Motion::Bounce, Motion::Nod, Motion::Shake, Motion::Wave] {
        animator.start_motion(motion);
        for _ in 0..130 {
            animator.advance(0.01);
            let state = animator.frame_state(MouthShape::Medium);
            assert!(
                state.head_offset.0.abs() <= MAX_HEAD_OFFSET
                    && state.head_offset.1.abs() <= MAX_HEAD_OFFSET
            );
            assert_eq!(renderer.render(&state).len(), 128 * 128 * 4);
        }
    }
}

#[test]
fn blinks_come_every_few_seconds_and_close_the_eyes() {
    let mut animator = Animator::new(42);
    let mut closed_at = Vec::new();
    let mut was_closed = false;
    // One minute of 10 ms blocks.
    for _ in 0..6000 {
        animator.advance(0.01);
        let closed = animator.frame_state(MouthShape::Closed).eye_open < 0.05;
        if closed && !was_closed {
            closed_at.push(animator.now());
        }
        was_closed = closed;
    }
    assert!(
        (9..=35).contains(&closed_at.len()),
        "{} blinks in a minute",
        closed_at.len()
    );
    // Apart from the two halves of a double blink, blinks are 2.5-6 s apart.
    for pair in closed_at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap < 0.4 || (2.5..6.5).contains(&gap), "gap {gap}");
    }
}

#[test]
fn timed_and_utterance_expressions_expire() {
    let mut animator = Animator::new(1);
    animator.set_expression(Expression::Happy, 500);
    animator.advance(0.4);
    assert_eq!(animator.expression(), Expression::Happy);
    animator.advance(0.2);
    assert_eq!(animator.expression(), Expression::Neutral);

    animator.set_utterance_expression(Expression::Sad, 7);
    animator.utterance_finished(6);
    assert_eq!(animator.expression(), Expression::Sad);
    animator.utterance_finished(7);
    assert_eq!(animator.expression(), Expression::Neutral);

    animator.set_expression(Expression::Angry, 0);
    animator.advance(100.0);
    assert_eq!(animator.expression(), Expression::Angry);
    animator.set_expression(Expression::Neutral, 1000);
    assert_eq!(animator.expression(), Expression::Neutral);
}

#[test]
fn motions_run_for_their_duration() {
    let mut animator = Animator::new(1);
    animator.start_motion(Motion::Shake);
    animator.advance(0.25);
    assert_ne!(animator.frame_state(MouthShape::Closed).head_offset.0, 0.0);
    animator.advance(1.0);
    assert_eq!(animator.frame_state(MouthShape::Closed).head_offset.0, 0.0);

    animator.start_motion(Motion::Wave);
    animator.advance(0.3);
    assert!(animator.frame_state(MouthShape::Closed).wave.is_some());
    animator.advance(1.0);
    assert!(animator.frame_state(MouthShape::Closed).wave.is_none());
}

#[test]
fn names_parse() {
    assert_eq!("Happy".parse(), Ok(Expression::Happy));
    assert_eq!(" surprised ".parse(), Ok(Expression::Surprised));
    assert!("bored".parse::<Expression>().is_err());
    assert_eq!("nod".parse(), Ok(Motion::Nod));
    assert_eq!("WAVE".parse(), Ok(Motion::Wave));
    assert!("dance".parse::<Motion>().is_err());
}
