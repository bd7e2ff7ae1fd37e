// Links libzaya. ZAYA_LIB_DIR names the directory holding libzaya.so (a build tree's capi/ or an
// install prefix's lib/); without it the system's library path is searched. ZAYA_STATIC=1 links
// libzaya.a instead (plus the C++ runtime and the engine's dependencies).
use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=ZAYA_LIB_DIR");
    println!("cargo:rerun-if-env-changed=ZAYA_STATIC");
    if let Ok(dir) = env::var("ZAYA_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
    }
    if env::var("ZAYA_STATIC").map(|v| v == "1").unwrap_or(false) {
        println!("cargo:rustc-link-lib=static=zaya");
        for lib in ["stdc++", "fmt", "simdjson", "pthread", "dl", "m"] {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    } else {
        println!("cargo:rustc-link-lib=dylib=zaya");
    }
}
