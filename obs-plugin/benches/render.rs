//! Per-frame render time of the built-in avatar ("plugin render time per frame").
//!
//! `cargo bench -p obs-plugin --bench render` — plain `main` (harness = false): renders 300
//! frames at 512×512 and at 1024×1024 with a varying mouth, blinks, expressions and motions
//! (everything the clock thread would draw), then prints mean / p50 / p99 / max in ms.
//! Frame time includes the straight-alpha conversion OBS needs, i.e. the whole cost per frame
//! on the clock thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ai_avatar::avatar::{Animator, AvatarRenderer, Expression, Motion, RenderConfig};
use avatar_link::lipsync::MouthShape;

const FRAMES: usize = 300;
const WARMUP: usize = 20;

fn main() {
    println!("avatar render time per frame ({FRAMES} frames, after {WARMUP} warm-up frames)");
    for size in [512, 1024] {
        let times = bench(size);
        report(size, times);
    }
}

fn bench(size: u32) -> Vec<Duration> {
    let mut renderer = AvatarRenderer::new(RenderConfig {
        width: size,
        height: size,
        show_label: true,
    });
    let mut animator = Animator::new(1);
    let expressions = [
        Expression::Neutral,
        Expression::Happy,
        Expression::Surprised,
        Expression::Sad,
        Expression::Angry,
    ];
    let motions = [Motion::Bounce, Motion::Nod, Motion::Shake, Motion::Wave];
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..WARMUP + FRAMES {
        // One frame = 1/30 s of sample clock; change mouth every frame, expression every
        // second, and start a motion every 1.5 s, like a busy stream.
        animator.advance(1.0 / 30.0);
        if i % 30 == 0 {
            animator.set_expression(expressions[(i / 30) % expressions.len()], 0);
        }
        if i % 45 == 0 {
            animator.start_motion(motions[(i / 45) % motions.len()]);
        }
        let mouth = MouthShape::ALL[(i * 7 / 3) % MouthShape::ALL.len()];
        let state = animator.frame_state(mouth);
        let start = Instant::now();
        black_box(renderer.render(black_box(&state)));
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    times
}

fn report(size: u32, mut times: Vec<Duration>) {
    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = times.iter().map(|&d| ms(d)).sum::<f64>() / times.len() as f64;
    let pct = |p: f64| ms(times[((times.len() - 1) as f64 * p).round() as usize]);
    println!(
        "{size:>5}x{size:<5} mean {mean:6.2} ms   p50 {:6.2} ms   p99 {:6.2} ms   max {:6.2} ms",
        pct(0.5),
        pct(0.99),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
    );
}
