import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSigV4Gate, withoutPresignParams } from '../../infra/local/sigv4-gate.mjs';

/** The local S3 gate admits presigned URLs signed with the twin's store credentials, and nothing else. */

const credentials = { accessKeyId: 'AKIDPRESIGNTEST', secretAccessKey: 'presign-test-secret' };
let upstream: Server;
let seen: string[] = [];
let clock = Date.now();
let gate: Awaited<ReturnType<typeof startSigV4Gate>>;

function client(creds = credentials) {
  return new S3Client({ region: 'us-east-1', endpoint: gate.endpoint, forcePathStyle: true, credentials: creds });
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seen.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', () => done()));
  gate = await startSigV4Gate({ service: 's3', credentials, upstream: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }, stripAuthorization: true, now: () => clock });
});

afterAll(async () => {
  await gate.close();
  await new Promise<void>((done) => upstream.close(() => done()));
});

describe('presigned S3 URLs through the store gate', () => {
  it('lets a presigned PUT and GET through, without the signature in what the store sees', async () => {
    seen = [];
    clock = Date.now();
    const put = await getSignedUrl(client(), new PutObjectCommand({ Bucket: 'models', Key: 'uploads/x/model.onnx' }), { expiresIn: 900 });
    const get = await getSignedUrl(client(), new GetObjectCommand({ Bucket: 'models', Key: 'models/x/1.0.0/model.onnx' }), { expiresIn: 900 });
    expect((await fetch(put, { method: 'PUT', body: 'bytes' })).status).toBe(200);
    expect((await fetch(get)).status).toBe(200);
    expect(seen).toHaveLength(2);
    for (const url of seen) expect(url).not.toMatch(/X-Amz-(Signature|Credential)/);
  });

  it('refuses a tampered signature, another key, another path and an expired URL', async () => {
    clock = Date.now();
    const url = await getSignedUrl(client(), new GetObjectCommand({ Bucket: 'models', Key: 'models/x/1.0.0/model.onnx' }), { expiresIn: 60 });
    const tampered = url.replace(/X-Amz-Signature=([0-9a-f])/, (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`);
    const otherKey = await getSignedUrl(client({ accessKeyId: 'AKIDOTHER', secretAccessKey: 'x' }), new GetObjectCommand({ Bucket: 'models', Key: 'k' }), { expiresIn: 60 });
    const otherPath = url.replace('models/x/1.0.0/model.onnx', 'models/y/1.0.0/model.onnx');
    seen = [];
    expect((await fetch(tampered)).status).toBe(403);
    expect((await fetch(otherKey)).status).toBe(403);
    expect((await fetch(otherPath)).status).toBe(403);
    clock += 61_000;
    expect((await fetch(url)).status).toBe(403);
    expect(seen).toEqual([]);
  });

  it('strips only the presigned parameters', () => {
    expect(withoutPresignParams('/b/k?x-id=GetObject&X-Amz-Signature=ab&X-Amz-Date=1')).toBe('/b/k?x-id=GetObject');
    expect(withoutPresignParams('/b/k?X-Amz-Signature=ab')).toBe('/b/k');
    expect(withoutPresignParams('/b/k')).toBe('/b/k');
  });
});

describe('a header-signed request naming prototype properties as signed headers', () => {
  it('is refused (403), the gate still answers, and nothing reaches the store', async () => {
    // Prepare: the key id is in every presigned URL a client is given; the signature is garbage.
    seen = [];
    clock = Date.now();
    const amzDate = new Date(clock).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request, SignedHeaders=constructor;host;tostring;x-amz-date, Signature=${'0'.repeat(64)}`;

    // Act
    const statuses = [];
    for (const name of ['constructor', 'hasownproperty', '__proto__']) {
      const res = await fetch(`${gate.endpoint}/models/x`, { headers: { authorization: authorization.replace('constructor', name), 'x-amz-date': amzDate } });
      statuses.push(res.status);
    }
    const after = await fetch(await getSignedUrl(client(), new GetObjectCommand({ Bucket: 'models', Key: 'models/x/1.0.0/model.onnx' }), { expiresIn: 60 }));

    // Assert
    expect(statuses).toEqual([403, 403, 403]);
    expect(after.status).toBe(200);
    expect(seen).toHaveLength(1);
  });
});

describe('a request nobody signed', () => {
  it('is answered (403) from its head, before its body: a client announcing 30 MB and sending none is not waited for', async () => {
    // Prepare
    const { port } = new URL(gate.endpoint);
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));

    // Act: the head only; the body never comes.
    socket.write(`PUT /models/x HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-length: 30000000\r\n\r\n`);
    await new Promise<void>((done) => socket.on('close', () => done()));

    // Assert
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
  });
});

describe('many clients each sending a large body', () => {
  it('hold at most maxBufferedBytes in the gate: past it a request is refused (503), and what was held is released', async () => {
    // Prepare: a gate holding at most 1,500 bytes of bodies; heads that pass (the key id is no secret), a bad signature.
    const small = await startSigV4Gate({ service: 's3', credentials, upstream: { url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }, maxBodyBytes: 1000, maxBufferedBytes: 1500, now: () => clock });
    clock = Date.now();
    const amzDate = new Date(clock).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const { port } = new URL(small.endpoint);
    const head = `PUT /models/x HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nx-amz-date: ${amzDate}\r\ncontent-length: 1000\r\nauthorization: AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}\r\n\r\n`;
    const open = () => {
      const socket = connect(Number(port), '127.0.0.1');
      const state = { answer: '', closed: new Promise<void>((done) => socket.on('close', () => done())) };
      socket.on('data', (chunk: Buffer) => (state.answer += chunk.toString('latin1')));
      return { socket, state };
    };

    // Act: the first client holds 800 bytes; a second sends 800 more.
    const first = open();
    first.socket.write(head + 'x'.repeat(800));
    while (small.buffered() < 800) await new Promise((r) => setTimeout(r, 5));
    const second = open();
    second.socket.write(head + 'y'.repeat(800));
    await second.state.closed;
    first.socket.write('x'.repeat(200));
    first.socket.end();
    await first.state.closed;

    // Assert
    expect(second.state.answer.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(first.state.answer.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    expect(small.buffered()).toBe(0);
    await small.close();
  });
});
