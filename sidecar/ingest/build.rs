//! Generates the Rust types of `proto/douyin.proto` (the Douyin webcast push protocol).
//!
//! `protox` parses the schema in pure Rust, so building the sidecar needs no system `protoc`;
//! `prost-build` turns the parsed descriptors into code in `OUT_DIR/douyin.rs`, which
//! `src/source/douyin/proto.rs` includes.

fn main() {
    println!("cargo:rerun-if-changed=proto/douyin.proto");
    let fds = match protox::compile(["douyin.proto"], ["proto"]) {
        Ok(fds) => fds,
        Err(e) => panic!("proto/douyin.proto does not parse: {e:?}"),
    };
    if let Err(e) = prost_build::Config::new().compile_fds(fds) {
        panic!("cannot generate code for proto/douyin.proto: {e}");
    }
}
