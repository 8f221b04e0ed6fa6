import { outsideBand, type AlertBand } from '../alerts.js';
import { clockTime, predicted, withUnit } from '../format.js';
import type { PredictionPoint } from '../history.js';
import { h, panel, replace } from './dom.js';

/** The latest prediction, its interval, the model version that made it, and where it sits against the band. */
export class LatestPanel {
  readonly element: HTMLElement;
  private readonly value: HTMLElement;
  private readonly details: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly note: HTMLElement;

  constructor(
    private readonly target: { name: string; unit?: string | undefined },
    private readonly intervalLabel: string,
    private band: AlertBand | null,
  ) {
    this.value = h('p', { class: 'latest-value', id: 'latest-prediction', 'aria-live': 'polite', 'aria-atomic': 'true' }, 'No prediction yet');
    this.badge = h('p', { class: 'band-badge', id: 'latest-band' });
    this.details = h('dl', { class: 'latest-details' });
    this.note = h('p', { class: 'extrapolation', id: 'latest-extrapolation' });
    this.element = panel(`Latest predicted ${target.name}`, { id: 'latest-panel' }, this.value, this.badge, this.details, this.note);
    this.renderBand(undefined);
  }

  setBand(band: AlertBand | null): void {
    this.band = band;
  }

  update(point: PredictionPoint): void {
    const unit = this.target.unit;
    this.value.replaceChildren(h('span', { class: 'number', 'data-value': String(point.prediction) }, predicted(point.prediction)), h('span', { class: 'unit' }, unit ?? ''));
    replace(
      this.details,
      h('dt', {}, this.intervalLabel),
      h('dd', { id: 'latest-interval' }, point.lo === null || point.hi === null ? 'not available for this model' : `${predicted(point.lo)} – ${withUnit(predicted(point.hi), unit)}`),
      h('dt', {}, 'Model version'),
      h('dd', { id: 'latest-version' }, point.modelVersion),
      h('dt', {}, 'At'),
      h('dd', {}, clockTime(point.time * 1000), point.fromCache ? ' (cached)' : ''),
    );
    const extrapolation = Object.entries(point.extrapolation ?? {});
    replace(
      this.note,
      extrapolation.length
        ? `Extrapolating: ${extrapolation
            .map(([feature, why]) => `${feature} ${why === 'outside_training_range' ? 'is outside the training data' : 'is in the sparse edge of the training data'}`)
            .join('; ')}. Treat this prediction with care.`
        : '',
    );
    this.renderBand(point.prediction);
  }

  clear(): void {
    this.value.textContent = 'No prediction yet';
    this.details.replaceChildren();
    this.note.replaceChildren();
    this.renderBand(undefined);
  }

  private renderBand(prediction: number | undefined): void {
    const band = this.band;
    const range = band ? `${band.min ?? '−∞'} – ${band.max ?? '∞'}` : undefined;
    if (!range) {
      this.badge.textContent = 'This model defines no alert band.';
      this.badge.className = 'band-badge';
      return;
    }
    if (prediction === undefined) {
      this.badge.textContent = `Alert band ${withUnit(range, this.target.unit)}`;
      this.badge.className = 'band-badge';
      return;
    }
    const outside = outsideBand(prediction, band);
    this.badge.textContent = outside
      ? `Outside the alert band: ${outside} ${withUnit(String(outside === 'below' ? band!.min : band!.max), this.target.unit)}`
      : `Inside the alert band ${withUnit(range, this.target.unit)}`;
    this.badge.className = `band-badge ${outside ? 'band-out' : 'band-in'}`;
  }
}
