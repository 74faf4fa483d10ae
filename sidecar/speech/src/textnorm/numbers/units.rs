//! Units recognised right after a number (`5kg` → 五公斤, `30℃` → 三十摄氏度), with whether a
//! bare 2 before each is read 两.

use super::Scanner;

/// Units recognised right after a number (case-sensitive, longest first). The flag says
/// whether a bare 2 before it is read 两.
const UNITS: &[(&str, &str, bool)] = &[
    ("km/h", "公里每小时", true),
    ("m/s", "米每秒", true),
    ("km²", "平方公里", true),
    ("cm²", "平方厘米", true),
    ("m²", "平方米", true),
    ("m³", "立方米", true),
    ("mAh", "毫安时", false),
    ("kHz", "千赫兹", false),
    ("MHz", "兆赫兹", false),
    ("GHz", "吉赫兹", false),
    ("min", "分钟", true),
    ("Hz", "赫兹", false),
    ("kW", "千瓦", true),
    ("KW", "千瓦", true),
    ("kg", "公斤", true),
    ("Kg", "公斤", true),
    ("KG", "公斤", true),
    ("km", "公里", true),
    ("KM", "公里", true),
    ("cm", "厘米", true),
    ("mm", "毫米", true),
    ("ml", "毫升", true),
    ("mL", "毫升", true),
    ("ML", "毫升", true),
    ("mg", "毫克", true),
    ("ms", "毫秒", true),
    ("°C", "摄氏度", false),
    ("°F", "华氏度", false),
    ("℃", "摄氏度", false),
    ("℉", "华氏度", false),
    ("°", "度", false),
    ("㎡", "平方米", true),
    ("㎏", "公斤", true),
    ("㎞", "公里", true),
    ("㎝", "厘米", true),
    ("㎜", "毫米", true),
    ("g", "克", true),
    ("m", "米", true),
    ("L", "升", true),
    ("h", "小时", true),
    ("W", "瓦", true),
    ("w", "万", true),
    ("k", "千", true),
];

impl Scanner<'_> {
    pub(super) fn unit(&self, i: usize) -> Option<(&'static str, &'static str, bool)> {
        UNITS.iter().copied().find(|(unit, _, _)| {
            let n = unit.chars().count();
            i + n <= self.chars.len()
                && self.chars[i..i + n].iter().copied().eq(unit.chars())
                && !(unit.ends_with(|c: char| c.is_ascii_alphabetic())
                    && self.at(i + n).is_some_and(|c| c.is_ascii_alphanumeric()))
        })
    }
}
