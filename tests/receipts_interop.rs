//! Receipts checked by what is not ours: the PNG QR decoded by `zbarimg`
//! (Debian's zbar-tools), the code verified by Python's `pycose` (an
//! independent COSE implementation, with `cbor2` and `base45` from PyPI, in a
//! venv under target/), and by `bawaba receipt verify` offline against the
//! published trust list. These need the tools: `.ci/run` installs them; a
//! missing one fails the test, it is not skipped.

mod common;

use common::{TestApp, verify_body};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bawaba");

async fn receipt(app: &TestApp) -> Value {
    let token = app.token("center-demo").await;
    let mut body = verify_body("29001011300036", json!({"full_name": "محمد أحمد علي", "gender": "female"}));
    body["receipt"] = json!(true);
    let (status, answer) = app.verify(&token, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer["receipt"].clone()
}

async fn trust_list(app: &TestApp) -> String {
    app.http.get(app.url("/.well-known/bawaba-receipt-keys.json")).send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_png_qr_decodes_with_zbarimg_to_the_code() {
    let app = TestApp::spawn().await;
    let receipt = receipt(&app).await;
    let token = app.token("center-demo").await;
    let png = app.get(&format!("/v1/receipts/{}/qr.png", receipt["id"].as_str().unwrap()), &token).await;
    assert_eq!(png.status(), 200);
    let path = app.dir.path().join("qr.png");
    std::fs::write(&path, png.bytes().await.unwrap()).unwrap();
    let out = Command::new("zbarimg")
        .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
        .arg(&path)
        .output()
        .expect("zbarimg (Debian zbar-tools) is installed");
    assert!(out.status.success(), "zbarimg: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), receipt["code"].as_str().unwrap());

    // What was scanned verifies, offline, with the saved trust list.
    let keys = app.dir.path().join("keys.json");
    std::fs::write(&keys, trust_list(&app).await).unwrap();
    let run = Command::new(BIN)
        .args(["receipt", "verify", "-", "--keys"])
        .arg(&keys)
        .stdin(std::fs::File::open(write(&app, "scanned.txt", &out.stdout)).unwrap())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
}

fn write(app: &TestApp, name: &str, bytes: &[u8]) -> PathBuf {
    let path = app.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_verifies_offline_exit_0_genuine_1_not() {
    let app = TestApp::spawn().await;
    let receipt = receipt(&app).await;
    let code = receipt["code"].as_str().unwrap();
    let keys = write(&app, "keys.json", trust_list(&app).await.as_bytes());
    let run = |args: &[&str], keys: Option<&Path>| {
        let mut c = Command::new(BIN);
        c.args(["receipt", "verify"]).args(args);
        if let Some(k) = keys {
            c.arg("--keys").arg(k);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, stdout, _) = run(&[code], Some(&keys));
    assert_eq!(status, Some(0), "{stdout}");
    assert!(stdout.starts_with("genuine"), "{stdout}");
    assert!(stdout.contains("\"registry\": \"national_id\""), "{stdout}");
    // With the gateway's own key file, from its configuration.
    let config = app.cli_config();
    let (status, stdout, stderr) = run(&[code, "--config", config.to_str().unwrap()], None);
    assert_eq!(status, Some(0), "{stdout}{stderr}");
    // Tampered, cut, or under other keys: exit 1 with the reason.
    let cut = &code[..code.len() - 5];
    let (status, stdout, _) = run(&[cut], Some(&keys));
    assert_eq!(status, Some(1), "{stdout}");
    assert!(stdout.starts_with("not genuine: "), "{stdout}");
    let stranger = write(
        &app,
        "stranger.pem",
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap().serialize_pem().as_bytes(),
    );
    let (status, stdout, _) = run(&[code], Some(&stranger));
    assert_eq!((status, stdout.contains("unknown_key")), (Some(1), true), "{stdout}");
    // Keys that cannot be read: exit 2.
    let (status, _, stderr) = run(&[code], Some(Path::new("/nonexistent/keys.json")));
    assert_eq!(status, Some(2), "{stderr}");
}

/// pycose, cbor2 5.6.5 and base45 from the tests' venv (tests/python-requirements.txt).
fn python_with_pycose() -> PathBuf {
    common::python_tool("python")
}

/// Verifies a receipt as another party would from schemas/receipt.md alone.
const PYCOSE_VERIFIER: &str = r#"
import base45, cbor2, json, sys, base64, hashlib
from pycose.messages import CoseMessage
from pycose.keys import EC2Key
from pycose.keys.curves import P256
from pycose.headers import KID, Algorithm

code, jwks = sys.argv[1], json.load(open(sys.argv[2]))
assert code.startswith("BW1:")
msg = CoseMessage.decode(base45.b45decode(code[4:]))
kid = msg.phdr[KID]
unb64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
for jwk in jwks["keys"]:
    x, y = unb64(jwk["x"]), unb64(jwk["y"])
    if hashlib.sha256(b"\x04" + x + y).digest()[:8] != kid:
        continue
    msg.key = EC2Key(crv=P256, x=x, y=y)
    if msg.verify_signature():
        p = cbor2.loads(msg.payload)
        print(json.dumps({"alg": str(msg.phdr[Algorithm]), "version": p[0], "id": p[1].hex(), "issued_at": p[2],
                          "expires_at": p[3], "registry": p[4], "outcome": p[5],
                          "fields": {str(k): v for k, v in p[6].items()}, "center_id": p[7], "case_ref": p[8]}))
        sys.exit(0)
print("not verified")
sys.exit(1)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pycose_verifies_a_receipt_from_the_published_keys() {
    let python = python_with_pycose();
    let app = TestApp::spawn().await;
    let receipt = receipt(&app).await;
    let code = receipt["code"].as_str().unwrap();
    let keys = write(&app, "keys.json", trust_list(&app).await.as_bytes());
    let script = write(&app, "verify.py", PYCOSE_VERIFIER.as_bytes());
    let out = Command::new(&python).arg(&script).arg(code).arg(&keys).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(said["alg"].as_str().unwrap().contains("Es256"), "{said}");
    assert_eq!(said["version"], 1);
    assert_eq!(said["id"], receipt["id"].as_str().unwrap().replace('-', ""));
    assert_eq!((said["registry"].clone(), said["outcome"].clone()), (json!(1), json!(2)), "national_id, mismatch");
    assert_eq!(said["fields"], json!({"1": true, "3": false}), "full_name matches, gender does not");
    assert_eq!((said["center_id"].clone(), said["case_ref"].clone()), (json!("SHR-ZAG-01"), json!("SHR-2025-000123")));
    let expires = time::OffsetDateTime::parse(
        receipt["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(said["expires_at"], expires.unix_timestamp());

    // A changed signature does not verify there either.
    let mut bytes = base45::decode(&code[4..]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered = format!("BW1:{}", base45::encode(bytes));
    let out = Command::new(&python).arg(&script).arg(&tampered).arg(&keys).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
}
