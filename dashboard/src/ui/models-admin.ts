import { bytesToBase64, type ModelVersions, type PublishResponse, type RoutingResponse } from '../../../client/sdk.js';
import type { ApiClient } from '../api.js';
import { ApiError, NetworkError } from '../errors.js';
import { mayManage, splitRequest, type ModelEntry } from '../models.js';
import { PackageFileError, packageFromArchive, packageFromFolder, type PickedPackage } from '../package-files.js';
import { h, panel, replace, uid } from './dom.js';

/**
 * Model lifecycle for admins (docs/dashboard.md, "Models"): publish a package (a folder or a .tgz), activate a
 * version, roll back, set the A/B split. Every action asks for a confirmation, shows the API's answer as it
 * comes (a 403 names who may change the model), and refreshes the model list everywhere on the page.
 */

export interface ModelsAdminOptions {
  api: ApiClient;
  /** The token's role and plant: which controls to show (the API decides). */
  claims: { role: string; plant?: string | undefined };
  canPublish: boolean;
  /** The page's model list, reloaded; resolves with the new one. */
  refresh: () => Promise<ModelEntry[]>;
}

function describe(error: unknown): string {
  if (error instanceof PackageFileError || error instanceof NetworkError) return error.message;
  if (error instanceof ApiError) {
    const issues = error.issues.length ? `: ${error.issues.map((i) => `${i.field} ${i.message}`).join('; ')}` : '';
    return `the API answered ${error.status} ${error.code}: ${error.message}${issues}`;
  }
  return 'something went wrong';
}

const routingText = (r: RoutingResponse['routing']) =>
  `active ${r.active}${r.variants && r.variants.length > 1 ? `, split ${r.variants.map((v) => `${v.version} ${Math.round(v.weight * 100)} %`).join(' / ')}` : ''}`;

export class ModelsAdminPanel {
  readonly element: HTMLElement;
  private readonly tableBody: HTMLElement;
  private readonly chooser: HTMLSelectElement;
  private readonly detail: HTMLElement;
  /** The API's last answer (role=status), or its refusal (role=alert). */
  private readonly answer: HTMLElement;
  private readonly failure: HTMLElement;
  private entries: ModelEntry[] = [];
  private picked: PickedPackage | undefined;
  private sequence = 0;

  constructor(private readonly options: ModelsAdminOptions) {
    this.tableBody = h('tbody');
    this.answer = h('p', { class: 'api-answer', id: 'models-answer', role: 'status' });
    this.failure = h('p', { class: 'form-error', id: 'models-error', role: 'alert' });
    const chooserId = uid('manage-model');
    this.chooser = h('select', { id: chooserId, name: 'manage-model' });
    this.chooser.addEventListener('change', () => void this.showDetail());
    this.detail = h('div', { class: 'model-detail', id: 'model-detail' });
    this.element = panel(
      'Models',
      { id: 'models-admin' },
      this.answer,
      this.failure,
      options.canPublish ? this.publishForm() : null,
      h(
        'div',
        { class: 'table-scroll' },
        h(
          'table',
          { id: 'models-table' },
          h('caption', { class: 'visually-hidden' }, 'Models you may use, with their active version and split'),
          h('thead', {}, h('tr', {}, ...['Model', 'Owner', 'Active', 'Split', 'Versions'].map((c) => h('th', { scope: 'col' }, c)))),
          this.tableBody,
        ),
      ),
      h('div', { class: 'inline-form' }, h('div', { class: 'field' }, h('label', { for: chooserId }, 'Manage model'), this.chooser)),
      this.detail,
    );
  }

  /** Shows the page's model list (called by the page whenever it reloads it). */
  setModels(entries: ModelEntry[]): Promise<void> {
    this.entries = entries;
    replace(
      this.tableBody,
      ...entries.map((e) =>
        h(
          'tr',
          { 'data-model': e.name },
          h('th', { scope: 'row' }, e.name),
          h('td', {}, e.plant ? `plant ${e.plant}` : 'platform-wide'),
          h('td', {}, e.active ?? h('span', { class: 'muted' }, 'not activated')),
          h('td', {}, e.variants && e.variants.length > 1 ? e.variants.map((v) => `${v.version} ${Math.round(v.weight * 100)} %`).join(' / ') : '–'),
          h('td', {}, e.versions.join(', ')),
        ),
      ),
    );
    const current = this.chooser.value;
    replace(this.chooser, ...entries.map((e) => h('option', { value: e.name, selected: e.name === current }, e.name)));
    return this.showDetail();
  }

  private async run<T>(what: string, call: () => Promise<T>, said: (result: T) => string, after?: () => void): Promise<void> {
    this.answer.textContent = `${what}…`;
    this.failure.textContent = '';
    try {
      const result = await call();
      after?.();
      // The answer shows once the lists and controls below are current (the next action starts from them).
      await this.setModels(await this.options.refresh());
      this.answer.textContent = said(result);
    } catch (error) {
      this.answer.textContent = '';
      this.failure.textContent = `${what} failed: ${describe(error)}`;
    }
  }

  /** An action button that, clicked, turns into "Confirm …" and "Cancel" in its place. */
  private confirming(label: string, confirmLabel: string, action: () => Promise<void>, danger = false): HTMLElement {
    const slot = h('span', { class: 'confirm-slot' });
    const start = h('button', { type: 'button', class: `small-button${danger ? ' danger' : ''}` }, label);
    start.addEventListener('click', () => {
      const confirm = h('button', { type: 'button', class: 'small-button primary' }, confirmLabel);
      const cancel = h('button', { type: 'button', class: 'small-button' }, 'Cancel');
      cancel.addEventListener('click', () => {
        replace(slot, start);
        start.focus();
      });
      confirm.addEventListener('click', () => {
        confirm.disabled = true;
        cancel.disabled = true;
        void action().finally(() => replace(slot, start));
      });
      replace(slot, confirm, ' ', cancel);
      confirm.focus();
    });
    slot.append(start);
    return slot;
  }

  // ----- publish --------------------------------------------------------------------------------------

  private publishForm(): HTMLElement {
    const folderId = uid('package-folder');
    const archiveId = uid('package-archive');
    const folder = h('input', { type: 'file', id: folderId, name: 'package-folder', webkitdirectory: true, multiple: true });
    const archive = h('input', { type: 'file', id: archiveId, name: 'package-archive', accept: '.tgz,.tar.gz,application/gzip' });
    const chosen = h('p', { class: 'muted small', id: 'package-chosen', 'aria-live': 'polite' }, 'No package chosen.');
    const actions = h('div', { class: 'button-row', id: 'publish-actions' });
    const pick = async (read: () => Promise<PickedPackage>) => {
      this.picked = undefined;
      actions.replaceChildren();
      this.failure.textContent = '';
      try {
        const pkg = await read();
        this.picked = pkg;
        chosen.textContent = `${String(pkg.manifest.name)} ${String(pkg.manifest.version)} from ${pkg.source} (model.onnx ${(pkg.model.length / 1024).toFixed(1)} kB)`;
        actions.append(
          this.confirming(`Publish ${String(pkg.manifest.name)} ${String(pkg.manifest.version)}`, 'Confirm publish', () => this.publish(pkg, () => {
            chosen.textContent = 'No package chosen.';
            actions.replaceChildren();
          })),
        );
      } catch (error) {
        chosen.textContent = 'No package chosen.';
        this.failure.textContent = `That package cannot be published: ${describe(error)}`;
      }
    };
    folder.addEventListener('change', () => {
      const files = [...(folder.files ?? [])];
      folder.value = '';
      if (files.length) void pick(() => packageFromFolder(files));
    });
    archive.addEventListener('change', () => {
      const file = archive.files?.[0];
      archive.value = '';
      if (file) void pick(() => packageFromArchive(file));
    });
    return h(
      'fieldset',
      { class: 'publish', id: 'publish-form' },
      h('legend', {}, 'Publish a package (from `twin models package`)'),
      h('div', { class: 'inline-form' }, h('div', { class: 'field' }, h('label', { for: folderId }, 'Package folder'), folder), h('div', { class: 'field' }, h('label', { for: archiveId }, 'or a .tgz'), archive)),
      chosen,
      actions,
    );
  }

  private publish(pkg: PickedPackage, done: () => void): Promise<void> {
    const name = String(pkg.manifest.name);
    return this.run(
      `Publishing ${name} ${String(pkg.manifest.version)}`,
      () => this.options.api.post<PublishResponse>(`/api/v1/models/${encodeURIComponent(name)}/versions`, { manifest: pkg.manifest, model_base64: bytesToBase64(pkg.model) }),
      (r) => `${r.published ? 'Published' : 'Already published (same package)'} ${r.name} ${r.version} (sha256 ${r.sha256.slice(0, 12)}…).${r.published ? ' Activate it below to serve it.' : ''}`,
      () => {
        done();
        this.chooser.value = name;
      },
    );
  }

  // ----- one model's versions, rollback and split -----------------------------------------------------

  private async showDetail(): Promise<void> {
    const entry = this.entries.find((e) => e.name === this.chooser.value) ?? this.entries[0];
    const sequence = ++this.sequence;
    if (!entry) {
      replace(this.detail);
      return;
    }
    const manage = mayManage(this.options.claims, entry);
    let detail: ModelVersions | undefined;
    this.detail.setAttribute('aria-busy', 'true');
    try {
      detail = await this.options.api.get<ModelVersions>(`/api/v1/models/${encodeURIComponent(entry.name)}/versions`);
    } catch (error) {
      if (sequence === this.sequence) {
        replace(this.detail, h('p', { class: 'form-error' }, `Cannot read ${entry.name}'s versions: ${describe(error)}`));
        this.detail.setAttribute('aria-busy', 'false');
      }
      return;
    }
    if (sequence !== this.sequence) return;
    this.detail.setAttribute('aria-busy', 'false');
    const active = detail.routing?.active ?? null;
    const previous = detail.routing?.history?.at(-1);
    const ok = detail.versions.filter((v) => v.status === 'ok').map((v) => v.version);
    const rows = detail.versions.map((v) =>
      h(
        'tr',
        { 'data-version': v.version },
        h('th', { scope: 'row' }, v.version),
        h('td', {}, v.status === 'ok' ? v.created : `invalid: ${v.reason}`),
        h('td', {}, v.version === active ? h('span', { class: 'pill pill-active' }, 'active') : ''),
        h('td', {}, manage && v.status === 'ok' && v.version !== active ? this.confirming(`Activate ${v.version}`, `Confirm activating ${entry.name} ${v.version}`, () => this.activate(entry.name, v.version)) : ''),
      ),
    );
    replace(
      this.detail,
      h(
        'table',
        { class: 'compact', id: 'versions-table' },
        h('caption', {}, `Versions of ${entry.name}`),
        h('thead', {}, h('tr', {}, ...['Version', 'Created', 'Serving', 'Action'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, ...rows),
      ),
      manage
        ? h(
            'div',
            { class: 'button-row lifecycle-actions' },
            previous ? this.confirming(`Roll back to ${previous}`, `Confirm rolling back ${entry.name} to ${previous}`, () => this.rollback(entry.name), true) : h('span', { class: 'muted small' }, 'No earlier active version to roll back to.'),
          )
        : h('p', { class: 'muted small', id: 'manage-note' }, `${entry.name} is ${entry.plant ? `plant ${entry.plant}'s` : 'platform-wide'}: your role may use it but not change it.`),
      manage && active && ok.length >= 2 ? this.splitForm(entry.name, active, ok.filter((v) => v !== active), detail.routing?.variants) : null,
    );
  }

  private splitForm(name: string, active: string, others: string[], variants: { version: string; weight: number }[] | undefined): HTMLElement {
    const bId = uid('split-version');
    const pctId = uid('split-percent');
    const current = variants?.find((v) => v.version !== active);
    const b = h('select', { id: bId, name: 'split-version' }, ...others.map((v) => h('option', { value: v, selected: v === current?.version }, v)));
    const pct = h('input', { type: 'number', id: pctId, name: 'split-percent', min: 0, max: 100, step: 1, value: current ? Math.round(current.weight * 100) : 10, inputmode: 'numeric' });
    const error = h('p', { class: 'field-error', id: `${pctId}-error` });
    pct.setAttribute('aria-describedby', error.id);
    const action = this.confirming('Set split', 'Confirm split', async () => {
      const value = Number(pct.value);
      if (pct.value.trim() === '' || !Number.isInteger(value) || value < 0 || value > 100) {
        error.textContent = 'Must be a whole number from 0 to 100 %';
        pct.setAttribute('aria-invalid', 'true');
        return;
      }
      error.textContent = '';
      pct.removeAttribute('aria-invalid');
      await this.run(
        `Splitting ${name}: ${100 - value} % ${active}, ${value} % ${b.value}`,
        () => this.options.api.put<RoutingResponse>(`/api/v1/models/${encodeURIComponent(name)}/routing`, splitRequest(active, b.value, value)),
        (r) => `${r.name}: ${routingText(r.routing)}.`,
      );
    });
    return h(
      'fieldset',
      { class: 'split-form', id: 'split-form' },
      h('legend', {}, `A/B split: ${active} against`),
      h('div', { class: 'inline-form' }, h('div', { class: 'field' }, h('label', { for: bId }, 'Variant version'), b), h('div', { class: 'field narrow' }, h('label', { for: pctId }, 'Traffic to the variant (%)'), pct), action),
      error,
    );
  }

  private activate(name: string, version: string): Promise<void> {
    return this.run(`Activating ${name} ${version}`, () => this.options.api.post<RoutingResponse>(`/api/v1/models/${encodeURIComponent(name)}/activate`, { version }), (r) => `${r.name}: ${routingText(r.routing)}.`);
  }

  private rollback(name: string): Promise<void> {
    return this.run(`Rolling back ${name}`, () => this.options.api.post<RoutingResponse>(`/api/v1/models/${encodeURIComponent(name)}/rollback`, undefined), (r) => `${r.name}: rolled back, ${routingText(r.routing)}.`);
  }
}
