/** One server-sent event as the local twin's alert stream sends it. */
export interface SseEvent {
  event: string;
  data: string;
}

/** An open alert stream: its answer, its events as they come, and `ended` once the server closes it. */
export interface OpenStream {
  status: number;
  headers: Headers;
  /** The body of a refusal (empty for an open stream), and its JSON if it is JSON. */
  text: string;
  json: any;
  events: SseEvent[];
  ended: Promise<void>;
  /** Resolves with the first event (seen or to come) that matches; rejects if the stream ends first. */
  waitFor(match: (e: SseEvent) => boolean, what: string): Promise<SseEvent>;
  close(): void;
}

/**
 * Opens `GET /api/v1/alerts/stream?<query>` on `baseUrl` with fetch (token in the header, as the dashboard and
 * the CLI send it) and reads its events as they come. The caller closes it (`close`), e.g. in afterAll.
 */
export async function openAlertStream(baseUrl: string, token: string | undefined, query = 'replay=100'): Promise<OpenStream> {
  const abort = new AbortController();
  const res = await fetch(new URL(`/api/v1/alerts/stream${query ? `?${query}` : ''}`, baseUrl), { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: abort.signal });
  const events: SseEvent[] = [];
  const waiters: { match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  let endedResolve!: () => void;
  const ended = new Promise<void>((resolve) => (endedResolve = resolve));
  const stream: OpenStream = {
    status: res.status,
    headers: res.headers,
    text: '',
    json: undefined,
    events,
    ended,
    waitFor(match, what) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void ended.then(() => reject(new Error(`stream ended before ${what}`)));
      });
    },
    close: () => abort.abort(),
  };
  if (res.status !== 200 || !res.body) {
    stream.text = await res.text();
    try {
      stream.json = JSON.parse(stream.text);
    } catch {
      // not JSON
    }
    endedResolve();
    return stream;
  }
  void (async () => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!event || data === undefined) continue;
          const e = { event, data };
          events.push(e);
          for (const w of waiters.filter((x) => x.match(e))) w.resolve(e);
        }
      }
    } catch {
      // closed by the test
    }
    endedResolve();
  })();
  return stream;
}
