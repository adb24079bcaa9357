//! Only the SSE section of `make bench`, printed (BENCHMARKS.md is untouched):
//! `cargo run --release -p burstline-tests --bin bench_sse -- [--moto]`.

fn main() {
    let with_moto = std::env::args().any(|a| a == "--moto");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "{}",
        rt.block_on(burstline_tests::stream_bench::section(with_moto))
    );
}
