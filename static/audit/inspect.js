// The inspectors' views of the auditors' page (CONTRACT §13): "centers"
// (/v1/audit/stats as a sortable table, and the daily volume of the center
// chosen) and "signals" (/v1/audit/signals, each linked to its events in the
// events table). Uses the page's session through window.bawabaAudit (app.js);
// like app.js, it writes every value with textContent or setAttribute.
(function () {
  "use strict";

  const TEXT = {
    ar: {
      centersHeading: "المراكز (آخر 31 يومًا)",
      refresh: "تحديث",
      governorate: "المحافظة",
      allGovernorates: "كل المحافظات",
      colCenter: "المركز",
      colCalls: "العمليات",
      colVerifications: "عمليات التحقق",
      colMismatch: "نسبة عدم التطابق",
      colHits: "من الذاكرة المؤقتة",
      colStale: "نسخ قديمة",
      colP50: "المدة p50 (مللي ثانية)",
      colP95: "المدة p95 (مللي ثانية)",
      sortHint: "اضغط على عنوان عمود للترتيب",
      centerChart: (c) => `الحجم اليومي للمركز ${c}`,
      chooseCenter: "اختر مركزًا من الجدول لعرض حجمه اليومي.",
      signalsHeading: "إشارات للمراجعة (آخر 31 يومًا)",
      signalsHint: "الإشارة دليل للمراجعة، وليست حكمًا.",
      colKind: "النوع",
      colOperator: "الموظف",
      colSubject: "الموضوع",
      colCount: "العدد",
      colFirst: "من",
      colLast: "إلى",
      colEvents: "الأحداث",
      showEvents: (n) => `عرض الأحداث (${n})`,
      noSignals: "لا توجد إشارات في هذه الفترة.",
      noCenters: "لا توجد عمليات لمراكز في هذه الفترة.",
      failed: (status) => `تعذّر التحميل (HTTP ${status}).`,
      kinds: {
        claim_guessing: "تخمين بيانات",
        no_case_ref: "بدون رقم طلب",
        off_hours: "خارج ساعات العمل",
        many_subjects: "مواطنون كثيرون",
        many_centers: "مراكز كثيرة",
      },
    },
    en: {
      centersHeading: "Centers (last 31 days)",
      refresh: "Refresh",
      governorate: "Governorate",
      allGovernorates: "All governorates",
      colCenter: "Center",
      colCalls: "Calls",
      colVerifications: "Verifications",
      colMismatch: "Mismatch share",
      colHits: "Cache hits",
      colStale: "Stale copies",
      colP50: "Duration p50 (ms)",
      colP95: "Duration p95 (ms)",
      sortHint: "Click a column header to sort",
      centerChart: (c) => `Daily volume of ${c}`,
      chooseCenter: "Choose a center in the table to see its daily volume.",
      signalsHeading: "Signals to review (last 31 days)",
      signalsHint: "A signal is a lead to review, never a verdict.",
      colKind: "Kind",
      colOperator: "Operator",
      colSubject: "Subject",
      colCount: "Count",
      colFirst: "First",
      colLast: "Last",
      colEvents: "Events",
      showEvents: (n) => `Show events (${n})`,
      noSignals: "No signals in this period.",
      noCenters: "No center made calls in this period.",
      failed: (status) => `Could not load (HTTP ${status}).`,
      kinds: {
        claim_guessing: "Claim guessing",
        no_case_ref: "No case reference",
        off_hours: "Off hours",
        many_subjects: "Many citizens",
        many_centers: "Many centers",
      },
    },
  };

  // [key, header text key, value of a row, shown as].
  const COLUMNS = [
    ["center", "colCenter", (r) => r.group.center_id || "", "text"],
    ["total", "colCalls", (r) => r.total, "number"],
    ["verifications", "colVerifications", (r) => r.verifications, "number"],
    ["mismatch_share", "colMismatch", (r) => r.mismatch_share, "share"],
    ["cache_hit_share", "colHits", (r) => r.cache_hit_share, "share"],
    ["cache_stale_share", "colStale", (r) => r.cache_stale_share, "share"],
    ["p50", "colP50", (r) => r.duration_ms_p50, "number"],
    ["p95", "colP95", (r) => r.duration_ms_p95, "number"],
  ];

  const $ = (id) => document.getElementById(id);
  const audit = () => window.bawabaAudit;
  const state = {
    rows: null,
    sort: { key: "total", descending: true },
    center: null,
    days: null,
    signals: null,
    error: null,
    // The governorate chosen ("" for all) and the codes seen in the
    // centers' IDs (CONTRACT §8: a center ID begins with its code and "-").
    governorate: "",
    governorates: [],
  };

  const governorateOf = (center) => (center && center.includes("-") ? center.slice(0, center.indexOf("-")) : null);

  function t(key, ...args) {
    const value = TEXT[audit().lang()][key];
    return typeof value === "function" ? value(...args) : value;
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  async function getJson(path) {
    const resp = await audit().api(path);
    if (!resp.ok) throw new Error(t("failed", resp.status));
    return resp.json();
  }

  // ---- centers --------------------------------------------------------------

  function sortedRows() {
    const column = COLUMNS.find((c) => c[0] === state.sort.key) || COLUMNS[1];
    const value = column[2];
    const rows = [...state.rows];
    rows.sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      const order = x == null ? -1 : y == null ? 1 : typeof x === "string" ? x.localeCompare(y) : x - y;
      return state.sort.descending ? -order : order;
    });
    return rows;
  }

  function shown(value, kind) {
    if (value == null) return "–";
    if (kind === "share") return `${(value * 100).toFixed(1)}%`;
    return String(value);
  }

  function renderCenters() {
    const head = $("centers-head");
    head.replaceChildren();
    for (const [key, label] of COLUMNS) {
      const th = el("th", t(label), { scope: "col", "data-sort": key, tabindex: 0 });
      if (state.sort.key === key) th.setAttribute("aria-sort", state.sort.descending ? "descending" : "ascending");
      head.append(th);
    }
    const body = $("centers-body");
    body.replaceChildren();
    $("centers-empty").hidden = !(state.rows && state.rows.length === 0);
    for (const row of state.rows ? sortedRows() : []) {
      const tr = el("tr", null, { "data-center": row.group.center_id });
      if (row.group.center_id === state.center) tr.setAttribute("aria-selected", "true");
      for (const [key, , value, kind] of COLUMNS) tr.append(el("td", shown(value(row), kind), { "data-col": key }));
      body.append(tr);
    }
    renderCenterChart();
  }

  function sortBy(key) {
    state.sort = { key, descending: state.sort.key === key ? !state.sort.descending : key !== "center" };
    renderCenters();
  }

  async function chooseCenter(center) {
    state.center = center;
    state.days = null;
    renderCenters();
    try {
      const report = await getJson(`/v1/audit/stats?group_by=day&center_id=${encodeURIComponent(center)}`);
      if (state.center === center) state.days = report.rows.map((r) => ({ day: r.group.day, count: r.total }));
    } catch (e) {
      state.error = e.message;
    }
    renderCenters();
  }

  function renderCenterChart() {
    const svg = $("center-chart");
    svg.replaceChildren();
    $("center-chart-heading").textContent = state.center ? t("centerChart", state.center) : t("chooseCenter");
    svg.toggleAttribute("hidden", !state.days);
    if (!state.days) return;
    const ns = svg.namespaceURI;
    const node = (tag, attrs, text) => {
      const n = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
      if (text != null) n.textContent = String(text);
      return n;
    };
    const slot = 40;
    const [top, plot, bottom] = [20, 120, 30];
    const width = Math.max(240, state.days.length * slot + 40);
    const max = Math.max(1, ...state.days.map((d) => d.count));
    const rtl = audit().lang() === "ar";
    svg.setAttribute("viewBox", `0 0 ${width} ${top + plot + bottom}`);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(top + plot + bottom));
    svg.setAttribute("aria-label", t("centerChart", state.center));
    state.days.forEach((d, i) => {
      const x = rtl ? width - 20 - (i + 1) * slot : 20 + i * slot;
      const h = Math.max(2, Math.round((d.count / max) * plot));
      const g = node("g", { class: "day", "data-day": d.day, "data-count": d.count });
      g.append(node("title", {}, `${d.day}: ${d.count}`));
      g.append(node("rect", { class: "bar", x: x + 6, y: top + plot - h, width: slot - 12, height: h }));
      g.append(node("text", { x: x + slot / 2, y: top + plot - h - 4, "text-anchor": "middle" }, d.count));
      g.append(node("text", { x: x + slot / 2, y: top + plot + 18, "text-anchor": "middle" }, d.day.slice(5)));
      svg.append(g);
    });
  }

  // ---- signals --------------------------------------------------------------

  function renderSignals() {
    const body = $("signals-body");
    body.replaceChildren();
    // A governorate's signals: those of its centers, and those of no one
    // center (a citizen looked up by many centers).
    const chosen = (s) => !state.governorate || !s.center_id || governorateOf(s.center_id) === state.governorate;
    const signals = (state.signals || []).filter(chosen);
    $("signals-empty").hidden = !(state.signals && signals.length === 0);
    for (const s of signals) {
      const tr = el("tr", null, { "data-kind": s.kind });
      tr.append(
        el("td", TEXT[audit().lang()].kinds[s.kind] || s.kind, { "data-col": "kind", title: s.kind }),
        el("td", s.center_id || "–", { "data-col": "center" }),
        el("td", s.operator_id || "–", { "data-col": "operator", dir: "ltr" }),
        el("td", s.subject || "–", { "data-col": "subject", dir: "ltr" }),
        el("td", s.count, { "data-col": "count" }),
        el("td", s.first_at, { "data-col": "first", dir: "ltr" }),
        el("td", s.last_at, { "data-col": "last", dir: "ltr" }),
      );
      const cell = el("td", null, { "data-col": "events" });
      const button = el("button", t("showEvents", s.event_ids.length), { type: "button", class: "secondary" });
      button.addEventListener("click", () => {
        const last = new Date(new Date(s.last_at).getTime() + 1000).toISOString();
        audit().showEvents({
          client_id: s.client_id,
          center_id: s.kind === "many_centers" ? null : s.center_id,
          operator_id: s.operator_id,
          subject: s.subject,
          from: s.first_at,
          to: last,
        });
      });
      cell.append(button);
      tr.append(cell);
      body.append(tr);
    }
  }

  // ---- wiring ---------------------------------------------------------------

  function renderGovernorates() {
    const select = $("inspect-governorate");
    const all = select.options[0];
    select.replaceChildren(all);
    for (const code of state.governorates) select.append(el("option", code, { value: code }));
    select.value = state.governorate;
  }

  function renderAll() {
    for (const e of document.querySelectorAll("[data-inspect-i18n]")) e.textContent = t(e.dataset.inspectI18n);
    renderGovernorates();
    const error = $("inspect-error");
    error.textContent = state.error || "";
    error.hidden = !state.error;
    renderCenters();
    renderSignals();
  }

  // The centers of the governorate chosen; shown when they come.
  async function loadCenters() {
    const governorate = state.governorate;
    const filter = governorate ? `&governorate=${encodeURIComponent(governorate)}` : "";
    const current = () => governorate === state.governorate;
    $("inspect").setAttribute("aria-busy", "true");
    try {
      const stats = await getJson(`/v1/audit/stats?group_by=center${filter}`);
      if (!current()) return;
      // Calls without a center (auditors, SMSC callbacks) are no center's.
      state.rows = stats.rows.filter((r) => r.group.center_id);
      if (!governorate) {
        const codes = new Set(state.rows.map((r) => governorateOf(r.group.center_id)).filter((c) => c));
        state.governorates = [...codes].sort();
      }
    } catch (e) {
      if (current()) state.error = e.message;
    }
    if (current()) $("inspect").removeAttribute("aria-busy");
    renderAll();
  }

  // Every signal of the window, shown when they come (on a large log they
  // take longer than the centers); a governorate is chosen among them here.
  async function loadSignals() {
    $("signals").setAttribute("aria-busy", "true");
    try {
      state.signals = (await getJson("/v1/audit/signals")).signals;
    } catch (e) {
      state.error = e.message;
    }
    $("signals").removeAttribute("aria-busy");
    renderAll();
  }

  async function load() {
    state.error = null;
    await Promise.all([loadCenters(), loadSignals()]);
  }

  function init() {
    $("centers-head").addEventListener("click", (e) => {
      const th = e.target.closest("th[data-sort]");
      if (th) sortBy(th.dataset.sort);
    });
    $("centers-head").addEventListener("keydown", (e) => {
      const th = e.target.closest("th[data-sort]");
      if (th && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault();
        sortBy(th.dataset.sort);
      }
    });
    $("centers-body").addEventListener("click", (e) => {
      const tr = e.target.closest("tr[data-center]");
      if (tr) chooseCenter(tr.dataset.center);
    });
    $("inspect-refresh").addEventListener("click", load);
    $("inspect-governorate").addEventListener("change", (e) => {
      Object.assign(state, { governorate: e.target.value, rows: null, center: null, days: null, error: null });
      loadCenters();
    });
    document.addEventListener("bawaba:signed-in", load);
    document.addEventListener("bawaba:signed-out", () => {
      Object.assign(state, { rows: null, center: null, days: null, signals: null, error: null, governorate: "", governorates: [] });
      renderAll();
    });
    document.addEventListener("bawaba:language", renderAll);
    renderAll();
  }

  init();
})();
