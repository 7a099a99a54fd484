//! Compiles `reaper/v1/*.proto` with protox (pure Rust: no `protoc`), and
//! keeps the file descriptor set for server reflection; then the mesh
//! backend's peer protocol, `reaper/mesh/v1/mesh.proto`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["reaper/v1/request.proto", "reaper/v1/reaper.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let fds = protox::compile(files, ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("reaper_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    // The mesh backend's peer protocol: compiled apart so that it stays out
    // of the descriptor set served by reflection (it is no public API).
    let mesh = ["reaper/mesh/v1/mesh.proto"];
    for file in mesh {
        println!("cargo:rerun-if-changed={file}");
    }
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(protox::compile(mesh, ["."])?)?;
    Ok(())
}
