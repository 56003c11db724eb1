// The receipt verification page: paste or scan a receipt's QR, ask the
// gateway (POST /receipts/verify) and show whether it is genuine, why not,
// and what it says. Arabic first, English on a switch; nothing loaded from
// outside. Scanning uses the browser's own BarcodeDetector where it exists.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);

  const TEXT = {
    ar: {
      pageTitle: "التحقق من إيصال — بوابة",
      title: "التحقق من إيصال خدمة",
      noScript: "هذه الصفحة تحتاج إلى تفعيل JavaScript.",
      intro: "امسح رمز QR المطبوع على إيصال الخدمة أو الصق نصه، لمعرفة هل الإيصال أصلي وماذا يقول. لا يحتوي الإيصال على أي بيانات شخصية.",
      codeLabel: "نص الرمز (يبدأ بـ ⁦BW1:⁩)",
      verify: "تحقق",
      scan: "مسح بالكاميرا",
      stopScan: "إيقاف المسح",
      photo: "من صورة",
      scanUnavailable: "المسح غير متاح في هذا المتصفح: الصق نص الرمز.",
      noQr: "لم يُعثر على رمز QR في الصورة.",
      cameraFailed: "تعذر تشغيل الكاميرا: الصق نص الرمز.",
      empty: "الصق نص الرمز أولًا.",
      genuine: "إيصال أصلي",
      notGenuine: "إيصال غير أصلي",
      failed: "تعذر التحقق الآن، حاول لاحقًا.",
      rateLimited: "طلبات تحقق كثيرة من هذا الجهاز، حاول بعد قليل.",
      id: "رقم الإيصال",
      issuedAt: "تاريخ الإصدار",
      expiresAt: "صالح حتى",
      registry: "الجهة التي سُئلت",
      outcome: "النتيجة",
      fields: "البيانات المطابقة",
      center: "المركز",
      caseRef: "رقم الطلب",
      none: "—",
      yes: "مطابق",
      no: "غير مطابق",
      registries: { national_id: "الرقم القومي (الأحوال المدنية)", commercial_register: "السجل التجاري", real_estate: "الشهر العقاري" },
      outcomes: { match: "تطابق", mismatch: "عدم تطابق", not_found: "لا يوجد سجل" },
      claims: { full_name: "الاسم الكامل", birth_date: "تاريخ الميلاد", gender: "النوع", mother_name: "اسم الأم", trade_name: "الاسم التجاري", owner_national_id: "الرقم القومي للمالك" },
      reasons: {
        too_long: "النص أطول بكثير من أي إيصال.",
        not_a_receipt: "النص لا يبدأ بـ ⁦BW1:⁩ فهو ليس إيصالًا من بوابة.",
        encoding: "النص تالف: تغيّر فيه حرف أو نقص جزء منه.",
        structure: "النص ليس توقيعًا رقميًا صحيح البنية.",
        unknown_key: "موقّع بمفتاح لا تثق به البوابة (مجهول أو أُلغي).",
        bad_signature: "التوقيع لا يطابق المحتوى: الإيصال عُدّل.",
        payload: "المحتوى الموقّع ليس إيصالًا.",
        expired: "الإيصال أصلي لكن انتهت صلاحيته.",
      },
    },
    en: {
      pageTitle: "Verify a receipt — Bawaba",
      title: "Verify a service receipt",
      noScript: "This page needs JavaScript.",
      intro: "Scan the QR code printed on a service receipt, or paste its text, to see whether the receipt is genuine and what it says. A receipt holds no personal data.",
      codeLabel: "The code's text (starts with BW1:)",
      verify: "Verify",
      scan: "Scan with the camera",
      stopScan: "Stop scanning",
      photo: "From a photo",
      scanUnavailable: "Scanning is not available in this browser: paste the code's text.",
      noQr: "No QR code found in the picture.",
      cameraFailed: "The camera could not be started: paste the code's text.",
      empty: "Paste the code's text first.",
      genuine: "Genuine receipt",
      notGenuine: "Not a genuine receipt",
      failed: "Could not verify now; try again later.",
      rateLimited: "Too many verifications from this device; try again shortly.",
      id: "Receipt number",
      issuedAt: "Issued",
      expiresAt: "Valid until",
      registry: "Registry asked",
      outcome: "Outcome",
      fields: "Claims checked",
      center: "Center",
      caseRef: "Request number",
      none: "—",
      yes: "matches",
      no: "does not match",
      registries: { national_id: "National ID (civil registry)", commercial_register: "Commercial register", real_estate: "Real estate registry" },
      outcomes: { match: "Match", mismatch: "Mismatch", not_found: "No record" },
      claims: { full_name: "Full name", birth_date: "Birth date", gender: "Gender", mother_name: "Mother's name", trade_name: "Trade name", owner_national_id: "Owner's national ID" },
      reasons: {
        too_long: "The text is far longer than any receipt.",
        not_a_receipt: "The text does not start with BW1:, so it is not a Bawaba receipt.",
        encoding: "The text is damaged: a character changed or part of it is missing.",
        structure: "The text is not a well-formed digital signature.",
        unknown_key: "Signed by a key the gateway does not trust (unknown or withdrawn).",
        bad_signature: "The signature does not match the content: the receipt was altered.",
        payload: "The signed content is not a receipt.",
        expired: "The receipt is genuine but has expired.",
      },
    },
  };

  let lang = "ar";
  let last = null; // the last answer, re-shown when the language changes
  let stream = null;

  const t = (key) => TEXT[lang][key];

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === "ar" ? "rtl" : "ltr";
    document.querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    document.title = t("pageTitle");
    const sw = $("lang-switch");
    sw.textContent = lang === "ar" ? "English" : "العربية";
    sw.lang = lang === "ar" ? "en" : "ar";
    if (stream) $("scan").textContent = t("stopScan");
    if (last) show(last);
  }

  function row(dl, label, value, ltr) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value === null || value === undefined || value === "" ? t("none") : value;
    if (ltr) dd.className = "ltr";
    dl.append(dt, dd);
  }

  function localTime(iso) {
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(lang === "ar" ? "ar-EG" : "en-GB", { dateStyle: "long", timeStyle: "short" });
  }

  function show(answer) {
    last = answer;
    const result = $("result");
    result.hidden = false;
    const verdict = $("verdict");
    const reason = $("reason");
    const details = $("details");
    details.replaceChildren();
    if (answer.error) {
      result.className = "";
      verdict.textContent = t(answer.error);
      reason.hidden = true;
      details.hidden = true;
      return;
    }
    result.className = answer.valid ? "genuine" : "not-genuine";
    result.dataset.valid = String(answer.valid);
    result.dataset.reason = answer.reason || "";
    verdict.textContent = answer.valid ? t("genuine") : t("notGenuine");
    reason.hidden = answer.valid;
    reason.textContent = answer.reason ? t("reasons")[answer.reason] || answer.reason : "";
    const r = answer.receipt;
    details.hidden = !r;
    if (!r) return;
    row(details, t("id"), r.id, true);
    row(details, t("issuedAt"), localTime(r.issued_at));
    row(details, t("expiresAt"), localTime(r.expires_at));
    row(details, t("registry"), t("registries")[r.registry] || r.registry);
    row(details, t("outcome"), t("outcomes")[r.outcome] || r.outcome);
    if (r.fields) {
      const names = Object.keys(r.fields);
      const text = names.map((n) => `${t("claims")[n] || n}: ${r.fields[n].match ? t("yes") : t("no")}`).join("، ");
      row(details, t("fields"), names.length ? text : t("none"));
    }
    row(details, t("center"), r.center_id, true);
    row(details, t("caseRef"), r.case_ref, true);
  }

  async function verify(code) {
    // Line breaks and tabs go; a space is a Base45 character, so only leading ones do.
    code = code.replace(/[\r\n\t]+/g, "").replace(/^ +/, "");
    if (!code) {
      show({ error: "empty" });
      return;
    }
    try {
      const resp = await fetch("/receipts/verify", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code }),
        credentials: "omit",
      });
      if (resp.status === 429) return show({ error: "rateLimited" });
      if (!resp.ok) return show({ error: "failed" });
      show(await resp.json());
    } catch (e) {
      show({ error: "failed" });
    }
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    $("camera").hidden = true;
    $("scan").textContent = t("scan");
  }

  async function scanCamera(detector) {
    if (stream) return stopCamera();
    const video = $("camera");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (e) {
      stream = null;
      return show({ error: "cameraFailed" });
    }
    video.srcObject = stream;
    video.hidden = false;
    $("scan").textContent = t("stopScan");
    await video.play();
    const tick = async () => {
      if (!stream) return;
      try {
        const found = await detector.detect(video);
        if (found.length) {
          $("code").value = found[0].rawValue;
          stopCamera();
          return verify(found[0].rawValue);
        }
      } catch (e) {
        /* a frame that could not be read: try the next */
      }
      setTimeout(tick, 250);
    };
    tick();
  }

  async function scanPhoto(detector, file) {
    try {
      const bitmap = await createImageBitmap(file);
      const found = await detector.detect(bitmap);
      if (!found.length) return show({ error: "noQr" });
      $("code").value = found[0].rawValue;
      verify(found[0].rawValue);
    } catch (e) {
      show({ error: "noQr" });
    }
  }

  async function setUpScanning() {
    let detector = null;
    if ("BarcodeDetector" in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("qr_code")) detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      } catch (e) {
        detector = null;
      }
    }
    if (!detector) {
      $("scan-unavailable").hidden = false;
      return;
    }
    $("photo-label").hidden = false;
    $("photo").addEventListener("change", (e) => e.target.files[0] && scanPhoto(detector, e.target.files[0]));
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
      $("scan").hidden = false;
      $("scan").addEventListener("click", () => scanCamera(detector));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("verify-form").addEventListener("submit", (e) => {
      e.preventDefault();
      verify($("code").value);
    });
    $("lang-switch").addEventListener("click", () => {
      lang = lang === "ar" ? "en" : "ar";
      applyLanguage();
    });
    setUpScanning();
    // A link may carry the code after '#', which never reaches a server.
    const fromLink = () => {
      // Base45 has '%' and ' ': a link percent-encodes them (else taken as they are).
      let fragment = location.hash.slice(1);
      try {
        fragment = decodeURIComponent(fragment);
      } catch (e) {
        /* not percent-encoded */
      }
      if (fragment.startsWith("BW1:")) {
        $("code").value = fragment;
        verify(fragment);
      }
    };
    window.addEventListener("hashchange", fromLink);
    fromLink();
  });
})();
