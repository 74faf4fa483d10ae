//! Types generated from `sidecar/proto/douyin.proto` by `build.rs` (prost).
#![allow(clippy::doc_lazy_continuation, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/douyin.rs"));
