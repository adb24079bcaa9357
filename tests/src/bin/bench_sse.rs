//! `make bench`'s SSE section: commit-to-frame latency, idle read cost and memory per stream,
//! printed and recorded in BENCHMARKS.md (its own section; the others are kept).
//! `cargo run --release -p burstline-tests --bin bench_sse -- [--moto] [--aws-model standard|efo]`.

fn main() {
    let with_moto = std::env::args().any(|a| a == "--moto");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let model = burstline_tests::aws_model::from_args();
    let section = rt.block_on(burstline_tests::stream_bench::section(
        with_moto,
        model.as_ref(),
    ));
    println!("{section}");
    let doc = format!(
        "{section}\n`cargo run --release -p burstline-tests --bin bench_sse -- --moto` (part of \
         `make bench`) on {}.\n",
        burstline_tests::benchdoc::machine()
    );
    let path = burstline_tests::benchdoc::record_section("sse", &doc).expect("write BENCHMARKS.md");
    eprintln!("recorded in {}", path.display());
}
