//! Generates the server side of the wave-1 wire contract (../proto/compat/wave1) for the test
//! that a current agent can still deliver to a collector that speaks only that contract.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        set_protoc(protoc_bin_vendored::protoc_bin_path()?);
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("wave1");
    std::fs::create_dir_all(&out)?;
    let root = "../proto/compat/wave1";
    println!("cargo:rerun-if-changed={root}");
    tonic_prost_build::configure()
        .build_client(false)
        .out_dir(&out)
        .compile_protos(
            &[
                format!("{root}/landmeter/v1/facts.proto"),
                format!("{root}/landmeter/v1/ingest.proto"),
            ],
            &[root.to_owned()],
        )?;
    Ok(())
}

fn set_protoc(path: std::path::PathBuf) {
    // prost-build reads PROTOC in this same process; nothing else runs concurrently here.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PROTOC", path);
    }
}
