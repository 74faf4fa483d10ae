//! The avatar's colours (straight sRGB).
//!
//! Kept in one place because the mouth test depends on them: nothing except the open-mouth
//! interior may fall inside `is_mouth_interior`'s dark-red range.

pub type Rgba = [u8; 4];

pub const SKIN: Rgba = [255, 233, 220, 255];
pub const SKIN_SHADOW: Rgba = [240, 200, 188, 255];
pub const SKIN_LINE: Rgba = [215, 160, 150, 255];
pub const BLUSH: Rgba = [255, 128, 140, 255];

pub const HAIR: Rgba = [76, 68, 122, 255];
pub const HAIR_DARK: Rgba = [58, 52, 98, 255];
pub const HAIR_SHINE: Rgba = [150, 140, 205, 170];
pub const BROW: Rgba = [48, 40, 74, 255];

pub const EYE_WHITE: Rgba = [255, 255, 255, 255];
pub const IRIS_TOP: Rgba = [44, 70, 150, 255];
pub const IRIS_BOTTOM: Rgba = [110, 196, 232, 255];
pub const IRIS_RING: Rgba = [34, 44, 96, 255];
pub const PUPIL: Rgba = [24, 28, 62, 255];
pub const LASH: Rgba = [42, 32, 58, 255];
pub const LOWER_LASH: Rgba = [150, 110, 125, 255];
pub const HIGHLIGHT: Rgba = [255, 255, 255, 255];

/// The closed mouth line: a soft rose, far from the interior colour on every test a pixel
/// classifier might use (green and blue well above the interior's, red under twice the green),
/// even after video compression shifts it a little.
pub const MOUTH_LINE: Rgba = [168, 92, 98, 255];
/// Open mouth: interior is `MOUTH_INTERIOR_RGB`; outline a little darker.
pub const MOUTH_OUTLINE: Rgba = [92, 24, 40, 255];
pub const TONGUE: Rgba = [228, 108, 118, 255];
pub const TEETH: Rgba = [255, 255, 255, 255];
pub const NOSE: Rgba = [222, 152, 142, 255];

pub const SHIRT: Rgba = [250, 250, 253, 255];
pub const SHIRT_LINE: Rgba = [196, 198, 216, 255];
pub const COLLAR: Rgba = [56, 66, 122, 255];
pub const RIBBON: Rgba = [240, 104, 124, 255];

/// The "AI" badge: a dark translucent plate with white letters.
pub const BADGE_PLATE: Rgba = [24, 24, 34, 200];
pub const BADGE_TEXT: Rgba = [255, 255, 255, 255];
