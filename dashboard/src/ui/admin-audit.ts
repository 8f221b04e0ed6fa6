import type { ApiClient } from '../api.js';
import { ApiError, NetworkError } from '../errors.js';
import { dateTime, localInputToIso } from '../format.js';
import type { AuditRecord } from '../types.js';
import { h, panel, replace, uid } from './dom.js';

/** The audit log (audit:read): filters as the API takes them, newest first, "Load more" follows next_cursor. */
export class AuditPanel {
  readonly element: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly tableBody: HTMLElement;
  private readonly status: HTMLElement;
  private readonly more: HTMLButtonElement;
  private readonly summary: HTMLElement;
  private cursor: string | null = null;
  private filters: Record<string, string | undefined> = {};
  private shown = 0;
  /** Only the latest request may render: an earlier, slower one must not overwrite newer filters. */
  private sequence = 0;

  /** `actions`: the route table's audit actions, for the action filter's suggestions. */
  constructor(private readonly api: ApiClient, actions: readonly string[]) {
    const field = (label: string, control: HTMLElement, className = 'field') => h('div', { class: className }, h('label', { for: control.id }, label), control);
    const listId = uid('actions');
    const principal = h('input', { id: uid('principal'), name: 'principal', placeholder: 'admin', maxlength: 160 });
    const action = h('input', { id: uid('action'), name: 'action', list: listId, placeholder: 'twin.predict' });
    const outcome = h(
      'select',
      { id: uid('outcome'), name: 'outcome' },
      h('option', { value: '' }, 'Any'),
      h('option', { value: 'success' }, 'Success (2xx/3xx)'),
      h('option', { value: 'failure' }, 'Failure (4xx/5xx)'),
      ...[400, 401, 403, 404, 429, 500, 503].map((s) => h('option', { value: String(s) }, String(s))),
    );
    const from = h('input', { id: uid('from'), name: 'from', type: 'datetime-local', step: 1 });
    const to = h('input', { id: uid('to'), name: 'to', type: 'datetime-local', step: 1 });
    const limit = h('select', { id: uid('limit'), name: 'limit' }, ...[25, 50, 100, 200].map((n) => h('option', { value: String(n), selected: n === 50 }, String(n))));
    this.form = h(
      'form',
      { class: 'inline-form audit-filters', novalidate: true, 'aria-label': 'Audit log filters' },
      field('Principal', principal),
      field('Action', action),
      h('datalist', { id: listId }, ...actions.map((a) => h('option', { value: a }))),
      field('Outcome', outcome, 'field narrow'),
      field('From', from),
      field('To', to),
      field('Limit', limit, 'field narrow'),
      h('div', { class: 'button-row' }, h('button', { type: 'submit', class: 'primary' }, 'Apply filters'), h('button', { type: 'reset' }, 'Reset')),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.filters = {
        principal: principal.value.trim() || undefined,
        action: action.value.trim() || undefined,
        outcome: outcome.value || undefined,
        from: localInputToIso(from.value),
        to: localInputToIso(to.value),
        limit: limit.value,
      };
      void this.load(false);
    });
    this.form.addEventListener('reset', () => {
      this.filters = {};
      queueMicrotask(() => void this.load(false));
    });
    this.tableBody = h('tbody');
    this.status = h('p', { class: 'form-error', role: 'alert' });
    this.summary = h('p', { class: 'muted small', role: 'status' });
    this.more = h('button', { type: 'button', hidden: true, on: { click: () => void this.load(true) } }, 'Load more');
    this.element = panel(
      'Audit log',
      { id: 'audit-panel' },
      this.form,
      this.status,
      this.summary,
      h(
        'div',
        { class: 'table-scroll' },
        h(
          'table',
          { id: 'audit-table' },
          h('caption', { class: 'visually-hidden' }, 'Audit records, newest first'),
          h(
            'thead',
            {},
            h('tr', {}, ...['Time', 'Principal', 'Action', 'Method', 'Resource', 'Outcome', 'Error', 'Model', 'Source IP'].map((c) => h('th', { scope: 'col' }, c))),
          ),
          this.tableBody,
        ),
      ),
      this.more,
    );
  }

  async load(append: boolean): Promise<void> {
    const sequence = ++this.sequence;
    this.status.textContent = '';
    this.tableBody.setAttribute('aria-busy', 'true');
    try {
      const query = { ...this.filters, ...(append && this.cursor ? { cursor: this.cursor } : {}) };
      const page = await this.api.get<{ items: AuditRecord[]; next_cursor: string | null }>('/api/v1/audit', { query });
      if (sequence !== this.sequence) return;
      // Which filters the table shows (the API's query string, without the cursor).
      const shown = new URLSearchParams(Object.entries(this.filters).filter((e): e is [string, string] => Boolean(e[1])));
      this.tableBody.parentElement?.setAttribute('data-query', shown.toString());
      const rows = page.items.map((r) => this.row(r));
      if (append) this.tableBody.append(...rows);
      else replace(this.tableBody, ...rows);
      this.shown = (append ? this.shown : 0) + page.items.length;
      this.cursor = page.next_cursor;
      this.more.hidden = !page.next_cursor;
      // A page reads a bounded part of the log (docs/security.md, "Audit log"): it may end with none found and a cursor.
      this.summary.textContent =
        this.shown === 0
          ? page.next_cursor
            ? 'No records match these filters in the part of the log read so far; load more to read on.'
            : 'No records match these filters.'
          : `${this.shown} record${this.shown === 1 ? '' : 's'} shown${page.next_cursor ? '; more are available' : ''}.`;
    } catch (error) {
      if (sequence !== this.sequence) return;
      this.status.textContent =
        error instanceof ApiError
          ? error.issues.length
            ? `Check the filters: ${error.issues.map((i) => i.message).join('; ')}`
            : error.status === 429
              ? `Rate limit exceeded. Retry in ${error.retryAfterSeconds ?? 60} s.`
              : error.message
          : error instanceof NetworkError
            ? error.message
            : 'Could not load the audit log.';
    } finally {
      if (sequence === this.sequence) this.tableBody.removeAttribute('aria-busy');
    }
  }

  private row(record: AuditRecord): HTMLElement {
    const failed = record.outcome >= 400;
    const who = record.principal === 'anonymous' && record.subject ? `anonymous (${record.subject})` : record.principal;
    // An imported record says so where the eye reads who did it: it is the edge box's word, not ours.
    const imported = record.imported
      ? h('span', { class: 'pill pill-imported', title: `imported by ${record.imported.by} at ${record.imported.at}` }, `imported from ${record.imported.edge}`)
      : undefined;
    return h(
      'tr',
      { 'data-action': record.action, ...(record.imported ? { 'data-imported': record.imported.edge } : {}) },
      h('td', {}, h('time', { datetime: record.time }, dateTime(record.time))),
      imported ? h('td', {}, who, ' ', imported) : h('td', {}, who),
      h('td', {}, record.action),
      h('td', {}, record.method),
      h('td', { class: 'mono' }, record.resource),
      h('td', {}, h('span', { class: `pill ${failed ? 'pill-revoked' : 'pill-active'}` }, String(record.outcome))),
      h('td', {}, record.errorCode ?? ''),
      h('td', {}, record.modelVersion ?? ''),
      h('td', {}, record.sourceIp ?? ''),
    );
  }
}
