// A small accessibility audit for the tests (jsdom has no accessibility tree): each element's accessible name,
// computed in the order of the accessible name computation that matters here — aria-labelledby, aria-label, the
// associated label(s), the text content (what a button or link says), then alt and title — and the rules every
// screen must keep. `audit` returns the problems found, one line each, so a failing test says what and where.

const CONTROLS = 'input, select, textarea';
const INTERACTIVE = 'button, input, select, textarea, a[href], [tabindex]';

/** Whether the element is out of the accessibility tree (itself or an ancestor hidden, aria-hidden or inert). */
export function isHidden(el: Element): boolean {
  for (let e: Element | null = el; e; e = e.parentElement) {
    if (e.hasAttribute('hidden') || e.getAttribute('aria-hidden') === 'true' || e.hasAttribute('inert')) return true;
    if (e instanceof HTMLInputElement && e.type === 'hidden') return true;
  }
  return false;
}

const clean = (s: string | null | undefined) => (s ?? '').replace(/\s+/g, ' ').trim();

/** The text a screen reader reads for the subtree: text nodes, an image's alt or label, hidden parts skipped. */
export function textOf(node: Node): string {
  if (node.nodeType === Node.TEXT_NODE) return node.textContent ?? '';
  if (!(node instanceof Element)) return '';
  if (node.hasAttribute('hidden') || node.getAttribute('aria-hidden') === 'true') return '';
  const label = node.getAttribute('aria-label');
  if (label && (node.getAttribute('role') === 'img' || node instanceof SVGElement)) return ` ${label} `;
  if (node instanceof HTMLImageElement) return ` ${node.alt} `;
  // A control inside a label (a checkbox, a text box) adds its value, not its own label: nothing here.
  if (node.matches(CONTROLS)) return '';
  return [...node.childNodes].map(textOf).join('');
}

/** The labels associated with a form control: `<label for=id>` anywhere in its document, and an enclosing label. */
export function labelsOf(el: Element): HTMLLabelElement[] {
  const out: HTMLLabelElement[] = [];
  const root = el.getRootNode() as Document | Element;
  if (el.id) {
    for (const l of root.querySelectorAll<HTMLLabelElement>('label[for]')) if (l.htmlFor === el.id) out.push(l);
  }
  const wrapping = el.parentElement?.closest('label');
  // An enclosing label names its first control only, and only when it is not `for` another element.
  if (wrapping && !out.includes(wrapping) && (!wrapping.htmlFor || wrapping.htmlFor === el.id) && wrapping.querySelector(CONTROLS) === el) {
    out.push(wrapping);
  }
  return out;
}

function byId(el: Element, id: string): Element | null {
  const root = el.getRootNode() as Document | Element;
  return root instanceof Document ? root.getElementById(id) : root.querySelector(`#${CSS.escape(id)}`);
}

/** The element's accessible name ('' when it has none). */
export function accessibleName(el: Element): string {
  const ids = clean(el.getAttribute('aria-labelledby'));
  if (ids) {
    const name = clean(ids.split(' ').map((id) => { const r = byId(el, id); return r ? textOf(r) : ''; }).join(' '));
    if (name) return name;
  }
  const aria = clean(el.getAttribute('aria-label'));
  if (aria) return aria;
  if (el.matches(CONTROLS)) {
    const fromLabels = clean(labelsOf(el).map(textOf).join(' '));
    if (fromLabels) return fromLabels;
    if (el instanceof HTMLInputElement && ['submit', 'button', 'reset'].includes(el.type)) return clean(el.value);
  } else if (el instanceof HTMLFieldSetElement) {
    const legend = el.querySelector(':scope > legend');
    if (legend) return clean(textOf(legend));
  } else {
    const text = clean(textOf(el));
    if (text) return text;
  }
  if (el instanceof HTMLImageElement) return clean(el.alt);
  return clean(el.getAttribute('title'));
}

/** Whether a form control has a label proper (aria-labelledby, aria-label or a label element; not a title or a
 * placeholder). */
export function isLabelled(el: Element): boolean {
  const ids = clean(el.getAttribute('aria-labelledby'));
  if (ids && ids.split(' ').some((id) => clean(byId(el, id)?.textContent))) return true;
  if (clean(el.getAttribute('aria-label'))) return true;
  return labelsOf(el).some((l) => clean(textOf(l)) !== '');
}

function where(el: Element): string {
  const id = el.id ? `#${el.id}` : '';
  const cls = !id && el.getAttribute('class') ? `.${el.getAttribute('class')!.split(' ').join('.')}` : '';
  return `<${el.tagName.toLowerCase()}${id}${cls}>`;
}

export interface AuditOptions {
  /** Require exactly one visible h1 (a screen; not a fragment such as a panel). Default true. */
  oneH1?: boolean;
}

/** Every problem found in `root` (an element or the document), empty when it passes. */
export function audit(root: ParentNode, o: AuditOptions = {}): string[] {
  const problems: string[] = [];
  const all = [...root.querySelectorAll('*')];
  // Ids: unique (the e2e tests and every label/aria reference rely on it).
  const seen = new Map<string, number>();
  for (const el of all) if (el.id) seen.set(el.id, (seen.get(el.id) ?? 0) + 1);
  for (const [id, n] of seen) if (n > 1) problems.push(`duplicate id #${id} (${n}×)`);
  for (const el of all) {
    // References: every id named by a label or an aria attribute exists.
    for (const attr of ['aria-labelledby', 'aria-describedby', 'aria-controls']) {
      for (const id of clean(el.getAttribute(attr)).split(' ').filter(Boolean)) {
        if (!byId(el, id)) problems.push(`${where(el)} ${attr} names #${id}, which does not exist`);
      }
    }
    if (el instanceof HTMLLabelElement && el.htmlFor && !byId(el, el.htmlFor)) problems.push(`${where(el)} is for #${el.htmlFor}, which does not exist`);
    const tabindex = el.getAttribute('tabindex');
    if (tabindex !== null && Number(tabindex) > 0) problems.push(`${where(el)} has a positive tabindex (${tabindex})`);
  }
  const shown = all.filter((el) => !isHidden(el));
  for (const el of shown) {
    if (el.matches(INTERACTIVE) && !accessibleName(el)) problems.push(`${where(el)} has no accessible name`);
    if (el.matches(CONTROLS) && !isLabelled(el)) problems.push(`${where(el)} has no label`);
    if (el instanceof HTMLImageElement && !el.hasAttribute('alt')) problems.push(`${where(el)} has no alt text`);
    if (el instanceof SVGElement && el.getAttribute('role') === 'img' && !accessibleName(el)) problems.push(`${where(el)} (image) has no name`);
    if (el instanceof HTMLTableElement) {
      const heads = [...el.querySelectorAll('th')];
      if (heads.length === 0) problems.push(`${where(el)} has no header cells`);
      for (const th of heads) if (!clean(th.textContent) && !th.getAttribute('aria-label')) problems.push(`${where(el)} has an empty header cell`);
    }
    if (el.matches('ul, ol') && [...el.children].some((c) => c.tagName !== 'LI')) problems.push(`${where(el)} holds something else than list items`);
    if (el.matches('dl') && [...el.children].some((c) => !['DT', 'DD', 'DIV'].includes(c.tagName))) problems.push(`${where(el)} holds something else than terms and definitions`);
    if (el.matches('button') && !['button', 'submit', 'reset'].includes(el.getAttribute('type') ?? '')) {
      problems.push(`${where(el)} has no type (a button in a form would submit it)`);
    }
  }
  if (o.oneH1 ?? true) {
    const h1s = shown.filter((el) => el.tagName === 'H1');
    if (h1s.length !== 1) problems.push(`${h1s.length} visible h1 (one expected): ${h1s.map((e) => clean(e.textContent)).join(' | ')}`);
    else if (!clean(h1s[0].textContent)) problems.push('the h1 is empty');
  }
  return problems;
}
