import { checkValue, inputSpec, snap, type InputSpec } from '../features.js';
import type { FeatureSpec } from '../types.js';
import { h, panel, uid } from './dom.js';

interface FeatureControl {
  spec: InputSpec;
  slider: HTMLInputElement;
  box: HTMLInputElement;
  error: HTMLElement;
  value: number;
  valid: boolean;
}

export interface InputsPanelOptions {
  features: FeatureSpec[];
  canPredict: boolean;
  /** A value changed (slider moved or a valid number typed). */
  onChange: () => void;
  onPredict: () => void;
  onAutoChange: (on: boolean) => void;
}

/**
 * One labelled slider and number box per manifest feature (name, unit, valid range), kept in sync; the
 * Predict button and the auto toggle (every 2 s, like the chapter's dcc.Interval).
 */
export class InputsPanel {
  readonly element: HTMLElement;
  private readonly controls: FeatureControl[];
  private readonly predictButton: HTMLButtonElement;
  private readonly autoButton: HTMLButtonElement;
  private readonly hint: HTMLElement;
  private blockedReason: string | undefined;

  constructor(private readonly options: InputsPanelOptions) {
    this.controls = options.features.map((f) => this.control(inputSpec(f)));
    this.predictButton = h('button', { type: 'submit', class: 'primary', id: 'predict-button' }, 'Predict');
    this.autoButton = h(
      'button',
      { type: 'button', id: 'auto-button', 'aria-pressed': 'false', on: { click: () => this.toggleAuto() } },
      'Auto (every 2 s)',
    );
    this.hint = h('p', { class: 'hint', id: uid('predict-hint') });
    const form = h(
      'form',
      { class: 'inputs-form', novalidate: true, 'aria-describedby': this.hint.id },
      ...this.controls.map((c) => this.row(c)),
      h('div', { class: 'button-row' }, this.predictButton, this.autoButton),
      this.hint,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (this.canSubmit()) options.onPredict();
    });
    this.element = panel('Process inputs', { id: 'inputs-panel' }, form);
    if (!options.canPredict) this.block('Your role can read the twin but not run predictions.');
  }

  /** The current values, or undefined when a number box holds an invalid value. */
  values(): Record<string, number> | undefined {
    if (this.controls.some((c) => !c.valid)) return undefined;
    return Object.fromEntries(this.controls.map((c) => [c.spec.name, c.value]));
  }

  /** Moves the controls to `values` (snapped to each slider's step), then reports the change once. */
  setValues(values: Record<string, number>): void {
    for (const control of this.controls) {
      const value = values[control.spec.name];
      if (value === undefined) continue;
      control.value = snap(value, control.spec);
      control.slider.value = String(control.value);
      control.box.value = control.value.toFixed(control.spec.decimals);
      this.setError(control, undefined);
    }
    this.options.onChange();
  }

  get auto(): boolean {
    return this.autoButton.getAttribute('aria-pressed') === 'true';
  }

  setAuto(on: boolean): void {
    if (on && this.blockedReason) return;
    this.autoButton.setAttribute('aria-pressed', String(on));
    this.autoButton.textContent = on ? 'Auto: on (every 2 s)' : 'Auto (every 2 s)';
    this.options.onAutoChange(on);
  }

  setBusy(busy: boolean): void {
    this.predictButton.setAttribute('aria-busy', String(busy));
  }

  /** Disables predicting with a reason shown beside the buttons (rate limited, role cannot predict). */
  block(reason: string): void {
    this.blockedReason = reason;
    this.predictButton.disabled = true;
    this.hint.textContent = reason;
    if (!this.options.canPredict) {
      this.autoButton.disabled = true;
      this.setAuto(false);
    }
  }

  unblock(): void {
    if (!this.options.canPredict) return;
    this.blockedReason = undefined;
    this.predictButton.disabled = false;
    this.hint.textContent = '';
  }

  /** Server-side validation issues (field = feature name) shown under their fields. */
  showIssues(issues: { field: string; message: string }[]): void {
    for (const issue of issues) {
      const control = this.controls.find((c) => c.spec.name === issue.field);
      if (control) this.setError(control, issue.message);
    }
  }

  private canSubmit(): boolean {
    if (this.blockedReason) return false;
    const invalid = this.controls.find((c) => !c.valid);
    if (invalid) {
      invalid.box.focus();
      return false;
    }
    return true;
  }

  private toggleAuto(): void {
    this.setAuto(!this.auto);
  }

  private control(spec: InputSpec): FeatureControl {
    const base = { min: String(spec.min), max: String(spec.max), step: String(spec.step), value: spec.initial.toFixed(spec.decimals) };
    const sliderId = `input-${spec.name}`;
    const errorId = `${sliderId}-error`;
    const slider = h('input', { type: 'range', id: sliderId, name: spec.name, ...base, 'data-feature': spec.name });
    const box = h('input', {
      type: 'number',
      id: `${sliderId}-value`,
      name: `${spec.name}-value`,
      inputmode: 'decimal',
      ...base,
      'aria-describedby': errorId,
      'data-feature': spec.name,
    });
    const error = h('p', { class: 'field-error', id: errorId, 'aria-live': 'polite' });
    const control: FeatureControl = { spec, slider, box, error, value: spec.initial, valid: true };
    slider.addEventListener('input', () => {
      control.value = snap(Number(slider.value), spec);
      box.value = control.value.toFixed(spec.decimals);
      this.setError(control, undefined);
      this.options.onChange();
    });
    box.addEventListener('input', () => {
      const check = checkValue(box.value, spec);
      if (check.ok) {
        control.value = check.value;
        slider.value = String(check.value);
        this.setError(control, undefined);
        this.options.onChange();
      } else {
        this.setError(control, check.message);
      }
    });
    // An out-of-range number stays as typed, marked with the range it breaks, and nothing is predicted:
    // pulling 460 back to 400 would predict for a value the engineer did not ask about.
    return control;
  }

  private row(control: FeatureControl): HTMLElement {
    const { spec } = control;
    const unit = spec.unit ? ` (${spec.unit})` : '';
    return h(
      'div',
      { class: 'feature-row' },
      h('label', { for: control.slider.id }, `${spec.label}${unit}`),
      h(
        'div',
        { class: 'feature-inputs' },
        control.slider,
        h('label', { for: control.box.id, class: 'visually-hidden' }, `${spec.label} value${unit}`),
        control.box,
      ),
      h('p', { class: 'range-note', 'aria-hidden': 'true' }, h('span', {}, String(spec.min)), h('span', {}, spec.name), h('span', {}, String(spec.max))),
      control.error,
    );
  }

  private setError(control: FeatureControl, message: string | undefined): void {
    control.valid = message === undefined;
    control.error.textContent = message ?? '';
    if (message) control.box.setAttribute('aria-invalid', 'true');
    else control.box.removeAttribute('aria-invalid');
  }
}
