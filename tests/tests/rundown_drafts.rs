//! `sidecar rundown draft` (`sidecar::rundown_drafts`) against `e2e::fake_openai`: the model's
//! variants land in the script file's drafts file unreviewed, broken or unfit lines are
//! dropped, a failed request costs only its own drafts, and the library uses a draft only
//! once it is marked reviewed.

use std::time::Duration;

use anyhow::Result;
use e2e::fake_openai::{tokens, FakeConfig, FakeOpenAi, Script};
use sidecar::llm::{LlmConfig, Preset};
use sidecar::rundown::Segment;
use sidecar::rundown_drafts::{draft_dir, drafting_client};
use sidecar::rundown_library::load_dir;
use sidecar::safety::SafetyScreen;

const SCRIPT: &str = r#"
[[product]]
id = "tea"
name = "高山乌龙茶"
points = ["冷泡出香"]
price = "89元"
link = "1号链接"

[product.lines]
opening = ["{product}来了！"]
explain = ["{product}{point}。"]
urge = ["{product}只要{price}！"]
closing = ["{product}最后一波！"]
"#;

/// Two good lines (one with a list marker and quotes), a broken template, a fact the product
/// lacks, a repeat of a line it has, and contact bait.
const REPLY: &str = "1. “{product}今天{真的|确实}值！”\n- {product}喝过都说好\n坏的{模板\n\
                     还剩{stock}件\n{product}只要{price}！\n加微信abc12345领{product}\n";

#[tokio::test]
async fn drafts_are_written_unreviewed_and_used_once_reviewed() -> Result<()> {
    let fake = FakeOpenAi::start(FakeConfig {
        ttft: Duration::from_millis(5),
        token_interval: Duration::from_millis(1),
        default_reply: tokens(REPLY),
        ..Default::default()
    })
    .await?;
    // The first request fails: that segment gets no drafts, the others do.
    fake.push(Script::Error {
        status: 400,
        message: "bad request".into(),
        retry_after: None,
    });
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("shop.toml"), SCRIPT)?;
    let llm = LlmConfig {
        preset: Preset::Ollama,
        base_url: fake.base_url(),
        model: "qwen".into(),
        retries: 0,
        requests_per_minute: 0,
        ..Default::default()
    };
    let client = drafting_client(&llm)?;
    let safety = SafetyScreen::new(&[], &[], "哔");

    let reports = draft_dir(dir.path(), &client, &safety, 2).await?;
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.failed_requests, 1);
    // Three segments answered: three usable lines each (but urge, which has one of them
    // already), three dropped each.
    assert_eq!((report.written, report.dropped), (8, 10));
    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    let system = requests[1].message_content(0).unwrap_or_default();
    assert!(
        system.contains("2条") && system.contains("{price}"),
        "{system}"
    );
    assert!(
        !system.contains("{stock}"),
        "the product has no stock: {system}"
    );
    let data = requests[1].message_content(1).unwrap_or_default();
    let data: serde_json::Value = serde_json::from_str(data)?;
    assert_eq!(data["商品"], "高山乌龙茶");

    let drafts_path = dir.path().join("shop.drafts.toml");
    let drafts = std::fs::read_to_string(&drafts_path)?;
    assert_eq!(drafts.matches("reviewed = false").count(), 8, "{drafts}");
    assert!(
        drafts.contains("text = \"{product}今天{真的|确实}值！\""),
        "{drafts}"
    );
    assert!(!drafts.contains("坏的") && !drafts.contains("stock") && !drafts.contains("微信"));
    assert!(
        !drafts.contains("segment = \"opening\""),
        "the failed request's segment"
    );

    // Unreviewed: not used.
    let (library, files) = load_dir(dir.path())?;
    assert_eq!((files[0].drafts.used, files[0].drafts.waiting), (0, 8));
    let tea = library.product("tea").unwrap();
    assert_eq!(tea.lines(Segment::Explain).len(), 1);

    // A reviewer approves the explain drafts; a second run appends after their edits.
    let reviewed = drafts.replace(
        "segment = \"explain\"\ntext = \"{product}今天{真的|确实}值！\"\nreviewed = false",
        "segment = \"explain\"\ntext = \"{product}今天{真的|确实}值！\"\nreviewed = true",
    );
    assert_ne!(reviewed, drafts);
    std::fs::write(&drafts_path, &reviewed)?;
    let (library, files) = load_dir(dir.path())?;
    assert_eq!((files[0].drafts.used, files[0].drafts.waiting), (1, 7));
    let explain = library.product("tea").unwrap().lines(Segment::Explain);
    assert_eq!(explain.len(), 2);
    assert_eq!(explain[1].source(), "{product}今天{真的|确实}值！");

    // A second run: a line already drafted is not written again.
    for _ in 0..4 {
        fake.push(Script::Reply(tokens(
            "{product}第二轮也好喝\n{product}喝过都说好\n",
        )));
    }
    let reports = draft_dir(dir.path(), &client, &safety, 2).await?;
    assert_eq!((reports[0].written, reports[0].dropped), (4, 4));
    let again = std::fs::read_to_string(&drafts_path)?;
    assert!(
        again.starts_with(&reviewed),
        "earlier drafts and edits kept"
    );
    assert_eq!(again.matches("# Variants written by").count(), 1);
    let (_, files) = load_dir(dir.path())?;
    assert_eq!((files[0].drafts.used, files[0].drafts.waiting), (1, 11));
    Ok(())
}
