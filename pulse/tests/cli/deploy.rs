//! The deployment configs, checked offline by the tools that read them:
//! docker-compose's own validation, nginx -t, promtool (config, rules and the
//! rules' unit tests), nats-server -t, a Kubernetes schema validator; then
//! what a schema cannot say (health checks, probes, who is exposed). Tools
//! come from `infra/scripts/services.sh deploy-tools`, which `make test` runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A tool `deploy-tools` put under `.pulse/`; the test fails, saying how to
/// get it, when it is missing.
pub fn tool(relative: &str) -> PathBuf {
    let path = repo().join(".pulse").join(relative);
    assert!(
        path.exists(),
        ".pulse/{relative} is missing: run `make test`, or `infra/scripts/services.sh deploy-tools`"
    );
    path
}

/// Runs a command to completion and returns its output whatever its status.
pub fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"))
}

/// Runs a command that must succeed; its output otherwise in the message.
pub fn succeeds(command: &mut Command) -> String {
    let output = run(command);
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{command:?} failed:\n{printed}");
    printed
}

/// Every document of a YAML text, as JSON, through the PyYAML that the
/// validators' venv carries (no YAML crate for the tests alone).
fn yaml_documents(yaml: &str) -> Vec<serde_json::Value> {
    use std::io::Write as _;
    let mut child = Command::new(tool("venv/bin/python"))
        .args(["-c", "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "YAML did not parse");
    let documents: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    documents.into_iter().filter(|d| !d.is_null()).collect()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The compose file as docker-compose resolves it (anchors merged,
/// variables substituted), with a JWT secret set as an operator would.
fn compose_config() -> serde_json::Value {
    let printed = succeeds(
        Command::new(tool("venv-compose/bin/docker-compose"))
            .args(["-f", "docker-compose.yml", "config"])
            .current_dir(repo())
            .env("PULSE_JWT_SECRET", "compose-test-secret-0123456789abcdef"),
    );
    yaml_documents(&printed).remove(0)
}

#[test]
fn the_compose_file_passes_docker_compose_validation_and_refuses_to_start_without_a_jwt_secret() {
    let config = compose_config();
    let services: BTreeSet<&str> = config["services"].as_object().unwrap().keys().map(String::as_str).collect();
    let expected = [
        "nats",
        "mongo",
        "redis",
        "command-api",
        "projectors",
        "chat-gateway",
        "notifier",
        "gateway",
        "gateway-certificate",
        "nats-exporter",
        "prometheus",
        "grafana",
    ];
    assert_eq!(services, expected.into_iter().collect());

    let unset = run(Command::new(tool("venv-compose/bin/docker-compose"))
        .args(["-f", "docker-compose.yml", "config", "-q"])
        .current_dir(repo())
        .env_remove("PULSE_JWT_SECRET"));
    assert!(!unset.status.success());
    assert!(String::from_utf8_lossy(&unset.stderr).contains("set PULSE_JWT_SECRET"));
}

#[test]
fn every_long_running_compose_service_has_a_health_check_a_restart_policy_and_waits_for_its_dependencies() {
    let config = compose_config();
    let services = config["services"].as_object().unwrap();
    for (name, service) in services {
        if name == "gateway-certificate" {
            assert_eq!(service["restart"], "no", "a one-shot job");
            continue;
        }
        assert_eq!(service["restart"], "unless-stopped", "{name}");
        // The exporter's image is FROM scratch: nothing inside to probe with;
        // Prometheus's `up` for its target watches it instead.
        if name != "nats-exporter" {
            assert!(
                service["healthcheck"]["test"].as_array().is_some_and(|t| !t.is_empty()),
                "{name}: no health check"
            );
        }
    }
    for name in ["command-api", "projectors", "chat-gateway", "notifier"] {
        let service = &services[name];
        for dependency in ["nats", "mongo", "redis"] {
            assert_eq!(service["depends_on"][dependency]["condition"], "service_healthy", "{name} on {dependency}");
        }
        let probe = service["healthcheck"]["test"].as_array().unwrap();
        assert_eq!(probe[1], "/usr/local/bin/pulse", "{name}: the image has no curl");
        assert_eq!(service["environment"]["PULSE_LOG_FORMAT"], "json", "{name}");
        assert!(service["environment"]["PULSE_MONGO_URL"].as_str().is_some_and(|u| u.contains("replicaSet=rs0")));
    }
    assert_eq!(services["gateway"]["depends_on"]["gateway-certificate"]["condition"], "service_completed_successfully");
}

#[test]
fn only_the_gateway_is_published_and_the_operators_tools_listen_on_loopback() {
    let config = compose_config();
    for (name, service) in config["services"].as_object().unwrap() {
        let Some(ports) = service["ports"].as_array() else { continue };
        for port in ports {
            let published = port.to_string();
            match name.as_str() {
                "gateway" => {}
                "prometheus" | "grafana" => assert!(published.contains("127.0.0.1"), "{name}: {published}"),
                _ => panic!("{name} publishes {published}: only the gateway faces clients"),
            }
        }
    }
}

#[test]
fn the_nats_images_are_a_current_release_and_the_mongodb_test_server_is_never_deployed() {
    let compose = read("docker-compose.yml");
    let kubernetes: String = manifests().iter().map(|path| std::fs::read_to_string(path).unwrap()).collect();
    for (file, text) in [("docker-compose.yml", &compose), ("infra/k8s", &kubernetes)] {
        let tags: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("image: nats:")).collect();
        assert!(!tags.is_empty(), "{file} runs NATS");
        for tag in tags {
            let version = events::NatsVersion::parse(tag.trim_end_matches("-alpine")).unwrap();
            assert!(version >= events::MIN_NATS_VERSION, "{file}: nats:{tag} is below the floor");
        }
        assert!(!text.to_lowercase().contains("secantus"), "{file} names the test-only MongoDB server");
    }
}

#[test]
fn the_production_nats_configs_fsync_every_write_and_pass_nats_server_t() {
    let nats_server = std::fs::read_to_string(tool("nats-server.path")).unwrap();
    let configs = tempfile::tempdir().unwrap();
    let single = repo().join("infra/nats/nats-server.production.conf");
    let kubernetes = configs.path().join("k8s-nats.conf");
    let config_map =
        manifest_objects().into_iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "nats-config");
    std::fs::write(&kubernetes, config_map.unwrap()["data"]["nats.conf"].as_str().unwrap()).unwrap();
    for config in [single, kubernetes] {
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.lines().any(|l| l.trim() == "sync_interval: always"), "{}", config.display());
        succeeds(Command::new(nats_server.trim()).args(["-t", "-c"]).arg(&config).env("POD_NAME", "nats-0"));
    }
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool_and_their_unit_tests() {
    let promtool = tool("tools/usr/bin/promtool");
    let dir = repo().join("infra/prometheus");
    succeeds(Command::new(&promtool).args(["check", "config", "prometheus.yml"]).current_dir(&dir));
    succeeds(Command::new(&promtool).args(["test", "rules", "alerts.test.yml"]).current_dir(&dir));
    let alerts = read("infra/prometheus/alerts.yml");
    for must in ["error", "latency", "lag", "pending", "disconnect", "dead_letter"] {
        assert!(alerts.to_lowercase().contains(must), "no alert on {must}");
    }
}

#[test]
fn prometheus_scrapes_every_service_that_compose_runs() {
    let scrape = yaml_documents(&read("infra/prometheus/prometheus.yml")).remove(0);
    let targets: BTreeSet<String> = scrape["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|job| job["static_configs"].as_array().cloned().unwrap_or_default())
        .flat_map(|group| group["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|target| target.as_str().map(str::to_owned))
        .collect();
    for wanted in ["command-api:3001", "projectors:3002", "chat-gateway:3003", "notifier:3004", "nats-exporter:7777"] {
        assert!(targets.contains(wanted), "{wanted} is not scraped: {targets:?}");
    }
}

/// Every `pulse_*` metric name a PromQL text mentions, as its family name
/// (without `_total`, `_bucket`, `_sum`, `_count`).
pub fn metric_families(promql: &str) -> BTreeSet<String> {
    promql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("pulse_"))
        .map(|word| {
            ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
                .to_owned()
        })
        .collect()
}

/// What the Grafana dashboard and the alert rules query.
fn queried_metric_families() -> BTreeSet<String> {
    let mut queried = metric_families(&read("infra/prometheus/alerts.yml"));
    let dashboard: serde_json::Value = serde_json::from_str(&read("infra/grafana/dashboards/pulse.json")).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queried.extend(metric_families(target["expr"].as_str().unwrap_or_default()));
        }
    }
    queried
}

/// Every metric a service registers: the name after `register(` in the
/// crates' sources, with the `pulse_` prefix every registry adds. Read from
/// the source because a labelled family shows in `/metrics` only once it has
/// a sample, and a dead letter is not something to cause in a test.
fn registered_metric_families() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![repo()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir()
                && !name.starts_with('.')
                && !["target", "tests", "examples", "benches"].contains(&name.as_str())
            {
                pending.push(path);
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for after in text.split("register(").skip(1) {
                    let after = after.trim_start();
                    if let Some(literal) = after.strip_prefix('"').and_then(|rest| rest.split('"').next()) {
                        found.insert(format!("pulse_{literal}"));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn the_dashboard_and_the_alerts_query_only_metrics_the_services_register() {
    let registered = registered_metric_families();
    assert!(registered.contains("pulse_http_requests") && registered.contains("pulse_projection_lag_seconds"));
    let queried = queried_metric_families();
    assert!(queried.len() >= 15, "{queried:?}");
    let unknown: Vec<&String> = queried.difference(&registered).collect();
    assert!(unknown.is_empty(), "queried but registered by no service: {unknown:?}");
}

#[test]
fn grafana_provisions_the_dashboard_from_the_folder_compose_mounts() {
    let provider = yaml_documents(&read("infra/grafana/provisioning/dashboards/pulse.yml")).remove(0);
    assert_eq!(provider["providers"][0]["options"]["path"], "/var/lib/grafana/dashboards");
    let compose = read("docker-compose.yml");
    assert!(compose.contains("./infra/grafana/dashboards:/var/lib/grafana/dashboards"));
    let dashboard: serde_json::Value = serde_json::from_str(&read("infra/grafana/dashboards/pulse.json")).unwrap();
    let titles: String = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect::<Vec<_>>()
        .join("|");
    for wanted in ["latency", "error", "appended", "lag", "connections", "delivery", "notification"] {
        assert!(titles.to_lowercase().contains(wanted), "no panel on {wanted}: {titles}");
    }
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("infra/k8s"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn manifest_objects() -> Vec<serde_json::Value> {
    manifests().iter().flat_map(|path| yaml_documents(&std::fs::read_to_string(path).unwrap())).collect()
}

#[test]
fn every_kubernetes_manifest_passes_the_schema_validator_strictly() {
    let files = manifests();
    assert!(files.len() >= 8, "{files:?}");
    succeeds(Command::new(tool("venv/bin/kubernetes-validate")).args(["--strict"]).args(&files));
}

#[test]
fn each_kubernetes_deployment_is_probed_limited_and_kept_available_and_the_edge_ones_autoscale() {
    let objects = manifest_objects();
    let named = |kind: &str| -> BTreeSet<String> {
        objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let deployments: Vec<&serde_json::Value> = objects.iter().filter(|o| o["kind"] == "Deployment").collect();
    let services = ["chat-gateway", "command-api", "notifier", "projectors"];
    assert_eq!(named("Deployment"), services.iter().map(|s| s.to_string()).collect());
    for deployment in deployments {
        let name = deployment["metadata"]["name"].as_str().unwrap();
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready", "{name}");
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health", "{name}");
        assert!(container["resources"]["requests"]["cpu"].is_string(), "{name}");
        assert!(container["resources"]["limits"]["memory"].is_string(), "{name}");
        assert_eq!(container["args"][0], name, "{name} runs its own subcommand");
        assert_eq!(container["securityContext"]["runAsNonRoot"], true, "{name}");
    }
    let budgets: BTreeSet<String> = objects
        .iter()
        .filter(|o| o["kind"] == "PodDisruptionBudget")
        .filter_map(|o| o["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"].as_str().map(str::to_owned))
        .collect();
    for name in services.iter().chain(&["nats"]) {
        assert!(budgets.contains(*name), "{name} has no PodDisruptionBudget");
    }
    let scaled: BTreeSet<String> = objects
        .iter()
        .filter(|o| o["kind"] == "HorizontalPodAutoscaler")
        .filter_map(|o| o["spec"]["scaleTargetRef"]["name"].as_str().map(str::to_owned))
        .collect();
    assert!(scaled.contains("command-api") && scaled.contains("chat-gateway"), "{scaled:?}");
}

#[test]
fn kubernetes_runs_three_nats_servers_and_pulse_asks_for_three_replicas() {
    let objects = manifest_objects();
    let nats = objects.iter().find(|o| o["kind"] == "StatefulSet" && o["metadata"]["name"] == "nats").unwrap();
    assert_eq!(nats["spec"]["replicas"], 3);
    assert!(nats["spec"]["volumeClaimTemplates"].as_array().is_some_and(|v| !v.is_empty()), "file storage on volumes");
    let config = objects.iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "pulse-config").unwrap();
    assert_eq!(config["data"]["PULSE_NATS_REPLICAS"], "3");
}

#[test]
fn the_ingress_routes_the_api_and_the_chat_socket_and_nothing_else() {
    let objects = manifest_objects();
    let ingress = objects.iter().find(|o| o["kind"] == "Ingress").unwrap();
    let routes: BTreeSet<(String, String)> = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["path"].as_str().unwrap().to_owned(), p["backend"]["service"]["name"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [("/api/v1".to_owned(), "command-api".to_owned()), ("/ws".to_owned(), "chat-gateway".to_owned())];
    assert_eq!(routes, expected.into_iter().collect());
}

#[test]
fn the_image_is_built_in_stages_and_runs_as_a_user_that_is_not_root() {
    let dockerfile = read("Dockerfile");
    let stages: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(stages.len() >= 2, "a build stage and a runtime stage: {stages:?}");
    for stage in &stages {
        let image = stage.split_whitespace().nth(1).unwrap();
        assert!(image.contains(':') && !image.ends_with(":latest"), "{image} is not pinned");
    }
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    let user = runtime.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("the runtime stage sets USER");
    assert!(!user.starts_with("root") && !user.starts_with('0'), "runs as {user}");
    assert!(runtime.contains("ENTRYPOINT [\"/usr/local/bin/pulse\"]"));
    assert!(dockerfile.contains("cargo build --release --locked -p pulse"));
}
