//! `sidecar rundown draft`: asks the configured LLM for new variants of each product's 话术
//! and appends them to the script file's drafts file (`<file>.drafts.toml`), each
//! `reviewed = false`. Nothing written here goes on air until a person sets `reviewed = true`
//! ([`aivs_core::rundown::drafts`]); what the model writes is still filtered first: a line
//! that does not parse as a template, uses a placeholder the product has no fact for, repeats
//! an existing line or draft, or fails the safety screen is dropped, never stored.
//!
//! One request per product and segment (opening, explain, urge, closing); the model sees the
//! product's facts and its current lines as JSON data, and answers one variant per line.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;

use aivs_core::rundown::drafts::{draft_entry, DRAFTS_HEADER};
use aivs_core::rundown::{Product, Segment, RUNDOWN_PLACEHOLDERS};
use aivs_core::safety::{SafetyScreen, Verdict};
use aivs_core::template::Template;
use aivs_llm::{ChatMessage, LlmClient, LlmConfig};

use crate::rundown_library::{drafts_path, load_file, script_files};

/// The segments drafted (filler is shared small talk, not worth a request per product).
const DRAFTED: [Segment; 4] = [
    Segment::Opening,
    Segment::Explain,
    Segment::Urge,
    Segment::Closing,
];

/// What one script file got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftReport {
    pub drafts_file: PathBuf,
    /// Variants written to the drafts file.
    pub written: usize,
    /// Lines from the model that were dropped (broken, repeated, flagged).
    pub dropped: usize,
    /// Requests that failed (logged; the other products still get their drafts).
    pub failed_requests: usize,
}

/// The client for drafting: the show's `[llm]` settings with room for several lines and a
/// patient timeout (nobody is waiting on air for these).
pub fn drafting_client(llm: &LlmConfig) -> Result<LlmClient, aivs_llm::LlmError> {
    let mut config = llm.clone();
    config.max_tokens = config.max_tokens.max(800);
    config.first_token_timeout_ms = config.first_token_timeout_ms.max(30_000);
    config.reply_timeout_ms = config.reply_timeout_ms.max(120_000);
    config.rate_limit_max_wait_ms = config.rate_limit_max_wait_ms.max(60_000);
    LlmClient::new(&config)
}

/// Drafts `per_segment` variants for every product of every script file in `dir`.
pub async fn draft_dir(
    dir: &Path,
    client: &LlmClient,
    safety: &SafetyScreen,
    per_segment: usize,
) -> Result<Vec<DraftReport>, crate::config::ConfigError> {
    let mut reports = Vec::new();
    for path in script_files(dir)? {
        reports.push(draft_file(&path, client, safety, per_segment).await?);
    }
    Ok(reports)
}

/// Drafts for one script file, appended to its drafts file (created with a header).
pub async fn draft_file(
    script: &Path,
    client: &LlmClient,
    safety: &SafetyScreen,
    per_segment: usize,
) -> Result<DraftReport, crate::config::ConfigError> {
    let (library, _) = load_file(script)?;
    let drafts_file = drafts_path(script);
    let mut report = DraftReport {
        drafts_file: drafts_file.clone(),
        written: 0,
        dropped: 0,
        failed_requests: 0,
    };
    // Drafts already waiting (or reviewed) are not written again.
    let waiting = std::fs::read_to_string(&drafts_file).unwrap_or_default();
    let mut out = String::new();
    for product in library.products() {
        for segment in DRAFTED {
            let reply = match ask(client, product, segment, per_segment).await {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::warn!(product = %product.id, segment = segment.key(), error = %e, "draft request failed");
                    report.failed_requests += 1;
                    continue;
                }
            };
            let mut seen: Vec<String> = product
                .lines(segment)
                .iter()
                .map(|t| t.source().to_string())
                .collect();
            for line in reply.lines().map(clean_line).filter(|l| !l.is_empty()) {
                let drafted = waiting.contains(&toml::Value::String(line.clone()).to_string());
                match acceptable(&line, product, safety, &seen).and(if drafted {
                    Err("already drafted")
                } else {
                    Ok(())
                }) {
                    Ok(()) => {
                        out.push_str(&draft_entry(Some(&product.id), segment.key(), &line));
                        seen.push(line);
                        report.written += 1;
                    }
                    Err(why) => {
                        tracing::info!(product = %product.id, %line, why, "draft dropped");
                        report.dropped += 1;
                    }
                }
            }
        }
    }
    if !out.is_empty() {
        append(&drafts_file, &out)?;
    }
    Ok(report)
}

/// Appends, so what a reviewer already changed in the file stays as it is.
fn append(path: &Path, entries: &str) -> Result<(), crate::config::ConfigError> {
    use std::io::Write;
    let io = |source| crate::config::ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let new = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    if new {
        file.write_all(DRAFTS_HEADER.as_bytes()).map_err(io)?;
    }
    file.write_all(entries.as_bytes()).map_err(io)
}

/// Why a line from the model is not worth a reviewer's time, if it is not.
fn acceptable(
    line: &str,
    product: &Product,
    safety: &SafetyScreen,
    seen: &[String],
) -> Result<(), &'static str> {
    let template = Template::parse_with_placeholders(line, RUNDOWN_PLACEHOLDERS)
        .map_err(|_| "not a valid template")?;
    if template
        .placeholders()
        .iter()
        .any(|p| p == "user" || !product.has(p))
    {
        return Err("uses a fact the product does not have");
    }
    if seen.iter().any(|s| s == line) {
        return Err("repeats a line");
    }
    if !safety.categories(line).is_empty() || !matches!(safety.screen_output(line), Verdict::Pass) {
        return Err("flagged by the safety screen");
    }
    Ok(())
}

/// Strips list markers and quotes models like to add (`1. `, `- `, `“…”`).
fn clean_line(line: &str) -> String {
    let line = line.trim();
    let line = line.trim_start_matches(|c: char| c.is_ascii_digit() || ".、)）-*•·".contains(c));
    line.trim()
        .trim_matches(|c| "\"“”'「」".contains(c))
        .trim()
        .to_string()
}

async fn ask(
    client: &LlmClient,
    product: &Product,
    segment: Segment,
    n: usize,
) -> Result<String, aivs_llm::LlmError> {
    let segment_name = match segment {
        Segment::Opening => "开场（把商品引出来）",
        Segment::Explain => "讲解（卖点、用法）",
        Segment::Urge => "逼单（价格、活动、库存，催促下单）",
        Segment::Closing => "收尾（最后催一下，引出下一款）",
        Segment::Filler => "垫场（引导关注点赞）",
    };
    let placeholders: Vec<String> = RUNDOWN_PLACEHOLDERS
        .iter()
        .filter(|p| **p != "user" && product.has(p))
        .map(|p| format!("{{{p}}}"))
        .collect();
    let system = format!(
        "你是抖音电商直播的话术编写助手。为下面的商品写{n}条新的「{segment_name}」话术，\
         口语化，每条不超过40个字。每行一条，不要编号，不要解释。\
         商品信息用占位符表示，原样保留花括号：{}；也可以用 {{选项1|选项2}} 写随机变体。\
         只能用给出的商品信息，不得编造功效、价格、赠品或承诺，不要出现联系方式。",
        placeholders.join(" ")
    );
    // The facts and current lines travel as JSON data, not as instructions.
    let data = serde_json::json!({
        "商品": product.name,
        "卖点": product.points,
        "价格": product.price,
        "活动": product.promotion,
        "已有话术": product.lines(segment).iter().map(|t| t.source()).collect::<Vec<_>>(),
    });
    let messages = vec![
        ChatMessage::system(system),
        ChatMessage::user(data.to_string()),
    ];
    let mut stream = client.stream_chat(messages).await?;
    let mut reply = String::new();
    while let Some(delta) = stream.next().await {
        reply.push_str(&delta?);
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_lines_are_cleaned_and_filtered() {
        assert_eq!(clean_line("1. “{product}真好喝！”"), "{product}真好喝！");
        assert_eq!(clean_line("- {product}来了"), "{product}来了");
        let library = aivs_core::rundown::Library::parse(
            "[[product]]\nid = \"a\"\nname = \"茶\"\nprice = \"9元\"\n\
             [product.lines]\nopening = [\"好\"]\nexplain = [\"好\"]\nurge = [\"好\"]\nclosing = [\"好\"]\n",
        )
        .unwrap();
        let product = &library.products()[0];
        let safety = SafetyScreen::new(&["坏词".to_string()], &[], "哔");
        let seen = vec!["好".to_string()];
        assert_eq!(
            acceptable("{product}只要{price}！", product, &safety, &seen),
            Ok(())
        );
        assert!(acceptable("{product}还剩{stock}件", product, &safety, &seen).is_err());
        assert!(acceptable("{user}快买", product, &safety, &seen).is_err());
        assert!(acceptable("坏的{模板", product, &safety, &seen).is_err());
        assert!(acceptable("好", product, &safety, &seen).is_err());
        assert!(acceptable("{product}是坏词", product, &safety, &seen).is_err());
        assert!(acceptable("加微信abc12345买{product}", product, &safety, &seen).is_err());
    }
}
