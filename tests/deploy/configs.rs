//! Every shipped configuration (systemd, image, Kubernetes) through the real
//! `bawaba check-config`, on a temp dir laid out like the target machine; and
//! the image build's sources.

use super::common::repo_file;
use super::kubernetes::{kind, kubernetes_documents};
use super::read;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// A place that looks like the target machine: `/etc/bawaba`, `/var/lib/bawaba`
/// and `/etc/bawaba/…/` under a temp dir, with a TLS certificate, a clients
/// file with a real (non-demo) secret, and the policy files.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new(etc_files: &[(&str, &str)]) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let m = Machine { dir };
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let mut hash = Command::new(env!("CARGO_BIN_EXE_bawaba"))
            .args(["clients", "hash-secret"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        hash.stdin.take().unwrap().write_all(b"a-long-production-secret-not-a-demo-one").unwrap();
        let hash = String::from_utf8(hash.wait_with_output().unwrap().stdout).unwrap();
        let clients = format!(
            "[[clients]]\nclient_id = \"center-zagazig-01\"\nsecret_hash = \"{}\"\nscopes = [\"national_id:verify\"]\npurposes = [\"*\"]\ncenter_id = \"SHR-ZAG-01\"\nrate_per_second = 50\nrate_burst = 100\n",
            hash.trim()
        );
        let (cert, key) = (certified.cert.pem(), certified.signing_key.serialize_pem());
        let purposes = read("config/purposes.toml");
        let templates = read("config/sms_templates.toml");
        for (rel, text) in etc_files {
            let text = match *text {
                "cert" => cert.as_str(),
                "key" => key.as_str(),
                "clients" => clients.as_str(),
                "purposes" => purposes.as_str(),
                "templates" => templates.as_str(),
                other => other,
            };
            let path = m.root().join(rel.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(m.root().join("var/lib/bawaba")).unwrap();
        m
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration with its absolute paths moved under this machine.
    fn config(&self, text: &str) -> std::path::PathBuf {
        let root = self.root().display().to_string();
        let text = text
            .replace("\"/etc/bawaba/", &format!("\"{root}/etc/bawaba/"))
            .replace("sqlite:///var/lib/bawaba", &format!("sqlite://{root}/var/lib/bawaba"));
        let text = text.replace("\"/var/lib/bawaba", &format!("\"{root}/var/lib/bawaba"));
        let path = self.root().join("bawaba.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `bawaba check-config` on `config` with `env`: its exit code and output.
    fn check_config(&self, config: &Path, env: &[(&str, &str)]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_bawaba"))
            .args(["check-config", "--config", &config.display().to_string()])
            .current_dir(self.root().join("var/lib/bawaba"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }
}

#[test]
fn the_systemd_configuration_passes_check_config() {
    let m = Machine::new(&[
        ("etc/bawaba/clients.toml", "clients"),
        ("etc/bawaba/purposes.toml", "purposes"),
        ("etc/bawaba/sms_templates.toml", "templates"),
    ]);
    let config = m.config(&read("deploy/systemd/bawaba.toml"));
    let (code, out) = m.check_config(&config, &[("BAWABA__SMS__SMSC_SECRET", "the-operators-smsc-secret")]);
    assert_eq!(code, 0, "{out}");
    // The unit gives it the same file, as the same user's working directory.
    let unit = read("deploy/systemd/bawaba.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/bawaba serve --config /etc/bawaba/bawaba.toml"));
    assert!(unit.contains("WorkingDirectory=/var/lib/bawaba") && unit.contains("StateDirectory=bawaba"));
}

#[test]
fn the_image_configuration_passes_check_config_once_the_smsc_secret_is_given() {
    let m = Machine::new(&[
        ("etc/bawaba/tls/tls.crt", "cert"),
        ("etc/bawaba/tls/tls.key", "key"),
        ("etc/bawaba/clients.toml", "clients"),
    ]);
    let config = m.config(&read("deploy/container/bawaba.toml"));
    let (code, out) = m.check_config(&config, &[]);
    assert_eq!(code, 2, "the demo SMSC secret on a public address is refused: {out}");
    assert!(out.contains("smsc_secret"), "{out}");
    let (code, out) = m.check_config(&config, &[("BAWABA__SMS__SMSC_SECRET", "the-operators-smsc-secret")]);
    assert_eq!(code, 0, "{out}");
    // The image copies this file where its command reads it.
    let containerfile = read("deploy/container/Containerfile");
    assert!(containerfile.contains("COPY deploy/container/bawaba.toml /out/etc/bawaba/bawaba.toml"));
    assert!(containerfile.contains(r#"CMD ["serve", "--config", "/etc/bawaba/bawaba.toml"]"#));
}

#[test]
fn the_kubernetes_configuration_passes_check_config_with_its_mounted_files() {
    let docs = kubernetes_documents();
    let toml = kind(&docs, "Secret", "bawaba-config")["stringData"]["bawaba.toml"].as_str().unwrap().to_owned();
    let policy = &kind(&docs, "ConfigMap", "bawaba-policy")["data"];
    let (purposes, templates) =
        (policy["purposes.toml"].as_str().unwrap(), policy["sms_templates.toml"].as_str().unwrap());
    let m = Machine::new(&[
        ("etc/bawaba/tls/tls.crt", "cert"),
        ("etc/bawaba/tls/tls.key", "key"),
        ("etc/bawaba/clients/clients.toml", "clients"),
        ("etc/bawaba/policy/purposes.toml", purposes),
        ("etc/bawaba/policy/sms_templates.toml", templates),
    ]);
    let config = m.config(&toml);
    // Its placeholders do not pass: the SMSC secret must be set.
    let (code, out) = m.check_config(&config, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("sms.smsc_secret"), "{out}");
    let (code, out) = m.check_config(&config, &[("BAWABA__SMS__SMSC_SECRET", "the-operators-smsc-secret")]);
    assert_eq!(code, 0, "{out}");
    assert!(toml.contains("url = \"postgres://"), "the replicas share a PostgreSQL store");
    // The mounts are where the configuration looks.
    let deployment = read("deploy/kubernetes/deployment.yaml");
    for dir in
        ["/etc/bawaba/config", "/etc/bawaba/clients", "/etc/bawaba/keys", "/etc/bawaba/tls", "/etc/bawaba/policy"]
    {
        assert!(deployment.contains(&format!("mountPath: {dir}\n")), "{dir} is not mounted");
    }
}

/// The build stage copies the whole workspace: cargo resolves it from those
/// paths alone, offline and locked.
#[test]
fn the_containerfile_copies_everything_the_build_needs() {
    let containerfile = read("deploy/container/Containerfile");
    let build = containerfile.split("\nFROM ").nth(1).expect("a build stage");
    let dir = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for line in build.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let (sources, dest) = (&parts[1..parts.len() - 1], parts[parts.len() - 1]);
        if dest.starts_with('/') {
            continue; // the runtime files, checked above
        }
        for src in sources {
            let from = repo_file(src);
            let to = dir.path().join(if dest == "./" { *src } else { dest });
            let status = Command::new("cp").arg("-r").arg(&from).arg(&to).status().unwrap();
            assert!(status.success(), "{line}: {src} is not in the repository");
            copied += 1;
        }
    }
    assert!(copied >= 5, "{copied} sources copied");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--offline", "--format-version", "1", "--no-deps"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo cannot read the copied workspace: {text}");
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .filter(|t| t["kind"] == json!(["bin"]))
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(targets.contains(&"bawaba".to_owned()), "{targets:?}");
    // And what the sources embed (`include_str!`, `include_bytes!`) was copied too.
    let mut embedded = 0;
    for root in ["src", "connectors/src"] {
        for file in rust_files(&dir.path().join(root)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, _) in text.match_indices("include_").filter(|(i, _)| !text[..*i].ends_with("//! ")) {
                let Some(rest) =
                    text[i..].strip_prefix("include_str!(\"").or(text[i..].strip_prefix("include_bytes!(\""))
                else {
                    continue;
                };
                let rel = &rest[..rest.find('"').unwrap()];
                let target = file.parent().unwrap().join(rel);
                assert!(target.exists(), "{} embeds {rel}, which the image build does not copy", file.display());
                embedded += 1;
            }
        }
    }
    assert!(embedded >= 4, "{embedded} embedded files");
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
