//! deploy/kubernetes/: the manifests against the Kubernetes schemas, and what
//! the gateway needs of them that no schema knows.

use super::common::{self, repo_file};
use super::{check, read, run};
use serde_json::{Value, json};

/// The manifests of deploy/kubernetes/, as JSON (PyYAML of the validator's venv).
pub fn kubernetes_documents() -> Vec<Value> {
    let python = common::python_tool("python");
    let script = "import json, sys, yaml\n\
        docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]\n\
        print(json.dumps(docs))";
    let files = kubernetes_files();
    let mut args = vec!["-c", script];
    args.extend(files.iter().map(String::as_str));
    serde_json::from_str(&check(&python.display().to_string(), &args, "python3-venv")).unwrap()
}

fn kubernetes_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_file("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn the_kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let validator = common::python_tool("kubernetes-validate").display().to_string();
    let files = kubernetes_files();
    assert!(files.len() >= 5, "{files:?}");
    let mut args = vec!["--strict"];
    args.extend(files.iter().map(String::as_str));
    let out = check(&validator, &args, "python3-venv");
    assert!(!out.contains("ERROR") && !out.contains("WARN"), "{out}");
    // And a broken one does not.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, read("deploy/kubernetes/deployment.yaml").replace("replicas: 2", "replicas: two")).unwrap();
    let out = run(&validator, &["--strict", &broken.display().to_string()], "python3-venv");
    assert!(!out.status.success(), "the validator let a string replica count through");
}

pub fn kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
}

/// What the validator cannot know: the replicas, probes, grace period and
/// lock-down the gateway needs, and that every mounted Secret and ConfigMap exists.
#[test]
fn the_deployment_runs_two_locked_down_replicas_with_probes_and_files_from_secrets() {
    let docs = kubernetes_documents();
    let deployment = kind(&docs, "Deployment", "bawaba");
    let spec = &deployment["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pod = &spec["template"]["spec"];
    // Above server.shutdown_grace_seconds (default 10).
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 10);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["startupProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let config = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect::<Vec<_>>();
    assert_eq!(config[..2], ["serve", "--config"]);

    for volume in pod["volumes"].as_array().unwrap() {
        if let Some(secret) = volume["secret"]["secretName"].as_str() {
            kind(&docs, "Secret", secret);
        }
        if let Some(map) = volume["configMap"]["name"].as_str() {
            kind(&docs, "ConfigMap", map);
        }
    }
    // The PodDisruptionBudget and the Service select these pods.
    let labels = &spec["template"]["metadata"]["labels"];
    for (k, v) in kind(&docs, "PodDisruptionBudget", "bawaba")["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&labels[k], v);
    }
    assert!(kind(&docs, "PodDisruptionBudget", "bawaba")["spec"]["minAvailable"].as_u64().unwrap() >= 1);
    for (k, v) in kind(&docs, "Service", "bawaba")["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v);
    }
    // The policy ConfigMap holds the defaults as they are in config/.
    let policy = &kind(&docs, "ConfigMap", "bawaba-policy")["data"];
    assert_eq!(policy["purposes.toml"], read("config/purposes.toml").as_str());
    assert_eq!(policy["sms_templates.toml"], read("config/sms_templates.toml").as_str());
}
