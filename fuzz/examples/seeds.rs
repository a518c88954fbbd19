//! Writes the seed corpora: `cargo run --example seeds` (from `fuzz/`).
//! Each file is named by the first 16 hex digits of its SHA-256, so running
//! it again rewrites the same files.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, inputs) in cairn_fuzz::seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for input in &inputs {
            let name = cairn_types::Hash::digest(input).to_hex()[..16].to_lowercase();
            std::fs::write(dir.join(name), input)?;
        }
        println!("{target}: {} seeds", inputs.len());
    }
    Ok(())
}
