/**
 * Functions handed to page.evaluate / waitForFunction: Playwright serializes them and runs them in the page,
 * so they must not reference anything outside their own body. The Node test program has no DOM lib (it would
 * clash with Node's own fetch types), so the few browser globals they touch are declared here, loosely.
 */
declare const document: any;
declare const getComputedStyle: any;
declare const localStorage: any;
declare const sessionStorage: any;
declare const NodeFilter: any;
declare const requestAnimationFrame: any;

/** True once the figure `#id` draws at least `count` points. */
export function chartHasPoints([id, count]: [string, number]): boolean {
  return Number(document.querySelector(`#${id}`)?.getAttribute('data-points')) >= count;
}

/** What the page keeps beyond memory. */
export function storedCredentials(): { local: number; session: number; cookie: string } {
  return { local: localStorage.length, session: sessionStorage.length, cookie: document.cookie };
}

/**
 * Accessibility checks on the visible page: every input, select and textarea has a label (a <label>,
 * aria-label or aria-labelledby), every button a name, and every visible text node WCAG AA contrast against
 * its nearest opaque background (4.5:1; 3:1 for large text). Returns the problems found.
 */
export function accessibilityProblems(): string[] {
  const out: string[] = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.closest('[hidden]')) continue;
    if (!(el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))) out.push(`unlabelled ${el.outerHTML.slice(0, 80)}`);
  }
  for (const b of document.querySelectorAll('button')) {
    if (!b.textContent?.trim() && !b.getAttribute('aria-label')) out.push(`unnamed ${b.outerHTML.slice(0, 80)}`);
  }
  const rgba = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
  const channel = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  const luminance = ([r = 0, g = 0, b = 0]: number[]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (el: any): number[] => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c[3] ?? 0) > 0) return c;
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || !node.textContent?.trim() || parent.closest('[hidden], .visually-hidden')) continue;
    if (!parent.getClientRects().length) continue;
    const style = getComputedStyle(parent);
    const a = luminance(rgba(style.color));
    const b = luminance(background(parent));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`contrast ${ratio.toFixed(2)}:1 for "${node.textContent.trim().slice(0, 40)}"`);
  }
  return out;
}

/**
 * The prediction chart's alert-band lines as drawn: for each canvas row the chart says it drew a threshold on
 * (`data-band-rows`), how many pixels of that row are the threshold's red. Reads the canvas itself.
 */
export function bandPixelCounts(id: string): number[] {
  const figure = document.querySelector(`#${id}`);
  const canvas = figure?.querySelector('canvas');
  const rows = (figure?.getAttribute('data-band-rows') ?? '').split(' ').filter(Boolean).map(Number);
  if (!canvas) return [];
  const ctx = canvas.getContext('2d');
  return rows.map((y: number) => {
    const data = ctx.getImageData(0, y, canvas.width, 1).data;
    let red = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 140 && data[i + 1] < 90 && data[i + 2] < 90 && data[i + 3] > 100) red += 1;
    return red;
  });
}

/**
 * What breaks a layout with many features: the page scrolling sideways, a feature row or condition chart
 * sticking out of its panel, rows overlapping, a slider or number box squeezed below a usable width.
 */
export function layoutProblems(): string[] {
  const out: string[] = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    // Name the outermost elements that stick out, so a failure says what to fix.
    const wide = [...document.querySelectorAll('body *')].filter((e: any) => e.getBoundingClientRect().right > root.clientWidth + 1 && !e.parentElement?.closest('[data-overflows]'));
    const outer = wide.filter((e: any) => !wide.includes(e.parentElement)).slice(0, 3);
    out.push(`page scrolls sideways: ${root.scrollWidth} > ${root.clientWidth} (${outer.map((e: any) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`).join(', ')})`);
  }
  const inside = (el: any, box: any) => {
    const r = el.getBoundingClientRect();
    const b = box.getBoundingClientRect();
    return r.left >= b.left - 1 && r.right <= b.right + 1;
  };
  const inputs = document.querySelector('#inputs-panel');
  let lastBottom = -Infinity;
  for (const row of document.querySelectorAll('#inputs-panel .feature-row')) {
    const r = row.getBoundingClientRect();
    if (!inside(row, inputs)) out.push(`feature row ${row.querySelector('label')?.textContent} sticks out of the inputs panel`);
    if (r.top < lastBottom - 1) out.push(`feature row ${row.querySelector('label')?.textContent} overlaps the one above`);
    lastBottom = r.bottom;
    for (const control of row.querySelectorAll('input')) {
      const w = control.getBoundingClientRect().width;
      if (w < 60) out.push(`${control.id} is only ${w.toFixed(0)} px wide`);
    }
  }
  const conditions = document.querySelector('#conditions-panel');
  for (const fig of document.querySelectorAll('#conditions-panel figure')) {
    if (!inside(fig, conditions)) out.push(`${fig.id} sticks out of the conditions panel`);
    if (fig.getBoundingClientRect().width < 150) out.push(`${fig.id} is narrower than 150 px`);
  }
  return out;
}

/** True once the models panel shows the API's answer or its refusal (not "…ing"). */
export function apiAnswered(): boolean {
  const answer = document.querySelector('#models-answer')?.textContent ?? '';
  const error = document.querySelector('#models-error')?.textContent ?? '';
  return error !== '' || (answer !== '' && !answer.endsWith('…'));
}

/** Resolves after two rendered frames: resize observers (the charts follow their containers) have run. */
export function afterTwoFrames(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
}

/** Scrolls the page back to its top (for a screenshot that shows the header). */
export function scrollToTop(): void {
  document.scrollingElement.scrollTop = 0;
}
