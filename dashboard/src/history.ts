/** One prediction as the charts and the alert band see it. */
export interface PredictionPoint {
  /** Epoch seconds (the API's timestamp). */
  time: number;
  prediction: number;
  lo: number | null;
  hi: number | null;
  inputs: Record<string, number>;
  modelVersion: string;
  requestId?: string;
  /** Feature -> why the prediction extrapolates there (empty: inside the training data). */
  extrapolation?: Record<string, string>;
  fromCache?: boolean;
}

/** The chapter's `deque(maxlen=100)`: the latest points, oldest first. */
export class PredictionHistory {
  private readonly points: PredictionPoint[] = [];

  constructor(readonly capacity = 100) {}

  push(point: PredictionPoint): void {
    this.points.push(point);
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
  }

  get size(): number {
    return this.points.length;
  }

  latest(): PredictionPoint | undefined {
    return this.points.at(-1);
  }

  all(): readonly PredictionPoint[] {
    return this.points;
  }

  clear(): void {
    this.points.length = 0;
  }

  /** uPlot's column layout: [times, predictions, lows, highs]. */
  columns(): [number[], number[], (number | null)[], (number | null)[]] {
    return [this.points.map((p) => p.time), this.points.map((p) => p.prediction), this.points.map((p) => p.lo), this.points.map((p) => p.hi)];
  }

  /** [times, values] of one input feature. */
  feature(name: string): [number[], (number | null)[]] {
    return [this.points.map((p) => p.time), this.points.map((p) => p.inputs[name] ?? null)];
  }
}
