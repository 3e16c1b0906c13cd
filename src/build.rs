//! Compiles src/long_double.c: the C `long double` operations util.rs's LongDouble
//! needs (Rust has no 80-bit float; see the file's header).

fn main() {
    println!("cargo:rerun-if-changed=src/long_double.c");
    cc::Build::new()
        .file("src/long_double.c")
        .warnings(true)
        .compile("ferredis_long_double");
}
