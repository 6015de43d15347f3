// Records the triple xtask is compiled for: the host `dist` builds by default.
fn main() {
    println!("cargo:rustc-env=XTASK_HOST_TRIPLE={}", std::env::var("TARGET").expect("cargo sets TARGET"));
}
