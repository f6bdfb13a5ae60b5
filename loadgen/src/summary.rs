//! The comparison table of `bench/run.sh`: absolute figures plus ratios to the floor and nats.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::Res;

/// The figures shown per scenario: (JSON key, unit, higher is better).
fn metrics(scenario: &str) -> &'static [(&'static str, &'static str, bool)] {
    match scenario {
        "big-room" | "small-rooms" => &[
            ("deliveries_per_s", "/s", true),
            ("p50_ms", "ms", false),
            ("p99_ms", "ms", false),
            ("p999_ms", "ms", false),
            ("lost", "", false),
            ("delivery_frame_bytes", "B", false),
            ("server_cpu_us_per_delivery", "us", false),
        ],
        "durable" => &[
            ("acks_per_s", "/s", true),
            ("ack_p50_ms", "ms", false),
            ("ack_p99_ms", "ms", false),
            ("ack_p999_ms", "ms", false),
            ("lost_acks", "", false),
            ("server_cpu_us_per_ack", "us", false),
        ],
        "catch-up" => &[("events_per_s", "/s", true), ("window_p99_ms", "ms", false)],
        "idle" => &[("rss_per_conn_bytes", "B", false)],
        "cold-start" => &[
            ("start_best_ms", "ms", false),
            ("start_median_ms", "ms", false),
        ],
        "sdk-dispatch" => &[
            ("sdk_events_per_s", "/s", true),
            ("raw_events_per_s", "/s", true),
            ("sdk_vs_raw", "x", true),
        ],
        "resume" => &[
            ("resume_ms", "ms", false),
            ("catchup_requests", "", false),
            ("lost", "", false),
            ("gaps", "", false),
            ("outbox_msgs_per_s", "/s", true),
            ("outbox_failed", "", false),
        ],
        _ => &[],
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Prints the table.
pub fn summarize(file: &str) -> Res<bool> {
    let text = std::fs::read_to_string(file)?;
    // label -> target -> line
    let mut rows: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line)?;
        let label = v["label"].as_str().unwrap_or("?").to_string();
        let target = v["result"]["target"].as_str().unwrap_or("?").to_string();
        if !order.contains(&label) {
            order.push(label.clone());
        }
        rows.entry(label).or_default().insert(target, v);
    }
    println!(
        "{:<22} {:<9} {:<27} {:>12} {:>9} {:>9} {:>7} {:>7} {:>9}",
        "scenario",
        "target",
        "figure",
        "value",
        "vs floor",
        "vs nats",
        "cpu%",
        "lg cpu%",
        "rss MiB"
    );
    println!("{}", "-".repeat(118));
    let mut all_ok = true;
    for label in &order {
        let targets = &rows[label];
        for (target, line) in targets {
            let r = &line["result"];
            all_ok &= r["ok"].as_bool().unwrap_or(true);
            let scenario = r["scenario"].as_str().unwrap_or("");
            // CPU during the load window when the load generator measured it, else over the
            // whole run (set-up included).
            let cpu = r["server_cpu_pct"]
                .as_f64()
                .or_else(|| line["cpu_pct"].as_f64())
                .map(|c| match line["other_cpu_pct"].as_f64() {
                    // The scale-out runs: + PostgreSQL, NATS and the second node.
                    Some(o) => format!("{c:.0}+{o:.0}"),
                    None => format!("{c:.0}"),
                });
            let lg_cpu = r["loadgen_cpu_pct"].as_f64().map(|c| format!("{c:.0}"));
            let rss = line["rss_max_kib"]
                .as_f64()
                .map(|k| format!("{:.1}", k / 1024.0));
            for (i, (key, unit, _higher)) in metrics(scenario).iter().enumerate() {
                let Some(v) = r[*key].as_f64() else { continue };
                let ratio = |peer: &str| -> String {
                    if target == peer {
                        return String::new();
                    }
                    match targets.get(peer).and_then(|p| p["result"][*key].as_f64()) {
                        Some(pv) if pv != 0.0 => format!("{:.2}x", v / pv),
                        _ => String::new(),
                    }
                };
                let (cpu_s, lg_s, rss_s) = if i == 0 {
                    (
                        cpu.clone().unwrap_or_default(),
                        lg_cpu.clone().unwrap_or_default(),
                        rss.clone().unwrap_or_default(),
                    )
                } else {
                    (String::new(), String::new(), String::new())
                };
                println!(
                    "{:<22} {:<9} {:<27} {:>12} {:>9} {:>9} {:>7} {:>7} {:>9}",
                    if i == 0 { label.as_str() } else { "" },
                    if i == 0 { target.as_str() } else { "" },
                    format!("{key} {unit}").trim_end(),
                    fmt(v),
                    ratio("floor"),
                    ratio("nats"),
                    cpu_s,
                    lg_s,
                    rss_s
                );
            }
        }
    }
    println!("ratios: this target's figure / the peer's (higher is better for /s, lower for ms, us and bytes)");
    println!("cpu%: the server's CPU during the load window (% of one core; whole run where not measured); lg cpu%: the load generator's");
    println!("a+b in cpu%: node 1, + PostgreSQL, NATS and node 2 over the whole scenario (scale-out runs)");
    Ok(all_ok)
}
