// The auditors' page of Bawaba: sign in with client credentials, filter the
// audit log, page through it, chart its daily volume and export it.
//
// Loaded as a file (never inline) so the page runs under a strict
// Content-Security-Policy. Every value from the log is written with
// textContent or setAttribute, never as HTML: a case_ref or subject is text a
// center application chose, and must not become markup on an auditor's screen.
(function () {
  "use strict";

  const PAGE_SIZE = 50;
  const DAY_MS = 86400000;

  // [code, Arabic, English]; the 17 actions of the audit log.
  const ACTIONS = [
    ["token.issue", "إصدار رمز دخول", "Token issue"],
    ["national_id.verify", "التحقق من الرقم القومي", "National ID verification"],
    ["commercial_register.verify", "التحقق من السجل التجاري", "Commercial register verification"],
    ["real_estate.verify", "التحقق من الشهر العقاري", "Real estate verification"],
    ["security_check.submit", "تقديم فحص أمني", "Security check submitted"],
    ["security_check.read", "قراءة نتيجة فحص أمني", "Security check read"],
    ["sms.send", "إرسال رسالة نصية", "SMS sent"],
    ["sms.read", "قراءة حالة رسالة نصية", "SMS status read"],
    ["sms.delivery_report", "تقرير تسليم رسالة نصية", "SMS delivery report"],
    ["sms.inbound", "رسالة نصية واردة", "Inbound SMS"],
    ["audit.query", "استعلام في سجل التدقيق", "Audit query"],
    ["audit.export", "تصدير سجل التدقيق", "Audit export"],
    ["audit.integrity", "فحص سلامة سجل التدقيق", "Audit integrity check"],
    ["receipt.qr", "طباعة رمز QR لإيصال تحقق", "Receipt QR printed"],
    ["auth.denied", "رفض المصادقة", "Authentication denied"],
    ["citizen.history", "مواطن يطلب سجل الاطلاع على بياناته", "Citizen asked for access history"],
    ["citizen.notify", "مواطن يطلب تنبيها عند الاطلاع", "Citizen asked for access alerts"],
  ];

  // Outcomes: the verification results, then the problem codes of failed calls.
  const OUTCOMES = [
    ["match", "تطابق", "Match"],
    ["mismatch", "عدم تطابق", "Mismatch"],
    ["not_found", "غير موجود", "Not found"],
    ["accepted", "مقبول (قيد التنفيذ)", "Accepted (in progress)"],
    ["ok", "تم بنجاح", "OK"],
    ["invalid_request", "طلب غير صالح", "Invalid request"],
    ["invalid_national_id", "رقم قومي غير صالح", "Invalid national ID"],
    ["invalid_phone", "رقم هاتف غير صالح", "Invalid phone number"],
    ["unauthorized", "غير مصرّح", "Unauthorized"],
    ["forbidden", "غير مسموح", "Forbidden"],
    ["payload_too_large", "الطلب كبير جدًا", "Payload too large"],
    ["unsupported_media_type", "نوع محتوى غير مدعوم", "Unsupported media type"],
    ["rate_limited", "تجاوز حد الطلبات", "Rate limited"],
    ["idempotency_conflict", "تعارض مفتاح منع التكرار", "Idempotency conflict"],
    ["recipient_opted_out", "المستلم ألغى الاشتراك", "Recipient opted out"],
    ["upstream_unavailable", "السجل الحكومي غير متاح", "Registry unavailable"],
    ["upstream_timeout", "انتهت مهلة السجل الحكومي", "Registry timeout"],
    ["store_unavailable", "مخزن السجل غير متاح", "Store unavailable"],
    ["shown", "عُرض السجل على صاحبه", "History shown to its owner"],
    ["watching", "تفعيل التنبيه", "Alerts started"],
    ["other_number", "رقم غير المسجل", "Not the registered number"],
    ["no_number", "لا رقم مسجل", "No registered number"],
    ["unknown_id", "رقم قومي غير معروف", "Unknown national ID"],
    ["invalid_id", "رقم قومي غير صالح في الرسالة", "Invalid ID in the message"],
    ["limited", "تجاوز الحد في الساعة", "Hourly limit reached"],
    ["id_limited", "تجاوز حد الاستعلام عن الرقم", "Hourly limit for the ID reached"],
    ["registry_unavailable", "السجل المدني غير متاح", "Registry unavailable"],
    ["internal", "خطأ داخلي", "Internal error"],
  ];

  const TEXT = {
    ar: {
      pageTitle: "سجل التدقيق — بوابة",
      title: "سجل التدقيق",
      otherLanguage: "English",
      otherLanguageTag: "en",
      signOut: "تسجيل الخروج",
      noScript: "هذه الصفحة تحتاج إلى تفعيل JavaScript.",
      signInHeading: "دخول المدقق",
      signInHint: "ادخل بمعرّف العميل والسر الخاصين بالتدقيق (صلاحية audit:read).",
      clientId: "معرّف العميل",
      clientSecret: "السر",
      signIn: "دخول",
      filtersHeading: "البحث في السجل",
      subject: "الرقم القومي أو الموضوع",
      operator: "الموظف (operator_id)",
      center: "المركز (center_id)",
      client: "العميل (client_id)",
      action: "العملية",
      outcome: "النتيجة",
      from: "من (توقيت محلي)",
      to: "حتى، غير شامل (توقيت محلي)",
      apply: "بحث",
      reset: "مسح الحقول",
      exportCsv: "تصدير CSV",
      exportNdjson: "تصدير NDJSON",
      chartHeading: "الحجم اليومي (بتوقيت UTC)",
      resultsHeading: "الأحداث (الأحدث أولًا)",
      colAt: "الوقت (محلي)",
      colSeq: "التسلسل",
      colAction: "العملية",
      colSubject: "الموضوع",
      colOutcome: "النتيجة",
      colStatus: "حالة HTTP",
      colClient: "العميل",
      colCenter: "المركز",
      colOperator: "الموظف",
      colPurpose: "الغرض",
      colCaseRef: "رقم الطلب",
      colCache: "الذاكرة المؤقتة",
      colDuration: "المدة (مللي ثانية)",
      noResults: "لا توجد أحداث تطابق البحث.",
      pagerLabel: "صفحات النتائج",
      prev: "السابق",
      next: "التالي",
      anyAction: "كل العمليات",
      anyOutcome: "كل النتائج",
      pageInfo: (page, count) => `الصفحة ${page} · عدد الأحداث: ${count}`,
      loading: "جارٍ التحميل…",
      signingIn: "جارٍ الدخول…",
      signedInAs: (id) => `الدخول باسم: ${id}`,
      needCredentials: "أدخل معرّف العميل والسر.",
      badCredentials: "معرّف العميل أو السر غير صحيح.",
      noAuditScope: "هذا العميل لا يملك صلاحية قراءة سجل التدقيق (audit:read).",
      tooManyAttempts: (secs) => `محاولات كثيرة. حاول مرة أخرى بعد ${secs} ثانية.`,
      tokenRefused: (code) => `رفضت البوابة طلب الدخول (${code}).`,
      network: "تعذّر الاتصال بالبوابة. تحقق من الشبكة ثم حاول مرة أخرى.",
      sessionExpired: "انتهت الجلسة. سجّل الدخول مرة أخرى.",
      badTime: (field) => `الوقت في حقل «${field}» غير مكتمل أو غير صالح.`,
      exporting: "جارٍ التصدير…",
      exported: (name, size) => `تم تنزيل الملف ${name} (${size} بايت).`,
      exportFailed: "تعذّر التصدير.",
      chartFailed: "تعذّر تحميل الرسم البياني.",
      chartEmpty: "لا توجد أحداث في هذه الفترة.",
      chartSummary: (days, total) => `الحجم اليومي: عدد الأيام ${days}، مجموع الأحداث ${total}`,
      requestId: "معرّف الطلب",
      httpError: (status) => `خطأ من البوابة (HTTP ${status}).`,
      problemTitles: {
        invalid_request: "طلب غير صالح",
        unauthorized: "غير مصرّح",
        forbidden: "غير مسموح",
        not_found: "غير موجود",
        rate_limited: "طلبات كثيرة",
        payload_too_large: "الطلب كبير جدًا",
        unsupported_media_type: "نوع محتوى غير مدعوم",
        store_unavailable: "مخزن السجل غير متاح",
        upstream_unavailable: "السجل الحكومي غير متاح",
        upstream_timeout: "انتهت مهلة السجل الحكومي",
        internal: "خطأ داخلي",
      },
    },
    en: {
      pageTitle: "Audit log — Bawaba",
      title: "Audit log",
      otherLanguage: "العربية",
      otherLanguageTag: "ar",
      signOut: "Sign out",
      noScript: "This page needs JavaScript.",
      signInHeading: "Auditor sign-in",
      signInHint: "Sign in with your audit client ID and secret (scope audit:read).",
      clientId: "Client ID",
      clientSecret: "Secret",
      signIn: "Sign in",
      filtersHeading: "Search the log",
      subject: "National ID or subject",
      operator: "Operator (operator_id)",
      center: "Center (center_id)",
      client: "Client (client_id)",
      action: "Action",
      outcome: "Outcome",
      from: "From (local time)",
      to: "To, exclusive (local time)",
      apply: "Search",
      reset: "Clear fields",
      exportCsv: "Export CSV",
      exportNdjson: "Export NDJSON",
      chartHeading: "Daily volume (UTC days)",
      resultsHeading: "Events (newest first)",
      colAt: "Time (local)",
      colSeq: "Seq",
      colAction: "Action",
      colSubject: "Subject",
      colOutcome: "Outcome",
      colStatus: "HTTP status",
      colClient: "Client",
      colCenter: "Center",
      colOperator: "Operator",
      colPurpose: "Purpose",
      colCaseRef: "Case ref",
      colCache: "Cache",
      colDuration: "Duration (ms)",
      noResults: "No events match this search.",
      pagerLabel: "Result pages",
      prev: "Previous",
      next: "Next",
      anyAction: "All actions",
      anyOutcome: "All outcomes",
      pageInfo: (page, count) => `Page ${page} · ${count} events`,
      loading: "Loading…",
      signingIn: "Signing in…",
      signedInAs: (id) => `Signed in as ${id}`,
      needCredentials: "Enter the client ID and the secret.",
      badCredentials: "Wrong client ID or secret.",
      noAuditScope: "This client may not read the audit log (scope audit:read).",
      tooManyAttempts: (secs) => `Too many attempts. Try again in ${secs} s.`,
      tokenRefused: (code) => `The gateway refused the sign-in (${code}).`,
      network: "Cannot reach the gateway. Check the network and try again.",
      sessionExpired: "Your session has ended. Please sign in again.",
      badTime: (field) => `The time in “${field}” is incomplete or invalid.`,
      exporting: "Exporting…",
      exported: (name, size) => `Downloaded ${name} (${size} bytes).`,
      exportFailed: "The export failed.",
      chartFailed: "Could not load the chart.",
      chartEmpty: "No events in this period.",
      chartSummary: (days, total) => `Daily volume: ${days} days, ${total} events in all`,
      requestId: "Request ID",
      httpError: (status) => `Gateway error (HTTP ${status}).`,
      problemTitles: {},
    },
  };

  // Which input a field error of the API points at.
  const FIELD_INPUTS = {
    subject: "filter-subject",
    operator_id: "filter-operator",
    center_id: "filter-center",
    client_id: "filter-client",
    action: "filter-action",
    outcome: "filter-outcome",
    from: "filter-from",
    to: "filter-to",
  };

  // The columns of the results table, in order, and how a cell shows its value.
  const COLUMNS = [
    "at",
    "seq",
    "action",
    "subject",
    "outcome",
    "http_status",
    "client_id",
    "center_id",
    "operator_id",
    "purpose",
    "case_ref",
    "cache",
    "duration_ms",
  ];

  const $ = (id) => document.getElementById(id);

  const state = {
    lang: "ar",
    // The bearer token lives in this closure only: never in localStorage,
    // sessionStorage or a cookie, so closing the tab ends the session.
    token: null,
    tokenExpiresAt: 0,
    clientId: "",
    // The filters of the last search, as sent; paging and export reuse them
    // so that what is exported is what the table and the chart show.
    query: null,
    // The cursor of every page shown so far; the last one is the current page
    // (null = the first page). "Previous" pops it.
    cursors: [null],
    nextCursor: null,
    rowCount: 0,
    days: null,
    chartError: null,
    // What #error, #sign-in-error and #status show, kept as data so a language
    // switch can redraw them.
    error: null,
    signInError: null,
    status: null,
    // Generation counters: an answer to an older request is dropped, so a slow
    // first search cannot overwrite a later one.
    pageGen: 0,
    volumeGen: 0,
  };

  function t(key, ...args) {
    const value = TEXT[state.lang][key];
    return typeof value === "function" ? value(...args) : value;
  }

  function labelOf(list, code) {
    const entry = list.find((e) => e[0] === code);
    if (!entry) return code;
    return state.lang === "ar" ? entry[1] : entry[2];
  }

  // ---- language -------------------------------------------------------------

  function fillSelect(select, anyKey, list) {
    const chosen = select.value;
    select.replaceChildren();
    const any = document.createElement("option");
    any.value = "";
    any.textContent = t(anyKey);
    select.append(any);
    for (const [code] of list) {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = `${labelOf(list, code)} — ${code}`;
      select.append(option);
    }
    select.value = chosen;
  }

  function applyLanguage() {
    const root = document.documentElement;
    root.lang = state.lang;
    root.dir = state.lang === "ar" ? "rtl" : "ltr";
    for (const el of document.querySelectorAll("[data-i18n]")) {
      el.textContent = t(el.dataset.i18n);
    }
    for (const el of document.querySelectorAll("[data-i18n-aria-label]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
    }
    const sw = $("lang-switch");
    sw.textContent = t("otherLanguage");
    sw.lang = t("otherLanguageTag");
    fillSelect($("filter-action"), "anyAction", ACTIONS);
    fillSelect($("filter-outcome"), "anyOutcome", OUTCOMES);
    if (state.clientId) $("signed-in-as").textContent = t("signedInAs", state.clientId);
    renderPager();
    renderMessages();
    renderChart();
    document.dispatchEvent(new Event("bawaba:language"));
  }

  // ---- messages -------------------------------------------------------------

  // A message is {key, args} (our own text) or {problem, status} (an API error).
  function messageNodes(message) {
    if (message.key) return [document.createTextNode(t(message.key, ...(message.args || [])))];
    const p = message.problem || {};
    const nodes = [];
    const heading = document.createElement("strong");
    const title = (p.code && TEXT[state.lang].problemTitles[p.code]) || p.title || t("httpError", message.status);
    heading.textContent = title;
    nodes.push(heading);
    // `detail` is in the language asked for with Accept-Language at the time.
    if (p.detail && p.detail !== title) {
      const detail = document.createElement("p");
      detail.textContent = p.detail;
      nodes.push(detail);
    }
    if (Array.isArray(p.errors) && p.errors.length) {
      const list = document.createElement("ul");
      for (const e of p.errors) {
        const item = document.createElement("li");
        const input = FIELD_INPUTS[e.field] && $(FIELD_INPUTS[e.field]);
        const label = input && document.querySelector(`label[for="${input.id}"]`);
        item.textContent = `${label ? label.textContent : e.field}: ${e.reason}`;
        list.append(item);
      }
      nodes.push(list);
    }
    if (p.request_id) {
      const id = document.createElement("p");
      id.className = "request-id";
      const code = document.createElement("code");
      code.textContent = p.request_id;
      id.append(`${t("requestId")}: `, code);
      nodes.push(id);
    }
    return nodes;
  }

  function renderMessages() {
    const error = $("error");
    error.replaceChildren(...(state.error ? messageNodes(state.error) : []));
    error.hidden = !state.error;
    const signInError = $("sign-in-error");
    signInError.replaceChildren(...(state.signInError ? messageNodes(state.signInError) : []));
    signInError.hidden = !state.signInError;
    $("status").textContent = state.status ? t(state.status.key, ...(state.status.args || [])) : "";
    for (const id of Object.values(FIELD_INPUTS)) $(id).removeAttribute("aria-invalid");
    const fieldErrors = (state.error && state.error.problem && state.error.problem.errors) || [];
    for (const e of fieldErrors) {
      const input = FIELD_INPUTS[e.field] && $(FIELD_INPUTS[e.field]);
      if (input) input.setAttribute("aria-invalid", "true");
    }
  }

  function setError(message) {
    state.error = message;
    renderMessages();
  }

  function setStatus(key, ...args) {
    state.status = key ? { key, args } : null;
    renderMessages();
  }

  // ---- HTTP -----------------------------------------------------------------

  async function readJson(resp) {
    try {
      return await resp.json();
    } catch {
      return null;
    }
  }

  class SessionEnded extends Error {}

  // A call to the audit API with the bearer token. Resolves to the response;
  // a 401 (expired or revoked token) ends the session.
  async function api(path) {
    if (!state.token || Date.now() >= state.tokenExpiresAt) {
      signOut({ key: "sessionExpired" });
      throw new SessionEnded();
    }
    const resp = await fetch(path, {
      headers: { Authorization: `Bearer ${state.token}`, "Accept-Language": state.lang },
      cache: "no-store",
      credentials: "omit",
    });
    if (resp.status === 401) {
      signOut({ key: "sessionExpired" });
      throw new SessionEnded();
    }
    return resp;
  }

  async function problemOf(resp) {
    return { problem: (await readJson(resp)) || {}, status: resp.status };
  }

  // ---- sign-in --------------------------------------------------------------

  async function signIn(event) {
    event.preventDefault();
    const clientId = $("client-id").value.trim();
    const secret = $("client-secret").value;
    if (!clientId || !secret) {
      state.signInError = { key: "needCredentials" };
      renderMessages();
      return;
    }
    const button = $("sign-in");
    button.disabled = true;
    state.signInError = null;
    setStatus("signingIn");
    let resp;
    try {
      resp = await fetch("/oauth/token", {
        method: "POST",
        headers: { "Accept-Language": state.lang },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: clientId,
          client_secret: secret,
          scope: "audit:read",
        }),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      resp = null;
    }
    button.disabled = false;
    setStatus(null);
    if (!resp) {
      state.signInError = { key: "network" };
      renderMessages();
      return;
    }
    const body = await readJson(resp);
    if (resp.ok && body && body.access_token) {
      // The secret is not needed any more; do not leave it in the page.
      $("client-secret").value = "";
      state.token = body.access_token;
      // A few seconds of margin so a call does not leave with a token about to lapse.
      state.tokenExpiresAt = Date.now() + Math.max(0, (Number(body.expires_in) || 0) - 5) * 1000;
      state.clientId = clientId;
      state.signInError = null;
      showWorkspace();
      return;
    }
    state.signInError = tokenError(resp, body);
    renderMessages();
    $("client-secret").focus();
  }

  // RFC 6749 §5.2 errors ({"error": …}), or a problem (429 from the rate limit).
  function tokenError(resp, body) {
    const code = body && body.error;
    if (code === "invalid_client" || resp.status === 401) return { key: "badCredentials" };
    if (code === "invalid_scope") return { key: "noAuditScope" };
    if (resp.status === 429) return { key: "tooManyAttempts", args: [resp.headers.get("Retry-After") || "60"] };
    if (code) return { key: "tokenRefused", args: [code] };
    if (body && (body.detail || body.title)) return { problem: body, status: resp.status };
    return { key: "tokenRefused", args: [`HTTP ${resp.status}`] };
  }

  function showWorkspace() {
    $("sign-in-section").hidden = true;
    $("workspace").hidden = false;
    $("sign-out").hidden = false;
    const who = $("signed-in-as");
    who.textContent = t("signedInAs", state.clientId);
    who.hidden = false;
    $("filter-subject").focus();
    search();
    document.dispatchEvent(new Event("bawaba:signed-in"));
  }

  function signOut(reason) {
    state.token = null;
    state.tokenExpiresAt = 0;
    state.clientId = "";
    state.query = null;
    state.days = null;
    state.chartError = null;
    state.error = null;
    state.status = null;
    state.signInError = reason || null;
    // Bump the generations so answers still on their way are dropped.
    state.pageGen += 1;
    state.volumeGen += 1;
    clearRows();
    $("workspace").hidden = true;
    $("sign-out").hidden = true;
    $("signed-in-as").hidden = true;
    $("sign-in-section").hidden = false;
    renderMessages();
    renderPager();
    renderChart();
    $("client-id").focus();
    document.dispatchEvent(new Event("bawaba:signed-out"));
  }

  // ---- filters --------------------------------------------------------------

  // datetime-local gives the counter PC's local time without a zone; the API
  // wants RFC 3339, so it is read as local time and sent in UTC with `Z`.
  function utcOf(inputId) {
    const value = $(inputId).value;
    if (!value) return { value: null };
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return { error: true };
    return { value: date.toISOString() };
  }

  function readFilters() {
    const params = new URLSearchParams();
    const text = [
      ["subject", "filter-subject"],
      ["operator_id", "filter-operator"],
      ["center_id", "filter-center"],
      ["client_id", "filter-client"],
      ["action", "filter-action"],
      ["outcome", "filter-outcome"],
    ];
    for (const [name, id] of text) {
      const value = $(id).value.trim();
      if (value) params.set(name, value);
    }
    for (const [name, id] of [
      ["from", "filter-from"],
      ["to", "filter-to"],
    ]) {
      const input = $(id);
      // An incomplete date-time reads as "" but is flagged by the browser.
      const time = input.validity.badInput ? { error: true } : utcOf(id);
      if (time.error) {
        const label = document.querySelector(`label[for="${id}"]`).textContent;
        return { error: { key: "badTime", args: [label] } };
      }
      if (time.value) params.set(name, time.value);
    }
    return { params };
  }

  function search(event) {
    if (event) event.preventDefault();
    const { params, error } = readFilters();
    if (error) {
      setError(error);
      return;
    }
    state.query = params;
    setError(null);
    setStatus(null);
    loadPage([null]);
    loadVolume();
  }

  // ---- results --------------------------------------------------------------

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  function localTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    );
  }

  function cellOf(event, column) {
    const td = document.createElement("td");
    td.dataset.col = column;
    const value = event[column];
    if (column === "at") {
      const time = document.createElement("time");
      time.dateTime = value || "";
      time.title = value || "";
      time.textContent = value ? localTime(value) : "";
      td.append(time);
    } else if (column === "action") {
      td.textContent = value == null ? "" : value;
      td.title = labelOf(ACTIONS, value);
    } else {
      td.textContent = value == null ? "—" : String(value);
    }
    // Times, identifiers and codes are Latin text: keep them in order in RTL.
    td.dir = "ltr";
    return td;
  }

  function renderRows(events) {
    const rows = events.map((event) => {
      const tr = document.createElement("tr");
      tr.dataset.id = event.id || "";
      for (const column of COLUMNS) tr.append(cellOf(event, column));
      return tr;
    });
    $("results").querySelector("tbody").replaceChildren(...rows);
    state.rowCount = events.length;
    $("empty").hidden = events.length !== 0;
  }

  function clearRows() {
    $("results").querySelector("tbody").replaceChildren();
    state.rowCount = 0;
    state.cursors = [null];
    state.nextCursor = null;
    $("empty").hidden = true;
  }

  function renderPager() {
    const signedIn = Boolean(state.token);
    $("prev").disabled = !signedIn || state.cursors.length < 2;
    $("next").disabled = !signedIn || !state.nextCursor;
    // With no rows, #empty or #error says why; a page count would add nothing.
    const info = signedIn && state.rowCount > 0 ? t("pageInfo", state.cursors.length, state.rowCount) : "";
    $("page-info").textContent = info;
  }

  // Loads the page whose cursor is last in `cursors`; the stack is kept only
  // once the page has arrived, so a failed "Next" leaves paging as it was.
  async function loadPage(cursors) {
    const gen = ++state.pageGen;
    const params = new URLSearchParams(state.query);
    params.set("limit", String(PAGE_SIZE));
    const cursor = cursors[cursors.length - 1];
    if (cursor) params.set("cursor", cursor);
    const table = $("results");
    table.setAttribute("aria-busy", "true");
    setStatus("loading");
    try {
      const resp = await api(`/v1/audit/events?${params}`);
      const body = resp.ok ? await readJson(resp) : null;
      if (gen !== state.pageGen) return;
      if (!resp.ok || !body || !Array.isArray(body.events)) {
        const error = resp.ok ? { key: "httpError", args: [resp.status] } : await problemOf(resp);
        if (gen !== state.pageGen) return;
        // After a refused new search the old rows would pass for its answer.
        if (cursors.length === 1) clearRows();
        setStatus(null);
        setError(error);
        return;
      }
      state.cursors = cursors;
      state.nextCursor = body.next_cursor || null;
      renderRows(body.events);
      setStatus(null);
    } catch (e) {
      if (e instanceof SessionEnded || gen !== state.pageGen) return;
      if (cursors.length === 1) clearRows();
      setStatus(null);
      setError({ key: "network" });
    } finally {
      if (gen === state.pageGen) {
        table.removeAttribute("aria-busy");
        renderPager();
      }
    }
  }

  function nextPage() {
    if (state.nextCursor) loadPage([...state.cursors, state.nextCursor]);
  }

  function previousPage() {
    if (state.cursors.length > 1) loadPage(state.cursors.slice(0, -1));
  }

  // ---- daily volume chart -------------------------------------------------------

  async function loadVolume() {
    const gen = ++state.volumeGen;
    try {
      const resp = await api(`/v1/audit/volume?${state.query}`);
      const body = await readJson(resp);
      if (gen !== state.volumeGen) return;
      if (resp.ok && body && Array.isArray(body.days)) {
        state.days = body.days;
        state.chartError = null;
      } else {
        state.days = null;
        state.chartError = { problem: body || {}, status: resp.status };
      }
    } catch (e) {
      if (e instanceof SessionEnded || gen !== state.volumeGen) return;
      state.days = null;
      state.chartError = { key: "network" };
    }
    renderChart();
  }

  function dayMs(day) {
    return Date.parse(`${day}T00:00:00Z`);
  }

  // The API may leave out days without events; a chart over time shows them
  // as empty bars so that gaps are visible. Very long spans are drawn as given.
  function withGaps(days) {
    const valid = days.filter((d) => d && typeof d.day === "string" && !Number.isNaN(dayMs(d.day)));
    if (valid.length < 2) return valid;
    const first = dayMs(valid[0].day);
    const last = dayMs(valid[valid.length - 1].day);
    if ((last - first) / DAY_MS > 400) return valid;
    const counts = new Map(valid.map((d) => [d.day, Number(d.count) || 0]));
    const out = [];
    for (let ms = first; ms <= last; ms += DAY_MS) {
      const day = new Date(ms).toISOString().slice(0, 10);
      out.push({ day, count: counts.get(day) || 0 });
    }
    return out;
  }

  function svgNode(svg, name, attrs, text) {
    // The namespace is taken from the <svg> the HTML parser made, rather than
    // spelled out in this file.
    const node = document.createElementNS(svg.namespaceURI, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text != null) node.textContent = text;
    return node;
  }

  function chartMessage(nodes) {
    $("chart-message").replaceChildren(...nodes);
    $("chart-message").hidden = nodes.length === 0;
  }

  function renderChart() {
    const svg = $("chart-svg");
    svg.replaceChildren();
    svg.toggleAttribute("hidden", true);
    chartMessage([]);
    if (!state.token || !state.query) return;
    if (state.chartError) {
      // A refused filter (400) is already explained above the table.
      if (state.chartError.status === 400) return;
      const p = document.createElement("div");
      p.className = "problem";
      const heading = document.createElement("p");
      heading.textContent = t("chartFailed");
      p.append(heading, ...messageNodes(state.chartError));
      chartMessage([p]);
      return;
    }
    if (!state.days) return;
    const days = withGaps(state.days);
    if (days.length === 0) {
      chartMessage([document.createTextNode(t("chartEmpty"))]);
      return;
    }
    // A short period gets wide bars and whole dates; a long one narrow bars
    // and month-day labels (the year is in each bar's title).
    const fullDates = days.length <= 14;
    const slot = fullDates ? 64 : days.length <= 62 ? 36 : 24;
    const labelWidth = fullDates ? 84 : 44;
    const margin = { top: 24, bottom: 36, side: 48 };
    const plotHeight = 160;
    const width = Math.max(320, days.length * slot + 2 * margin.side);
    const height = margin.top + plotHeight + margin.bottom;
    const max = Math.max(1, ...days.map((d) => d.count));
    const total = days.reduce((sum, d) => sum + d.count, 0);
    // Label every n-th day so that labels never overlap.
    const labelEvery = Math.max(1, Math.ceil(labelWidth / slot));
    const rtl = state.lang === "ar";

    // Drawn at its natural size; a long period scrolls sideways rather than
    // shrinking the labels below reading size.
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const summary = t("chartSummary", days.length, total);
    svg.setAttribute("aria-label", summary);
    svg.append(svgNode(svg, "title", {}, summary));
    const baseline = margin.top + plotHeight;
    svg.append(svgNode(svg, "line", { x1: margin.side, x2: width - margin.side, y1: baseline, y2: baseline, class: "axis" }));
    days.forEach((d, i) => {
      // Time runs in the reading direction: right to left in Arabic.
      const slotStart = rtl ? width - margin.side - (i + 1) * slot : margin.side + i * slot;
      const center = slotStart + slot / 2;
      const barHeight = d.count === 0 ? 0 : Math.max(2, Math.round((d.count / max) * plotHeight));
      const g = svgNode(svg, "g", { class: "day", "data-day": d.day, "data-count": d.count });
      g.append(svgNode(svg, "title", {}, `${d.day}: ${d.count}`));
      const bar = { class: "bar", x: slotStart + slot * 0.15, y: baseline - barHeight, width: slot * 0.7, height: barHeight };
      g.append(svgNode(svg, "rect", bar));
      const count = { class: "count", x: center, y: baseline - barHeight - 5, "text-anchor": "middle" };
      g.append(svgNode(svg, "text", count, d.count));
      if (i % labelEvery === 0) {
        const label = { class: "day-label", x: center, y: baseline + 18, "text-anchor": "middle" };
        g.append(svgNode(svg, "text", label, fullDates ? d.day : d.day.slice(5)));
      }
      svg.append(g);
    });
    svg.toggleAttribute("hidden", false);
  }

  // ---- export ---------------------------------------------------------------

  function fileNameOf(resp, format) {
    const disposition = resp.headers.get("Content-Disposition") || "";
    const match = /filename="?([A-Za-z0-9._-]+)"?/.exec(disposition);
    if (match) return match[1];
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "Z");
    return `bawaba-audit-${stamp}.${format}`;
  }

  async function exportAs(format) {
    if (!state.query) return;
    const buttons = [$("export-csv"), $("export-ndjson")];
    for (const b of buttons) b.disabled = true;
    setError(null);
    setStatus("exporting");
    const params = new URLSearchParams(state.query);
    params.set("format", format);
    try {
      const resp = await api(`/v1/audit/export?${params}`);
      if (!resp.ok) {
        setStatus(null);
        setError(await problemOf(resp));
        return;
      }
      // The whole file is held in memory before it is saved: fine for the
      // filtered sets an auditor exports from a page; the CLI streams big ones.
      const blob = await resp.blob();
      const name = fileNameOf(resp, format);
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      // Revoked later rather than at once: the download starts asynchronously.
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      setStatus("exported", name, blob.size);
    } catch (e) {
      if (e instanceof SessionEnded) return;
      setStatus(null);
      setError({ key: "exportFailed" });
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  // ---- wiring ---------------------------------------------------------------

  function resetFilters() {
    for (const id of Object.values(FIELD_INPUTS)) $(id).value = "";
    setError(null);
  }

  // What the inspectors' views (inspect.js) use of this page: its session,
  // its language, and the events table, filled for a signal's events.
  window.bawabaAudit = {
    api,
    lang: () => state.lang,
    showEvents(filters) {
      resetFilters();
      for (const [name, value] of Object.entries(filters)) {
        const input = value && FIELD_INPUTS[name] && $(FIELD_INPUTS[name]);
        if (!input) continue;
        input.value = name === "from" || name === "to" ? localTime(value).replace(" ", "T") : value;
      }
      search();
      $("results-heading").scrollIntoView();
    },
  };

  function init() {
    $("sign-in-form").addEventListener("submit", signIn);
    $("filters").addEventListener("submit", search);
    $("reset").addEventListener("click", resetFilters);
    $("next").addEventListener("click", nextPage);
    $("prev").addEventListener("click", previousPage);
    $("sign-out").addEventListener("click", () => signOut(null));
    $("export-csv").addEventListener("click", () => exportAs("csv"));
    $("export-ndjson").addEventListener("click", () => exportAs("ndjson"));
    $("lang-switch").addEventListener("click", () => {
      state.lang = state.lang === "ar" ? "en" : "ar";
      applyLanguage();
    });
    applyLanguage();
    document.body.dataset.ready = "true";
    $("client-id").focus();
  }

  init();
})();
