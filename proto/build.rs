//! Generates the landmeter.v1 types and services, plus a descriptor set for gRPC reflection.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A vendored protoc keeps the build offline and reproducible unless the user chose one.
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY-free: build scripts are single-threaded at this point.
        unsafe_set_protoc(protoc_bin_vendored::protoc_bin_path()?);
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "landmeter/v1/facts.proto",
        "landmeter/v1/ingest.proto",
        "landmeter/v1/map.proto",
        "landmeter/v1/enrol.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("landmeter_v1_descriptor.bin"))
        .compile_protos(&protos, &["."])?;
    compat_descriptors(&out)?;
    Ok(())
}

/// Descriptor sets of the contracts agents and collectors in the field speak (compat/<name>/,
/// copied from the commits named in compat/README.md), for the test that the current contract
/// only adds to them (tests/contract.rs). No code is generated from them.
fn compat_descriptors(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let protoc = std::env::var("PROTOC")?;
    for release in ["wave1", "wave2"] {
        let root = format!("compat/{release}");
        let mut files: Vec<String> = std::fs::read_dir(format!("{root}/landmeter/v1"))?
            .map(|e| e.map(|e| format!("landmeter/v1/{}", e.file_name().to_string_lossy())))
            .collect::<Result<_, _>>()?;
        files.sort();
        println!("cargo:rerun-if-changed={root}");
        let status = std::process::Command::new(&protoc)
            .arg(format!(
                "--descriptor_set_out={}",
                out.join(format!("compat_{release}.bin")).display()
            ))
            .arg("--include_imports")
            .arg(format!("-I{root}"))
            .args(&files)
            .status()?;
        if !status.success() {
            return Err(format!("protoc failed on {root}").into());
        }
    }
    Ok(())
}

fn unsafe_set_protoc(path: std::path::PathBuf) {
    // The PROTOC variable is read by prost-build in this same process.
    // Edition 2024 marks set_var unsafe; nothing else runs concurrently in a build script.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PROTOC", path);
    }
}
