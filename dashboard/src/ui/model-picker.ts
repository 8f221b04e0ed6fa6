import type { ModelEntry } from '../models.js';
import { h, uid } from './dom.js';

/**
 * The header's model picker: every model the principal may use. A model without an active version is listed
 * but disabled ("not activated"): the API cannot serve it until an admin activates it.
 */
export class ModelPicker {
  readonly element: HTMLElement;
  private readonly select: HTMLSelectElement;

  constructor(onPick: (name: string) => void) {
    const id = uid('model-picker');
    this.select = h('select', { id: 'model-picker', name: 'model', 'aria-describedby': `${id}-hint` });
    this.select.addEventListener('change', () => onPick(this.select.value));
    this.element = h(
      'div',
      { class: 'model-picker' },
      h('label', { for: 'model-picker' }, 'Model'),
      this.select,
      h('span', { class: 'visually-hidden', id: `${id}-hint` }, 'Inputs, predictions, charts and quality follow the chosen model'),
    );
  }

  get value(): string {
    return this.select.value;
  }

  setEntries(entries: readonly ModelEntry[], chosen: string | undefined): void {
    this.select.replaceChildren(
      ...entries.map((e) =>
        h(
          'option',
          { value: e.name, selected: e.name === chosen, disabled: !e.info, 'data-active': e.active ?? '' },
          e.info ? `${e.name} ${e.info.version}` : e.active ? `${e.name} (cannot be served)` : `${e.name} (not activated)`,
        ),
      ),
    );
    if (chosen) this.select.value = chosen;
  }
}
