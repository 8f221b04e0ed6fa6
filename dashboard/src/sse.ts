/**
 * A server-sent-events parser (the WHATWG "event stream interpretation") for streams read with fetch: the
 * browser's EventSource cannot send an Authorization header, and a token in the URL would land in access logs.
 */

export interface SseEvent {
  /** `message` when the stream names none. */
  event: string;
  data: string;
  id: string | undefined;
}

/** Returns a function to feed decoded text chunks; complete events are dispatched to `onEvent`. */
export function createSseParser(onEvent: (event: SseEvent) => void): (chunk: string) => void {
  let buffer = '';
  let data: string[] = [];
  let eventName = '';
  let lastId: string | undefined;
  let firstChunk = true;

  const dispatch = () => {
    if (data.length > 0) onEvent({ event: eventName || 'message', data: data.join('\n'), id: lastId });
    data = [];
    eventName = '';
  };

  const line = (text: string) => {
    if (text === '') return dispatch();
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') eventName = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    // `retry` and unknown fields are ignored: reconnection is ours to pace.
  };

  return (chunk) => {
    buffer += chunk;
    if (firstChunk && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      firstChunk = false;
    }
    // A trailing '\r' may be half of a '\r\n' split across chunks: keep it until the next chunk.
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      if (!match || (match[0] === '\r' && match.index === buffer.length - 1)) break;
      line(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
    }
  };
}
