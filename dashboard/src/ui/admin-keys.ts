import type { ApiClient } from '../api.js';
import { ApiError, NetworkError } from '../errors.js';
import { dateTime } from '../format.js';
import type { KeyView } from '../types.js';
import { h, panel, replace, uid } from './dom.js';

/** The scopes a key may carry (docs/security.md: never keys:manage or users:manage). */
const keyScopes = ['twin:predict', 'twin:read', 'models:read', 'audit:read'] as const;

function describe(error: unknown): string {
  if (error instanceof NetworkError) return error.message;
  if (error instanceof ApiError) return error.status === 429 ? `Rate limit exceeded. Retry in ${error.retryAfterSeconds ?? 60} s.` : error.message;
  return 'Something went wrong.';
}

/** API keys (keys:manage): list, create (the secret is shown once), revoke with an inline confirmation. */
export class KeysPanel {
  readonly element: HTMLElement;
  private readonly tableBody: HTMLElement;
  private readonly status: HTMLElement;
  private readonly created: HTMLElement;
  /** Only the latest listing may render (a refresh racing the one after a create). */
  private sequence = 0;

  constructor(private readonly api: ApiClient, private readonly grantedScopes: ReadonlySet<string>) {
    this.tableBody = h('tbody');
    this.status = h('p', { class: 'form-error', role: 'alert' });
    this.created = h('div', { class: 'created-key', 'aria-live': 'polite' });
    const refresh = h('button', { type: 'button', class: 'small-button', on: { click: () => void this.load() } }, 'Refresh');
    this.element = panel(
      'API keys',
      { id: 'keys-panel', actions: [refresh] },
      this.createForm(),
      this.created,
      this.status,
      h(
        'div',
        { class: 'table-scroll' },
        h(
          'table',
          { id: 'keys-table' },
          h('caption', { class: 'visually-hidden' }, 'API keys'),
          h(
            'thead',
            {},
            h('tr', {}, ...['Name', 'Key', 'Owner', 'Scopes', 'Status', 'Created', 'Expires', 'Last used', 'Actions'].map((c) => h('th', { scope: 'col' }, c))),
          ),
          this.tableBody,
        ),
      ),
    );
  }

  async load(): Promise<void> {
    const sequence = ++this.sequence;
    this.status.textContent = '';
    this.tableBody.setAttribute('aria-busy', 'true');
    try {
      const { keys } = await this.api.get<{ keys: KeyView[] }>('/api/v1/keys');
      if (sequence !== this.sequence) return;
      replace(this.tableBody, ...(keys.length ? keys.map((k) => this.row(k)) : [h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'No API keys yet.'))]));
    } catch (error) {
      if (sequence === this.sequence) this.status.textContent = `Could not load the keys: ${describe(error)}`;
    } finally {
      if (sequence === this.sequence) this.tableBody.removeAttribute('aria-busy');
    }
  }

  private createForm(): HTMLElement {
    const nameId = uid('key-name');
    const daysId = uid('key-days');
    const name = h('input', { id: nameId, name: 'name', required: true, maxlength: 100, placeholder: 'line-3 historian' });
    const days = h('input', { id: daysId, name: 'expires_in_days', type: 'number', min: 1, max: 365, value: 90, inputmode: 'numeric' });
    const scopes = keyScopes
      .filter((s) => this.grantedScopes.has(s))
      .map((s) => {
        const id = uid('scope');
        return h('span', { class: 'check' }, h('input', { type: 'checkbox', id, name: 'scope', value: s, checked: s === 'twin:predict' }), h('label', { for: id }, s));
      });
    const form = h(
      'form',
      { class: 'inline-form', novalidate: true },
      h('div', { class: 'field' }, h('label', { for: nameId }, 'New key name'), name),
      h('div', { class: 'field narrow' }, h('label', { for: daysId }, 'Expires in (days)'), days),
      h('fieldset', { class: 'scopes' }, h('legend', {}, 'Scopes'), ...scopes),
      h('button', { type: 'submit', class: 'primary' }, 'Create key'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!name.value.trim()) {
        this.status.textContent = 'Give the key a name.';
        name.focus();
        return;
      }
      const chosen = [...form.querySelectorAll<HTMLInputElement>('input[name=scope]:checked')].map((i) => i.value);
      this.status.textContent = '';
      this.api
        .post<KeyView>('/api/v1/keys', { name: name.value.trim(), scopes: chosen, expires_in_days: Number(days.value) || 90 })
        .then((key) => {
          name.value = '';
          this.showSecret(key);
          return this.load();
        })
        .catch((error: unknown) => {
          this.status.textContent = `Could not create the key: ${describe(error)}`;
        });
    });
    return form;
  }

  private showSecret(key: KeyView): void {
    const secretId = uid('secret');
    const copy = h('button', { type: 'button', class: 'small-button' }, 'Copy');
    copy.addEventListener('click', () => {
      void navigator.clipboard?.writeText(key.key ?? '').then(() => (copy.textContent = 'Copied'));
    });
    const dismiss = h('button', { type: 'button', class: 'small-button', on: { click: () => this.created.replaceChildren() } }, 'Done');
    replace(
      this.created,
      h(
        'div',
        { class: 'secret-box', role: 'group', 'aria-labelledby': secretId },
        h('p', { id: secretId }, h('strong', {}, `Key “${key.name}” created.`), ' Copy it now: it is shown only once and only its hash is stored.'),
        h('output', { class: 'mono secret', id: 'new-key-secret' }, key.key ?? ''),
        h('div', { class: 'button-row' }, copy, dismiss),
      ),
    );
  }

  private row(key: KeyView): HTMLElement {
    const actions = h('td', {});
    if (key.status === 'active') {
      const revoke = h('button', { type: 'button', class: 'small-button danger', 'aria-label': `Revoke key ${key.name}` }, 'Revoke');
      revoke.addEventListener('click', () => {
        const confirm = h('button', { type: 'button', class: 'small-button danger', 'aria-label': `Confirm revoking key ${key.name}` }, 'Confirm revoke');
        const cancel = h('button', { type: 'button', class: 'small-button' }, 'Cancel');
        cancel.addEventListener('click', () => {
          replace(actions, revoke);
          revoke.focus();
        });
        confirm.addEventListener('click', () => {
          confirm.disabled = true;
          this.api
            .delete(`/api/v1/keys/${encodeURIComponent(key.id)}`)
            .then(() => this.load())
            .catch((error: unknown) => {
              this.status.textContent = `Could not revoke the key: ${describe(error)}`;
              confirm.disabled = false;
            });
        });
        replace(actions, confirm, ' ', cancel);
        confirm.focus();
      });
      actions.append(revoke);
    }
    return h(
      'tr',
      { 'data-key-id': key.id },
      h('th', { scope: 'row' }, key.name),
      h('td', { class: 'mono' }, `${key.prefix}…`),
      h('td', {}, key.owner),
      h('td', {}, key.scopes.join(' ')),
      h('td', {}, h('span', { class: `pill pill-${key.status}` }, key.status)),
      h('td', {}, dateTime(key.created)),
      h('td', {}, dateTime(key.expires_at)),
      h('td', {}, dateTime(key.last_used)),
      actions,
    );
  }
}
