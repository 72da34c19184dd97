//! Stamps `--version` (see build-support/version.rs, shared with the other binary).

include!("../build-support/version.rs");

fn main() {
    stamp_version();
}
