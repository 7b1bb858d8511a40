//! What the examples that print measurements say about the machine they
//! ran on (shared by `bench_vs_peers` and `cluster` through `#[path]`).

/// The CPU model as `lscpu` names it (`model name` of `/proc/cpuinfo`), or
/// the architecture where that is not available.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}
