import { dateTime, withUnit } from '../format.js';
import type { ModelInfo } from '../types.js';
import { h, panel, replace } from './dom.js';

/** Model information (GET /model/info): identity, features with units and ranges, interval, alert band. */
export class ModelPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;

  constructor(info: ModelInfo) {
    this.body = h('div', { class: 'model-body' });
    this.element = panel('Model', { id: 'model-panel' }, this.body);
    this.update(info);
  }

  update(info: ModelInfo): void {
    const unit = info.target.unit;
    const band = info.alert_thresholds;
    replace(
      this.body,
      info.description ? h('p', { class: 'muted small' }, info.description) : null,
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Name'),
        h('dd', { id: 'model-name' }, info.name),
        h('dt', {}, 'Version'),
        h('dd', { id: 'model-version' }, info.version),
        h('dt', {}, 'Type'),
        h('dd', {}, info.type),
        h('dt', {}, 'Trained'),
        h('dd', {}, dateTime(info.trained_date).split(',')[0] ?? info.trained_date),
        h('dt', {}, 'Target'),
        h('dd', {}, withUnit(info.target.name, unit ? `(${unit})` : undefined)),
        h('dt', {}, 'Interval'),
        h('dd', {}, info.interval ? `${info.interval.upper - info.interval.lower} % (${info.interval.method}, P${info.interval.lower}–P${info.interval.upper})` : 'none'),
        h('dt', {}, 'Alert band'),
        h('dd', { id: 'model-band' }, band && (band.min !== undefined || band.max !== undefined) ? withUnit(`${band.min ?? '−∞'} – ${band.max ?? '∞'}`, unit) : 'none'),
        h('dt', {}, 'SHA-256'),
        h('dd', { class: 'mono', title: info.sha256 }, `${info.sha256.slice(0, 12)}…`),
      ),
      h(
        'table',
        { class: 'compact' },
        h('caption', {}, 'Features and valid ranges'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Feature'), h('th', { scope: 'col' }, 'Unit'), h('th', { scope: 'col' }, 'Min'), h('th', { scope: 'col' }, 'Max'))),
        h(
          'tbody',
          {},
          ...info.feature_specs.map((f) => h('tr', {}, h('th', { scope: 'row', title: f.description ?? '' }, f.name), h('td', {}, f.unit ?? ''), h('td', {}, String(f.min)), h('td', {}, String(f.max)))),
        ),
      ),
    );
  }
}
